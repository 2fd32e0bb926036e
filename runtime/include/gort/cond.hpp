// gort/cond.hpp: Go's sync.Cond for fibers: a condition variable tied to a
// gort::Mutex.
//
// wait() must be called with the mutex held: it unlocks the mutex, parks the
// calling fiber until signal() or broadcast() wakes it, and locks the mutex
// again before it returns. signal() wakes the fiber that has waited longest,
// broadcast() every waiting fiber; both may be called with or without the
// mutex held, from any thread. As with any condition variable, check the
// condition in a loop (or use wait(pred)): another fiber may have taken the
// mutex and changed things between the wake-up and the relock.
//
// No wake-up is lost: wait() puts the fiber on the waiter list (under the
// Cond's own lock) before it unlocks the mutex, so a signal() sent by anyone
// who saw the mutex released finds it there. Each waiter is a node on its own
// fiber's stack, linked in a FIFO; a waiter is removed from the list by the
// signal that wakes it, and a spurious wake-up never happens.
//
// wait() throws std::logic_error outside a fiber. Do not hold a std::mutex
// across it (see <gort/mutex.hpp>).
#pragma once

#include <gort/mutex.hpp>

#include <atomic>
#include <cstdint>

namespace gort {

class Cond {
 public:
  explicit Cond(Mutex& m) : m_(m) {}
  Cond(const Cond&) = delete;
  Cond& operator=(const Cond&) = delete;

  Mutex& mutex() const { return m_; }  // Go's c.L

  void wait();
  // wait(pred): wait until pred() is true (pred is called with the mutex held).
  template <class Pred>
  void wait(Pred pred) {
    while (!pred()) wait();
  }
  void signal();
  void broadcast();

 private:
  Mutex& m_;

  // --- lock_ (the runtime's lock word) protects the waiter list and the
  // flags of the nodes on it (cond.cpp) ---
  std::atomic<std::uint32_t> lock_{0};
  void* head_ = nullptr;  // waiting fibers, oldest first
  void* tail_ = nullptr;
};

}  // namespace gort
