// tls.cpp: the runtime's thread_locals (the M of a thread; the trace lane
// of a thread that is not an M), behind accessors the compiler cannot
// inline or treat as pure.
//
// A fiber may run on thread A, park, and resume on thread B. If the compiler
// computed the address of a thread_local once in a function and kept it
// across the park (it may: to C++ a thread never changes under a function),
// the fiber would go on using thread A's variable on thread B. Reading the
// thread_local only through these out-of-line functions means each call
// computes the address afresh on the thread it runs on.
#include "g.hpp"
#include "m.hpp"
#include "trace.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#define GORT_OPAQUE __attribute__((noinline, noipa))
#else
#define GORT_OPAQUE __attribute__((noinline))
#endif

namespace gort::rt {

namespace {
thread_local M* tls_m = nullptr;
thread_local std::int32_t tls_lane = kLaneOutside;
}  // namespace

GORT_OPAQUE M* getm() { return tls_m; }

GORT_OPAQUE G* getg() {
  M* m = tls_m;
  return m ? m->curg.load(std::memory_order_relaxed) : nullptr;
}

GORT_OPAQUE void setm(M* m) { tls_m = m; }

GORT_OPAQUE std::int32_t trace_thread_lane() { return tls_lane; }

GORT_OPAQUE void trace_set_thread_lane(std::int32_t lane) { tls_lane = lane; }

}  // namespace gort::rt
