// m.hpp: M, an OS thread that runs fibers (Go's m, runtime2.go).
//
// An M runs Gs only while it holds a P, with one exception: sysmon may take
// the P away from an M whose fiber has run too long without switching (a CPU
// loop, a blocking system call); that M goes on running its fiber without a
// P, as Go's M does in a system call, until the fiber next enters the
// scheduler (sysmon.hpp: the retake handshake). Its own stack is g0: the scheduler
// runs there (schedule(), findrunnable(), timers), and every switch goes
// G -> g0 -> G', as in Go's mcall/gogo. A G that stops running (park, yield,
// exit) leaves a note on its M of what g0 must do once the G is off its
// stack (`after`): that is what makes park race-free (proc.cpp).
//
// Ms are made on demand (startm, when a P is idle and work appears and no M
// is idle) and are kept: an M with nothing to do sleeps on its note.
#pragma once

#include "context.hpp"
#include "note.hpp"

#include <atomic>
#include <cstdint>
#include <thread>

namespace gort::rt {

struct G;
struct P;

struct M {
  std::int64_t id = 0;
  Context g0;              // the thread's own stack: the scheduler runs here
  P* p = nullptr;          // the P this M holds, null while idle or retaken; M-owned:
                           // a G uses it only inside a pin (sysmon.hpp)
  std::uint64_t rand = 0;  // fastrand state (steal order)
  // curg: the G running on this M, null while on g0. Written by the M only
  // (release, after it took the G off a queue); an atomic so that other
  // threads may read it (schedtrace, with acquire).
  std::atomic<G*> curg{nullptr};
  // spinning: looking for work; counted in sched.nmspinning. Written by the
  // M, or by startm/newm before the M runs; an atomic so that schedtrace may
  // read it.
  std::atomic<bool> spinning{false};

  // Set by a G right before it switches away (to g0, or straight to the
  // next G on yield); run by whichever context arrives, right after the
  // switch, when `after_g` is off its stack (finish_switch, proc.cpp).
  void (*after)(M* m, G* gp, void* arg) = nullptr;
  G* after_g = nullptr;
  void* after_arg = nullptr;

  // Idle sleep: the M sleeps on `park`; startm hands it a P in `nextp` and
  // wakes it. nextp and the idle-list membership are guarded by sched.mu.
  Note park;
  P* nextp = nullptr;

  std::thread thread;
  std::atomic<bool> in_fiber{false};  // between switching into a G and back (for run's exit, sysmon)
  std::atomic<bool> stopped{false};

  // The retake handshake with sysmon (sysmon.hpp). pinned: this M may be
  // using m->p (on g0, or a G inside the runtime, between a pin and unpinp);
  // false only while a G runs user code. Written by the M only. retake:
  // sysmon's request (kRetakePending) and verdict (kRetakeTaken: the P is
  // gone); the M sets it back to kRetakeNone when it acknowledges a retake.
  std::atomic<bool> pinned{true};
  std::atomic<std::uint8_t> retake{0};
};

// newm starts a new M (OS thread) that will run with pp, spinning or not.
void newm(P* pp, bool spinning);

// getm/getg: the M running the caller's thread, and its current G (null on
// g0 or on a thread the runtime does not own). Never inlined, never cached by
// the compiler across a switch: a fiber that parks may resume on another
// thread, where the thread_local is another variable (tls.cpp).
M* getm();
G* getg();
void setm(M* m);

}  // namespace gort::rt
