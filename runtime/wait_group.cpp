// wait_group.cpp: WaitGroup (see <gort/wait_group.hpp>).
//
// waiters_ is a LIFO of parked Gs linked through G::waitlink, guarded by
// lock_ (the runtime's lock word, lock.hpp: it is released by g0 after the
// waiter parked, in another context than the one that took it).
// Invariant: a G is on waiters_ only while count_ was non-zero when it
// checked, under lock_; the add() that brings count_ to zero takes lock_
// after that and readies every waiter.
#include <gort/wait_group.hpp>

#include "lock.hpp"
#include "sched.hpp"

#include <stdexcept>

namespace gort {

using namespace gort::rt;

void WaitGroup::add(std::int64_t delta) {
  std::int64_t v = count_.fetch_add(delta, std::memory_order_acq_rel) + delta;
  if (v < 0) throw std::logic_error("sync: negative WaitGroup counter");
  if (v != 0) return;
  lock_word(&lock_);
  G* list = static_cast<G*>(waiters_);
  waiters_ = nullptr;
  unlock_word(&lock_);
  while (list) {
    G* next = list->waitlink;
    list->waitlink = nullptr;
    ready(list);
    list = next;
  }
}

void WaitGroup::wait() {
  if (count_.load(std::memory_order_acquire) == 0) return;
  G* gp = getg();
  if (!gp) throw_outside_fiber("gort::WaitGroup::wait");
  lock_word(&lock_);
  if (count_.load(std::memory_order_acquire) == 0) {
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
