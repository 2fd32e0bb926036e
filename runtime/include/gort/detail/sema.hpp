// gort/detail/sema.hpp: the fiber semaphore under Mutex and RWMutex
// (internal; runtime/sema.cpp). Go's runtime semaphore (sema.go) reduced to
// what the sync primitives use it for.
//
// acquire() takes a token, parking the calling fiber in a FIFO until one is
// released; release() gives a token straight to the first parked fiber, or
// banks it in count_ when none waits (a release may come before the acquire
// it is meant for: the primitive counted the waiter, then let go of its state
// word, before the waiter got here). A token handed to a parked fiber is its
// own: no other acquirer can take it between the release and the wake-up.
//
// Lock: lock_ (the runtime's lock word, lock.hpp) guards every other field
// and the G::waitlink of the Gs on the queue. It is never held while taking
// another lock or while readying a G; a parking fiber hands it to g0, which
// releases it once the fiber is off its stack (the park protocol, proc.cpp).
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::detail {

struct Sema {
  // acquire takes a token; parks the calling fiber until there is one. With
  // lifo the fiber goes to the front of the queue (a waiter that already
  // waited once, as Go's queueLifo). `what` names the caller in errors and
  // as the fiber's wait reason. Throws std::logic_error outside a fiber.
  void acquire(bool lifo, const char* what);
  // release gives one token to the first waiter (readied onto the caller's
  // P), or banks it. Never parks; callable from any thread.
  void release();

  // --- lock_ protects everything below ---
  std::atomic<std::uint32_t> lock_{0};
  std::uint32_t count_ = 0;  // banked tokens; non-zero only while no fiber waits
  void* head_ = nullptr;     // parked fibers (runtime Gs), a FIFO through G::waitlink
  void* tail_ = nullptr;
};

}  // namespace gort::detail
