// wait_group.cpp: WaitGroup (see <gort/wait_group.hpp>; Go's
// sync/waitgroup.go).
//
// The lifetime rule that shapes it: as in Go, the fiber whose wait()
// returns may destroy the WaitGroup at once (it is often a local of that
// fiber), while the done() that ended the count is still returning on
// another thread. So once the counter reaches zero, done() may touch the
// WaitGroup only while every fiber that could destroy it is held: the
// counted waiters. Hence Go's layout: state_ packs the counter (high 32
// bits) and the number of waiters (low 32) into one atomic.
//  - add() that makes the counter zero with no waiter counted returns
//    without touching anything else: a wait() from now on sees zero and
//    returns on its own.
//  - With waiters counted, it resets state_ to 0 and, under lock_, takes
//    waiters_ and leaves a wake-up (wakes_) for each counted waiter that
//    has not put itself on waiters_ yet; it readies the others after
//    unlocking, and touches the WaitGroup no more.
//  - wait() counts itself in state_ (a CAS, only while the counter is not
//    zero), then under lock_ either takes a wake-up and returns, or puts
//    itself on waiters_ and parks (g0 releases lock_ after the park). A
//    counted waiter never returns before add() has left its critical
//    section: it needs lock_ to see a wake-up, or add() to ready it.
#include <gort/wait_group.hpp>

#include "lock.hpp"
#include "sched.hpp"

#include <stdexcept>

namespace gort {

using namespace gort::rt;

void WaitGroup::add(std::int64_t delta) {
  const std::uint64_t d = static_cast<std::uint64_t>(delta) << 32;
  const std::uint64_t st = state_.fetch_add(d, std::memory_order_acq_rel) + d;
  const auto v = static_cast<std::int32_t>(st >> 32);
  const auto w = static_cast<std::uint32_t>(st);
  if (v < 0) throw std::logic_error("sync: negative WaitGroup counter");
  if (v > 0 || w == 0) return;  // nothing to wake (and, at zero, *this may be gone now)
  // The counter is zero and w waiters are counted: they cannot return
  // before we wake them, so *this stays alive until the unlock below.
  state_.store(0, std::memory_order_release);
  lock_word(&lock_);
  G* list = static_cast<G*>(waiters_);
  waiters_ = nullptr;
  std::uint32_t n = 0;
  for (G* g = list; g; g = g->waitlink) n++;
  wakes_ += w - n;  // the counted waiters still on their way to waiters_
  unlock_word(&lock_);
  while (list) {
    G* next = list->waitlink;
    list->waitlink = nullptr;
    ready(list);
    list = next;
  }
}

void WaitGroup::wait() {
  std::uint64_t st = state_.load(std::memory_order_acquire);
  if ((st >> 32) == 0) return;
  G* gp = getg();
  if (!gp) throw_outside_fiber("gort::WaitGroup::wait");
  for (;;) {
    if ((st >> 32) == 0) return;
    if (state_.compare_exchange_weak(st, st + 1, std::memory_order_acq_rel, std::memory_order_acquire)) break;
  }
  // Counted: from here on only add() lets us go (a wake-up, or ready).
  lock_word(&lock_);
  if (wakes_ > 0) {  // add() passed while we were counting ourselves
    wakes_--;
    unlock_word(&lock_);
    return;
  }
  gp->waitlink = static_cast<G*>(waiters_);
  waiters_ = gp;
  gopark(
      [](G*, void* lock) {
        unlock_word(static_cast<std::atomic<std::uint32_t>*>(lock));
        return true;
      },
      &lock_, "WaitGroup.wait");
}

}  // namespace gort
