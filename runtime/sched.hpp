// sched.hpp: the global scheduler state (Go's schedt, runtime2.go) and the
// internal calls between the scheduler's files.
//
// Glossary (as in Go's proc.go):
//   G  a fiber: stack + saved context (g.hpp)
//   M  an OS thread; runs Gs while it holds a P (m.hpp)
//   P  a logical processor: a local run queue, free Gs, timers (p.hpp)
//
// Where each piece lives:
//   proc.cpp      newproc/goexit, park/ready, yield: the life of a G
//   schedule.cpp  schedule() and findrunnable(): what an M does on g0
//   steal.cpp     work stealing between Ps
//   mstart.cpp    M threads: start, idle sleep (stopm), wake (startm, wakep)
//   runq.cpp      per-P lock-free run queues; globrunq* below
//   timers.cpp    per-P timer heaps; the timed wait of the idle M (poller)
//   netpoll*.cpp  the network poller: fibers waiting on fds (netpoll.hpp)
//   sysmon.cpp    the monitor thread: takes the P of an M stuck in a fiber
//                 (the retake handshake: sysmon.hpp)
//   schedtrace.cpp  GORT_DEBUG, and the trace sysmon prints with schedtrace=N
//   trace*.cpp    the execution tracer: event sites (trace.hpp), GORT_TRACE
//   blocking.cpp  gort::blocking: a pool of plain threads for blocking calls
//   run.cpp       gort::run: create Ps and Ms, wait for main, tear down
//
// Lock order (a lock may be taken while holding only locks above it):
//   0. the netpoller's loop lock (netpoll_ev.cpp)
//   1. user-visible primitives' internal locks (WaitGroup's lock word),
//      a PollDesc's mu (netpoll.cpp); the blocking pool's mu (blocking.cpp)
//   2. P.timers_mu
//   3. sched.mu
//   4. sched.gfree_mu
//   5. stack pool_mu (stack.cpp)
//   6. a trace buffer's mu (trace.cpp): a leaf, nothing is taken under it
// sched.mu, gfree_mu and the primitives' locks are the runtime's own
// spin-then-sleep lock (lock.hpp). Sysmon takes a P with no lock held (the
// handshake is lock-free, sysmon.hpp), then sched.mu in startm.
// No lock is held across a stack switch, except the one a park hands to its
// commit function, which g0 releases (proc.cpp).
#pragma once

#include "g.hpp"
#include "gheap.hpp"
#include "lock.hpp"
#include "m.hpp"
#include "note.hpp"
#include "p.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace gort::rt {

// GBatch: a batch of runnable Gs on the global run queue. An array of
// pointers, not a list through G::schedlink: moving a batch between Ps then
// touches no G, since each G's cache lines are likely on another core.
struct GBatch {
  static constexpr std::uint32_t kCap = kRunqSize / 2 + 1;  // runqputslow's half ring + 1
  std::uint32_t head = 0, n = 0;
  G* g[kCap];
  std::uint32_t size() const { return n - head; }
};

struct Sched {
  // Fixed for the whole run.
  std::vector<P*> allp;
  std::int32_t procs = 0;
  std::size_t stack_size = 0;           // default fiber stack size
  std::vector<std::uint32_t> coprimes;  // numbers coprime with procs (steal order)

  std::atomic<std::int32_t> nmspinning{0};      // Ms with m->spinning
  std::atomic<std::int32_t> npidle{0};          // Ps on pidle (written under mu)
  std::atomic<std::int32_t> runqsize{0};        // len(runq) (written under mu)
  std::atomic<bool> exiting{false};             // main returned: Ms stop
  std::atomic<std::uint64_t> n_spawned_nop{0};  // spawns from threads without a P (and main)
  std::atomic<std::uint64_t> n_exited_nop{0};   // exits on Ms whose P sysmon took
  std::atomic<std::uint64_t> n_retakes{0};      // Ps sysmon took from a fiber's M (written by sysmon)
  // Fibers parked on something the scheduler cannot see through: an fd in
  // the netpoller, a call in the blocking pool. While any exist the deadlock
  // check stays quiet (Go's checkdead gives up on netpoll waiters too).
  std::atomic<std::int32_t> nexternal{0};
  // sysmon sleeps on sysmon_idle while every P is idle (Go's sysmonwait);
  // pidleget wakes it when a P gets busy again.
  std::atomic<bool> sysmon_wait{false};
  Note sysmon_idle;

  // The timed wait: the one idle M sleeping until the earliest timer (Go's
  // netpoll waiter). pollUntil is its wake-up time, 0 if no M waits so.
  std::atomic<std::int64_t> poll_until{0};

  // --- gfree_mu protects gfree: dead Gs beyond what Ps keep, in batches of
  // up to kGfreeBatch pointers, so that a P hands over or takes a batch
  // without touching a G under the lock (cold Gs would stall the other P). A lock of its
  // own (Go's sched.gFree.lock): spawning and exiting on different Ps pass
  // Gs through it all the time, and should not queue behind the run queue.
  Mutex gfree_mu;
  std::vector<GFreeBatch> gfree;

