// spinlock.hpp: the runtime's short-critical-section lock (Go's runtime
// mutex in spirit) for locks a park hands to g0 to release.
//
// It may be released by another context than the one that took it (a fiber
// takes it, g0 of the same M releases it after the fiber parked), which
// std::mutex does not allow. Hold it for a few instructions only, never
// across a park or a system call.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::rt {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline void spin_lock(std::atomic<std::uint32_t>* l) {
  for (;;) {
    if (l->exchange(1, std::memory_order_acquire) == 0) return;
    while (l->load(std::memory_order_relaxed) != 0) cpu_relax();
  }
}

inline void spin_unlock(std::atomic<std::uint32_t>* l) { l->store(0, std::memory_order_release); }

}  // namespace gort::rt
