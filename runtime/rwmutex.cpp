// rwmutex.cpp: RWMutex (see <gort/rwmutex.hpp>; Go's sync/rwmutex.go).
//
// The hand-offs, each counted so that no wake-up is lost:
//  - A writer takes w_ (shutting out other writers), then subtracts
//    kMaxReaders from reader_count_: from then on arriving readers see a
//    negative count and park on reader_sem_. The readers it found inside
//    (the count before the subtraction) are added to reader_wait_; each of
//    them, leaving, decrements it, and the one that brings it to zero
//    releases writer_sem_, where the writer parks. Readers may leave before
//    the writer adds them: reader_wait_ then goes negative and the writer's
//    add brings it to zero itself, and does not park.
//  - The writer's unlock adds kMaxReaders back; the count it finds is the
//    number of readers that arrived meanwhile, all parked (or about to park)
//    on reader_sem_, and it releases that many tokens before letting the
//    next writer in through w_.
#include <gort/rwmutex.hpp>

#include "sched.hpp"

#include <stdexcept>

namespace gort {

using namespace gort::rt;

void RWMutex::lock_shared_slow() {
  if (!getg()) {
    if (try_lock_shared()) return;
    throw_outside_fiber("gort::RWMutex::lock_shared");
  }
  // Count ourselves in; if a writer is still pending, wait for its unlock,
  // which counts us among the readers to release.
  if (reader_count_.fetch_add(1, std::memory_order_acq_rel) + 1 < 0)
    reader_sem_.acquire(false, "RWMutex.lock_shared");
}

void RWMutex::unlock_shared() {
  std::int32_t c = reader_count_.load(std::memory_order_relaxed);
  do {
    if (c == 0 || c == -kMaxReaders) throw std::logic_error("sync: RUnlock of unlocked RWMutex");
  } while (
      !reader_count_.compare_exchange_weak(c, c - 1, std::memory_order_acq_rel, std::memory_order_relaxed));
  // A writer is pending: if we were the last reader it waits for, wake it.
  if (c - 1 < 0 && reader_wait_.fetch_sub(1, std::memory_order_acq_rel) == 1) writer_sem_.release();
}

void RWMutex::lock() {
  if (!getg()) {
    if (try_lock()) return;
    throw_outside_fiber("gort::RWMutex::lock");
  }
  w_.lock();
  // Announce the writer; r readers were inside.
  std::int32_t r = reader_count_.fetch_sub(kMaxReaders, std::memory_order_acq_rel);
  if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_acq_rel) + r != 0)
    writer_sem_.acquire(false, "RWMutex.lock");
}

bool RWMutex::try_lock() {
  if (!w_.try_lock()) return false;
  std::int32_t c = 0;
  if (!reader_count_.compare_exchange_strong(c, -kMaxReaders, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
    w_.unlock();
    return false;
  }
  return true;
}

void RWMutex::unlock() {
  std::int32_t c = reader_count_.load(std::memory_order_relaxed);
  do {
    if (c >= 0) throw std::logic_error("sync: Unlock of unlocked RWMutex");
  } while (!reader_count_.compare_exchange_weak(c, c + kMaxReaders, std::memory_order_acq_rel,
                                                std::memory_order_relaxed));
  // Let in the readers that arrived while we were pending or inside.
  for (std::int32_t r = c + kMaxReaders; r > 0; r--) reader_sem_.release();
  w_.unlock();
}

}  // namespace gort
