// note.hpp: a one-shot sleep/wakeup event for OS threads, on a Linux futex
// (Go's runtime.note, lock_futex.go).
//
// One thread sleeps on a note; any thread may wake it. A wakeup that comes
// before the sleep is not lost: sleep() then returns at once. The sleeper
// clears the note before reusing it. Used for idle Ms (mstart.cpp) and for the
// supervisor that waits for main to return (run.cpp).
//
// States of `key`: 0 = clear, 1 = woken.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::rt {

class Note {
 public:
  // wakeup marks the note woken and wakes its sleeper, if any.
  void wakeup();
  // sleep blocks until the note is woken. With timeout_ns >= 0 it gives up
  // after that long; returns whether the note was woken.
  bool sleep(std::int64_t timeout_ns = -1);
  // clear makes the note ready for the next sleep.
  void clear() { key_.store(0, std::memory_order_relaxed); }
  bool woken() const { return key_.load(std::memory_order_acquire) != 0; }

 private:
  std::atomic<std::uint32_t> key_{0};
};

// nanotime is the monotonic clock in nanoseconds (CLOCK_MONOTONIC, the clock
// of std::chrono::steady_clock). Timers and deadlines use it.
std::int64_t nanotime();

// nanotime_coarse: the same clock at tick resolution (a few ms), at a
// fraction of the cost: for "how long has this fiber waited" in dumps.
std::int64_t nanotime_coarse();

}  // namespace gort::rt
