// sema.cpp: the fiber semaphore under Mutex and RWMutex (see
// <gort/detail/sema.hpp>).
//
// Invariant: count_ > 0 only while the queue is empty. release() pops a
// waiter if there is one and banks the token only if there is none;
// acquire() takes a banked token before it queues. Both decide under lock_,
// so a token and a waiter never miss each other.
#include <gort/detail/sema.hpp>

#include "lock.hpp"
#include "sched.hpp"

namespace gort::detail {

using namespace gort::rt;

void Sema::acquire(bool lifo, const char* what) {
  G* gp = getg();
  if (!gp) throw_outside_fiber(what);
  lock_word(&lock_);
  if (count_ > 0) {
    count_--;
    unlock_word(&lock_);
    return;
  }
  G* head = static_cast<G*>(head_);
  if (lifo) {
    gp->waitlink = head;
    head_ = gp;
    if (!head) tail_ = gp;
  } else {
    gp->waitlink = nullptr;
    if (head)
      static_cast<G*>(tail_)->waitlink = gp;
    else
      head_ = gp;
    tail_ = gp;
  }
  gopark(
      [](G*, void* lock) {
        unlock_word(static_cast<std::atomic<std::uint32_t>*>(lock));
        return true;
      },
      &lock_, what);
  // Woken by release(), which handed us its token.
}

void Sema::release() {
  lock_word(&lock_);
  G* gp = static_cast<G*>(head_);
  if (!gp) {
    count_++;
    unlock_word(&lock_);
    return;
  }
  head_ = gp->waitlink;
  if (!head_) tail_ = nullptr;
  gp->waitlink = nullptr;
  unlock_word(&lock_);
  ready(gp);
}

}  // namespace gort::detail
