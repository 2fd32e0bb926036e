// lsan.hpp: LeakSanitizer roots for memory the runtime keeps mapped after a
// run, for fibers abandoned alive (their stacks, their Gs): what the closures
// and frames there point to is then not reported as leaked at exit. A no-op
// without LeakSanitizer (ASan builds have it).
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define GORT_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORT_LSAN 1
#endif
#endif
#if GORT_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace gort::rt {

inline void lsan_root(const void* p, std::size_t n) {
#if GORT_LSAN
  __lsan_register_root_region(p, n);
#else
  (void)p;
  (void)n;
#endif
}

}  // namespace gort::rt
