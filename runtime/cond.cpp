// cond.cpp: Cond (see <gort/cond.hpp>; Go's sync.Cond, whose notifyList
// does the same with tickets).
//
// A waiter is a CondWaiter on its fiber's stack, on the list from before it
// unlocks the user's mutex until a signal takes it off. Unlocking that mutex
// may park or yield, so the waiter cannot hold lock_ across it; it takes
// lock_ twice instead:
//   1. lock_; enqueue; unlock_.        (now a signal can find it)
//   2. m_.unlock().
//   3. lock_; if already notified, unlock_ and go on; otherwise mark
//      `parked` and gopark, whose commit releases lock_ on g0.
// A signal takes lock_, pops the first node and marks it notified; it
// readies the fiber only if the node says `parked`, i.e. the fiber passed
// step 3 and is (or is about to be, behind lock_) Waiting. A notified waiter
// that has not reached step 3 sees the flag there and does not park. The
// signaller reads everything it needs from the node under lock_: once lock_
// is released the waiter may return and its node be gone.
// Invariant: a node is on the list iff it is not notified; `parked` is set
// only on a node on the list, under lock_, by its own fiber.
#include <gort/cond.hpp>

#include "lock.hpp"
#include "sched.hpp"

namespace gort {

using namespace gort::rt;

namespace {

struct CondWaiter {
  G* g;
  CondWaiter* next = nullptr;
  bool notified = false;  // taken off the list by a signal
  bool parked = false;    // its fiber parked (or is parking) for the signal
};

bool unlock_commit(G*, void* lock) {
  unlock_word(static_cast<std::atomic<std::uint32_t>*>(lock));
  return true;
}

}  // namespace

void Cond::wait() {
  G* gp = getg();
  if (!gp) throw_outside_fiber("gort::Cond::wait");
  CondWaiter w{gp};
  lock_word(&lock_);
  if (tail_)
    static_cast<CondWaiter*>(tail_)->next = &w;
  else
    head_ = &w;
  tail_ = &w;
  unlock_word(&lock_);
  try {
    m_.unlock();
  } catch (...) {
    // The mutex was not locked: take the node off the list before it goes
    // out of scope, and pass on a signal it may already have consumed.
    lock_word(&lock_);
    bool notified = w.notified;
    if (!notified) {
      CondWaiter* prev = nullptr;
      for (auto* p = static_cast<CondWaiter*>(head_); p != &w; p = p->next) prev = p;
      if (prev)
        prev->next = w.next;
      else
        head_ = w.next;
      if (tail_ == &w) tail_ = prev;
    }
    unlock_word(&lock_);
    if (notified) signal();
    throw;
  }
  lock_word(&lock_);
  if (w.notified) {
    unlock_word(&lock_);
  } else {
    w.parked = true;
    gopark(unlock_commit, &lock_, "Cond.wait");
  }
  m_.lock();
}

void Cond::signal() {
  lock_word(&lock_);
  auto* w = static_cast<CondWaiter*>(head_);
  if (!w) {
    unlock_word(&lock_);
    return;
  }
  head_ = w->next;
  if (!head_) tail_ = nullptr;
  w->notified = true;
  G* gp = w->parked ? w->g : nullptr;
  unlock_word(&lock_);
  if (gp) ready(gp);
}

void Cond::broadcast() {
  // Take the whole list; chain the fibers that parked through G::waitlink
  // (free while they wait here), to ready them once lock_ is released.
  lock_word(&lock_);
  auto* w = static_cast<CondWaiter*>(head_);
  head_ = tail_ = nullptr;
  G* first = nullptr;
  G* last = nullptr;
  for (; w; w = w->next) {
    w->notified = true;
    if (!w->parked) continue;
    w->g->waitlink = nullptr;
    (last ? last->waitlink : first) = w->g;
    last = w->g;
  }
  unlock_word(&lock_);
  while (first) {
    G* next = first->waitlink;
    first->waitlink = nullptr;
    ready(first);
    first = next;
  }
}

}  // namespace gort
