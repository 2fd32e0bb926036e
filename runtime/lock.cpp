// lock.cpp: the runtime's spin-then-sleep futex lock (see lock.hpp).
#include "lock.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace gort::rt {

namespace {

// kSpins: tries before sleeping. Picked empirically: enough to cover a
// critical section of the run queues or free lists on another core.
constexpr int kSpins = 100;

}  // namespace

void lock_slow(std::atomic<std::uint32_t>* key) {
  std::uint32_t c = 0;
  for (int i = 0; i < kSpins; i++) {
    cpu_relax();
    c = 0;
    if (key->load(std::memory_order_relaxed) == 0 &&
        key->compare_exchange_weak(c, 1, std::memory_order_acquire))
      return;
  }
  // Mark "locked, with sleepers" and sleep until we take it unlocked.
  c = key->exchange(2, std::memory_order_acquire);
  while (c != 0) {
    syscall(SYS_futex, key, FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
    c = key->exchange(2, std::memory_order_acquire);
  }
}

void unlock_slow(std::atomic<std::uint32_t>* key) {
  // unlock_word saw sleepers (the word was 2): release and wake one.
  key->store(0, std::memory_order_release);
  syscall(SYS_futex, key, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace gort::rt
