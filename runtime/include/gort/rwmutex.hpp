// gort/rwmutex.hpp: Go's sync.RWMutex for fibers.
//
// Any number of readers (lock_shared) or one writer (lock) hold it at once;
// a fiber that must wait parks, never its thread. It is Lockable and
// SharedLockable: std::unique_lock and std::shared_lock work.
//
// Writers are preferred, as in Go: once a writer is waiting, new readers
// wait too, until that writer has had its turn. So a stream of readers
// cannot starve a writer; readers already inside finish first. Readers that
// arrived while the writer waited or held the lock are let in together when
// it unlocks, before the next writer. Hence, as in Go, a reader must not
// lock_shared() again while it holds the lock (a recursive read lock): a
// writer arriving in between deadlocks both.
//
// As with Mutex: it is not tied to a fiber; unlock() and unlock_shared() of
// an RWMutex not held that way throw std::logic_error ("sync: Unlock of
// unlocked RWMutex", "sync: RUnlock of unlocked RWMutex"); lock() and
// lock_shared() outside a fiber succeed if they need not wait and throw
// std::logic_error otherwise. Do not hold a std::mutex across them (see
// <gort/mutex.hpp>).
//
// State (Go's rwmutex.go):
//   reader_count_  readers holding or waiting for the read lock; while a
//                  writer is pending or holds it, minus kMaxReaders (so a
//                  negative count tells arriving readers to wait)
//   reader_wait_   readers the pending writer still waits for to leave
//   w_             held by the writer from lock() to unlock(): queues writers
// The two atomics are read and changed lock-free; each Sema has its own lock.
#pragma once

#include <gort/detail/sema.hpp>
#include <gort/mutex.hpp>

#include <atomic>
#include <cstdint>

namespace gort {

class RWMutex {
 public:
  RWMutex() = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  // Writer side.
  void lock();
  bool try_lock();
  void unlock();

  // Reader side.
  void lock_shared() {
    if (!try_lock_shared()) lock_shared_slow();
  }
  bool try_lock_shared() {
    std::int32_t c = reader_count_.load(std::memory_order_relaxed);
    while (c >= 0)  // no writer pending: count ourselves in
      if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    return false;
  }
  void unlock_shared();

 private:
  static constexpr std::int32_t kMaxReaders = 1 << 30;

  void lock_shared_slow();

  Mutex w_;
  std::atomic<std::int32_t> reader_count_{0};
  std::atomic<std::int32_t> reader_wait_{0};
  detail::Sema writer_sem_;  // the pending writer waits here for readers to leave
  detail::Sema reader_sem_;  // readers wait here for the writer to unlock
};

}  // namespace gort