  // --- mu protects everything below ---
  Mutex mu;
  std::vector<M*> midle;     // idle Ms, asleep on their note
  P* pidle = nullptr;        // idle Ps, linked through P::link
  std::deque<GBatch*> runq;  // the global run queue: a FIFO of batches (see globrunqget)
  std::vector<M*> allm;
  std::vector<G*> allgs;
  GHeap gheap;                  // the memory of allgs (gheap.hpp)
  M* poller = nullptr;          // the M in the timed wait, if any
  bool poller_netpoll = false;  // ... and it waits in the netpoller (else on its note)
  std::int64_t mcount = 0;      // Ms made (ids)

  // Exit: the M that ends main stores the status and wakes the supervisor.
  // The same note wakes it for a SIGQUIT dump (dump_requested).
  int exit_code = 0;
  Note exit_note;
  std::atomic<bool> dump_requested{false};

  ~Sched() {
    for (GBatch* b : runq) delete b;
  }
};

// sched is the current run's state; null when no gort::run is active.
extern std::atomic<Sched*> sched;
inline Sched& S() { return *sched.load(std::memory_order_relaxed); }

// for_each_g calls f(gp, status) for every live G of allgs (neither Idle
// nor Dead), status loaded with acquire (Go's forEachG). The caller holds
// sched.mu. A walk of every G under the lock: for the fiber dump and
// scheddetail only (dump.cpp, schedtrace.cpp), never on a hot path.
template <class F>
void for_each_g(Sched& s, F&& f) {
  for (G* gp : s.allgs) {
    const GStatus st = gp->status.load(std::memory_order_acquire);
    if (st != GStatus::Idle && st != GStatus::Dead) f(gp, st);
  }
}

// --- global run queue (sched.mu) ---
void globrunqput(G* gp);           // takes sched.mu
void globrunqputbatch(GBatch* b);  // takes sched.mu; the queue owns b
// globrunqget returns the first G for pp; if it took a whole batch, *rest is
// the remainder, for globrunqrest once sched.mu is released.
G* globrunqget(P* pp, std::uint32_t max, GBatch** rest);  // caller holds sched.mu
void globrunqrest(P* pp, GBatch* rest);                   // no lock: rest onto pp's runq

// --- idle Ps (caller holds sched.mu) ---
void pidleput(P* pp);
P* pidleget();

// --- Ms (mstart.cpp) ---
void wakep();                          // start a spinning M if a P is idle and none spins
void startm(P* pp, bool spinning);     // run some M with pp (or an idle P)
void stopm(M* m, std::int64_t until);  // sleep until handed a P (or `until`, if >= 0)
void acquirep(M* m, P* pp);
P* releasep(M* m);
void mstart(M* m);  // an M's thread body
// wake_poller makes the M in the timed wait look again (a new earlier
// timer, the netpoller starting up, the run ending): a netpoll_break if it
// waits in the netpoller, else its note. Takes sched.mu.
void wake_poller();

// kGlobalRunqInterval: how often schedule() looks at the global queue before
// the local one. 61, as in Go: prime, so it does not beat with other periods.
inline constexpr std::uint32_t kGlobalRunqInterval = 61;

// --- scheduling (schedule.cpp, steal.cpp) ---
void schedule_loop(M* m);  // g0's loop: find a G, run it, handle its exit/park
G* findrunnable(M* m);     // blocks until a G can run; null when exiting
G* stealwork(M* m);
void resetspinning(M* m);

// --- the life of a G (proc.cpp) ---
void execute(M* m, G* gp);                         // switch from g0 into gp (m holds a P)
void ready(G* gp);                                 // Waiting -> Runnable, on the current P (or global)
void mcall(void (*fn)(M*, G*, void*), void* arg);  // switch to g0, run fn(m, gp, arg) there
// gopark parks the current G. commit(gp, arg) runs on g0 once gp is off its
// stack; typically it releases the lock under which gp was queued. If it
// returns false gp is made runnable again at once.
void gopark(bool (*commit)(G*, void*), void* arg, const char* reason);
G* gnew(P* pp);                           // a stackless G, from the free lists or new
void gfput(P* pp, G* gp);                 // a dead, stackless G back to the free lists
Stack stackget(P* pp, std::size_t size);  // a stack, from pp's cache if it can
void stackput(P* pp, Stack s);            // a stack back to pp's cache or the pool

// supervise: the thread in gort::run waits here until main returns, checking
// for deadlock and serving SIGQUIT dumps meanwhile (dump.cpp).
void supervise(Sched& s);

// blocking_start/stop: the blocking pool's part of a run (blocking.cpp).
// stop runs before the Ms stop: afterwards no pool thread calls ready().
void blocking_start();
void blocking_stop();

// fastrand: a cheap per-M random number (steal order, select later).
std::uint32_t fastrand(M* m);

// throw_outside_fiber: the clear error for a fiber-only call made elsewhere.
[[noreturn]] void throw_outside_fiber(const char* what);

}  // namespace gort::rt
