// gort/mutex.hpp: Go's sync.Mutex for fibers.
//
// lock() parks the calling fiber (never its thread) while another holds the
// mutex. It is BasicLockable and Lockable, so std::lock_guard,
// std::unique_lock and std::scoped_lock work. As in Go, a Mutex is not tied
// to a fiber: one fiber may lock it and another unlock it. unlock() of an
// unlocked Mutex throws std::logic_error("sync: unlock of unlocked mutex"),
// a panic if it escapes the fiber (Go makes it fatal). lock() outside a fiber
// succeeds if the mutex is free and throws std::logic_error if it would have
// to wait; try_lock() and unlock() work from any thread.
//
// Do not hold a std::mutex (or any lock that blocks the thread) across a
// call that parks, such as lock() here: the fiber may resume on another
// thread, which then "unlocks" a std::mutex it does not own, and meanwhile
// every fiber of the old thread that wants the std::mutex blocks the whole
// thread, possibly the very one the holder needs to run again.
//
// Two modes, as in Go (sync/mutex.go):
//
//  normal     waiters queue in FIFO order, but a woken waiter does not own
//             the mutex: it competes with fibers that are just arriving, and
//             these usually win (they are already running, and there may be
//             many). A waiter that loses goes back to the *front* of the
//             queue. Good throughput: a fiber can lock and unlock many times
//             without a switch.
//  starvation entered when a waiter has waited more than 1 ms
//             (kStarvationNs). unlock() hands the mutex straight to the first
//             waiter, and newcomers neither take it nor spin: they queue at
//             the back. Left when the waiter that got the mutex is the last
//             one, or waited less than 1 ms. So no waiter is passed over
//             forever: once it has waited 1 ms it gets the mutex after at
//             most the waiters already ahead of it.
//
// The state word (state_), read and changed only with atomic operations:
//   bit 0  kLocked    held (in starvation mode a handed-over mutex is held
//                     with this bit clear until the new owner wakes up)
//   bit 1  kWoken     a fiber is awake and trying to lock (a woken waiter,
//                     or a spinner), so unlock() need not wake another
//   bit 2  kStarving  starvation mode
//   3..31  waiters    fibers parked, or about to park, on sema_
// lock() and unlock() are one compare-and-swap when there is no contention;
// only the slow paths use sema_, whose lock word guards its queue.
#pragma once

#include <gort/detail/sema.hpp>

#include <atomic>
#include <cstdint>

namespace gort {

class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    std::uint32_t c = 0;
    if (state_.compare_exchange_strong(c, kLocked, std::memory_order_acquire, std::memory_order_relaxed))
      return;
    lock_slow();
  }

  // try_lock takes the mutex if it is free, never waits (Go's TryLock). It
  // fails in starvation mode even if the mutex is between owners.
  bool try_lock() {
    std::uint32_t old = state_.load(std::memory_order_relaxed);
    if (old & (kLocked | kStarving)) return false;
    return state_.compare_exchange_strong(old, old | kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  // unlock releases the mutex, waking a waiter if needed. In starvation mode
  // the calling fiber yields to the waiter it handed the mutex to (as Go).
  void unlock() {
    std::uint32_t c = kLocked;
    if (state_.compare_exchange_strong(c, 0, std::memory_order_release, std::memory_order_relaxed)) return;
    unlock_slow();
  }

 private:
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kWoken = 2;
  static constexpr std::uint32_t kStarving = 4;
  static constexpr int kWaiterShift = 3;

  void lock_slow();
  void unlock_slow();

  std::atomic<std::uint32_t> state_{0};
  detail::Sema sema_;  // where waiters park; its own lock word guards its queue
};

}  // namespace gort
