// lock.hpp: the runtime's lock (Go's runtime.mutex, lock_futex.go).
//
// A futex word with three states: 0 unlocked, 1 locked, 2 locked with
// sleepers. lock() first spins briefly, since runtime critical sections are
// a few hundred nanoseconds and sleeping costs a futex round trip (~1.6 us
// here); then it sleeps in the kernel. It has no owner, so it may be
// released by another context than the one that took it: a fiber locks a
// wait queue, and g0 of the same M unlocks it after the fiber parked
// (proc.cpp's park protocol), which std::mutex does not allow.
//
// Never hold one across a park or a blocking system call.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::rt {

// cpu_relax tells the CPU we are spinning (x86 PAUSE).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void lock_slow(std::atomic<std::uint32_t>* key);
void unlock_slow(std::atomic<std::uint32_t>* key);

// The uncontended cases inline: one CAS to lock, one RMW to unlock.
inline void lock_word(std::atomic<std::uint32_t>* key) {
  std::uint32_t c = 0;
  if (!key->compare_exchange_strong(c, 1, std::memory_order_acquire)) lock_slow(key);
}

inline void unlock_word(std::atomic<std::uint32_t>* key) {
  if (key->fetch_sub(1, std::memory_order_release) != 1) unlock_slow(key);  // there were sleepers
}

// Mutex: lock_word/unlock_word as a BasicLockable, for std::lock_guard.
class Mutex {
 public:
  void lock() { lock_word(&key_); }
  void unlock() { unlock_word(&key_); }
  bool try_lock() {
    std::uint32_t c = 0;
    return key_.compare_exchange_strong(c, 1, std::memory_order_acquire);
  }

 private:
  std::atomic<std::uint32_t> key_{0};
};

}  // namespace gort::rt
