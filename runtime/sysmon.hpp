// sysmon.hpp: the monitor thread (Go's sysmon, proc.go) and the retake
// handshake between it and the Ms.
//
// sysmon (sysmon.cpp) is a thread of its own, not an M. When a P has run the
// same fiber for more than 10 ms (its switch count has not moved) and has
// other work (runq, runnext, a due timer, or global work no one else can
// take), sysmon takes the P away from its M and starts another M with it
// (Go's retake + handoffp). The M keeps running its fiber, now without a P,
// as Go's M does in a system call: a CPU loop or a blocking call then stalls
// only its own fiber. When that fiber next enters the scheduler (park, yield, exit), its M
// finds no P and goes to findrunnable, which takes an idle P or sleeps.
//
// The handshake. The M and sysmon must never both use the P. Only a G
// running user code can lose its P; g0 and the runtime's code on a G never
// can. Each M has two atomics (m.hpp):
//   pinned  the M may be using m->p: on g0, or a G between a pin and
//           unpinp. Cleared only when a G goes back to user code.
//   retake  kRetakeNone, kRetakePending (sysmon is deciding) or
//           kRetakeTaken (the P is gone; the M has not noticed yet).
//
//   M, entering the runtime (a pin)      sysmon (try_retake, sysmon.cpp)
//     pinned = true                        retake = Pending
//     light fence                          heavy fence
//     r = retake                           if pinned: retake = None; give up
//     while r == Pending: wait             (the M runs user code, or waits)
//     if r == Taken: m->p = null,          pp->m = null, pp Idle
//                    retake = None         retake = Taken; startm(pp)
//   ...uses m->p (maybe null)...
//     pinned = false (unpinp, release)
//
// Dekker: each side stores, fences, then loads the other's flag, so at least
// one sees the other. If sysmon sees pinned false, the M's next pin sees
// Pending or Taken and waits for the verdict before it touches m->p; if the
// M's pin saw None, sysmon sees pinned and gives up. Pending makes the
// verdict single: the M never acts on a request sysmon then abandons.
//
// The fences are asymmetric (Linux membarrier): the M's is a compiler
// barrier, free on the hot path (ready, yield, park); sysmon's is
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier on
// every CPU running this process' threads, at most once per retake attempt.
// Without membarrier (an old kernel, a seccomp filter) or under TSan (which
// cannot see it) both sides use seq_cst operations instead; asym_fence says
// which, chosen once per process before the first M starts.
//
// Rules for runtime code on a G:
//  - read m->p, and use the P, only between a pin (pin_outer, pinp) and
//    unpinp. A G may lose its P between two pins, so a P from one pin must
//    not be kept for after unpinp.
//  - pinp returns false when the M was already pinned (g0, or an outer pin):
//    only the pin that returned true unpins. A pin does not span a park:
//    mcall is called unpinned, pins, and unpins when the G resumes.
//  - every switch happens pinned (mcall, goexit and yield pin before they
//    switch; a G arriving back in user code unpins), so g0 always runs
//    pinned.
//  - code that needs a P, not just "m->p or the global queue", gets one
//    back first (Go's exitsyscall): pin_with_p, for addtimer on a G; a park
//    commit that needs one (sleep's) returns false without it, and the G
//    tries again once rescheduled.
#pragma once

#include "m.hpp"
#include "p.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>  // std::adopt_lock

#if defined(__SANITIZE_THREAD__)
#define GORT_SYSMON_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORT_SYSMON_TSAN 1
#endif
#endif

namespace gort::rt {

struct Sched;

inline constexpr std::uint8_t kRetakeNone = 0, kRetakePending = 1, kRetakeTaken = 2;

// asym_fence: true when sysmon's side uses membarrier and the M's side a
// compiler barrier; false: seq_cst on both sides. Set by fence_init before
// any M exists, never changed afterwards.
#ifdef GORT_SYSMON_TSAN
inline constexpr bool asym_fence = false;
#else
extern bool asym_fence;
#endif
void fence_init();  // once per process, from gort::run

void pinp_slow(M* m);               // the M saw a retake request: wait for the verdict, act on it
[[noreturn]] void pin_twice(M* m);  // a pin_outer on a pinned M: a runtime bug

// pin_outer pins m, which the caller knows is not pinned (a G in user
// code). Afterwards m->p (null if sysmon took the P) stays as it is until
// unpinp.
inline void pin_outer(M* m) {
#if !defined(NDEBUG) || defined(GORT_DEBUG_CHECKS)
  if (m->pinned.load(std::memory_order_relaxed)) pin_twice(m);
#endif
  if (__builtin_expect(asym_fence, true)) {
    m->pinned.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // membarrier on sysmon's side does the rest
  } else {
    m->pinned.store(true, std::memory_order_seq_cst);
  }
  if (m->retake.load(std::memory_order_seq_cst) != kRetakeNone) pinp_slow(m);
}

// pinp: before a G uses m->p, when the M may already be pinned (ready and
// spawn run on g0 too). Returns true if this call pinned the M (the caller
// then calls unpinp when done with the P), false if it was pinned already.
inline bool pinp(M* m) {
  if (m->pinned.load(std::memory_order_relaxed)) return false;
  pin_outer(m);
  return true;
}

// unpinp: the G goes back to user code; its uses of the P happen before
// whatever sysmon does with it next.
inline void unpinp(M* m) { m->pinned.store(false, std::memory_order_release); }

// PinGuard pins for a scope that does not switch (ready, spawn). m may be
// null (a thread the runtime does not own): then p() is null.
struct PinGuard {
  M* m;
  bool outer;
  explicit PinGuard(M* m) : m(m), outer(m && pinp(m)) {}
  // Takes over a pin already held (pin_with_p's), to end it.
  PinGuard(M* pinned, std::adopt_lock_t) : m(pinned), outer(pinned != nullptr) {}
  ~PinGuard() {
    if (outer) unpinp(m);
  }
  PinGuard(const PinGuard&) = delete;
  PinGuard& operator=(const PinGuard&) = delete;
  P* p() const { return m ? m->p : nullptr; }
};

// pin_with_p: on a G in user code, pin and make sure the M holds a P (Go's
// exitsyscall): if sysmon took it, take an idle P, else requeue the G
// globally and try again once it runs. Returns the M, pinned, holding a P;
// the caller ends the pin with unpinp. May park: call it with no lock held.
M* pin_with_p();

// setrunm records m as the M running Gs on pp (P::runm, sysmon's hint).
// Release: sysmon, which loads it with acquire, then sees m constructed.
inline void setrunm(P* pp, M* m) {
  if (pp->runm.load(std::memory_order_relaxed) != m) pp->runm.store(m, std::memory_order_release);
}

// sysmon_start/stop: the monitor thread of one run (run.cpp).
struct Sysmon;
Sysmon* sysmon_start(Sched& s);
void sysmon_stop(Sysmon* mon);

}  // namespace gort::rt
