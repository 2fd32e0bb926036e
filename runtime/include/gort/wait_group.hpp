// gort/wait_group.hpp: Go's sync.WaitGroup for fibers.
//
// wait() parks the calling fiber (never its thread) until the counter drops
// to zero. As in Go: add() with a positive delta must happen before the
// fibers it counts can call done(). A negative counter throws
// std::logic_error("sync: negative WaitGroup counter"), a panic if it
// escapes the fiber.
//
// A WaitGroup takes a whole cache line (alignas(64)), so that the counter
// every done() updates does not share a line with its neighbours (on a
// stack, often the spawning fiber's own hot locals).
#pragma once

#include <atomic>
#include <cstdint>

namespace gort {

class alignas(64) WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(std::int64_t delta);
  void done() { add(-1); }
  void wait();

 private:
  // Go's state1: the counter in the high 32 bits, the number of waiters
  // counted in the low 32, so that the done() that ends the count sees at
  // once whether anyone waits (wait_group.cpp explains why that matters).
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint32_t> lock_{0};  // runtime lock word guarding waiters_ and wakes_
  void* waiters_ = nullptr;             // parked fibers (runtime Gs), a LIFO
  std::uint32_t wakes_ = 0;             // wake-ups for counted waiters not yet on waiters_
};

}  // namespace gort
