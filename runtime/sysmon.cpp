// sysmon.cpp: the monitor thread (Go's sysmon, retake and handoffp,
// proc.go) and the two sides of the retake handshake (see sysmon.hpp).
//
// sysmon wakes every 20 us, and after 50 idle looks in a row (nothing
// retaken) doubles its sleep up to 10 ms (Go's delay rule); while every P is
// idle it sleeps until one gets busy (sysmon_idle). At each look it
// reads every P's switch count (n_switches, the atomic twin of schedtick):
// a P that is Running and whose count has not moved for kHogNs (10 ms, Go's
// forcePreemptNS) runs one fiber that neither yields nor parks. If that P
// has other work (its runq or runnext, a due timer, or fibers on the global
// runq that no idle P or spinning M can take), sysmon takes it from the M
// named by P::runm (try_retake) and starts another M with it (startm). The
// M goes on running its fiber without a P. And if fibers wait on fds but
// nobody polled the network for 10 ms (every M busy in a fiber), sysmon
// polls once and queues what is ready (poll_network, Go's sysmon does too).
//
// Invariants:
//  - sysmon takes a P only from an M that is running user code (pinned
//    false); g0 and runtime code on a G are always pinned.
//  - between reading pinned == false and storing kRetakeTaken, the M is
//    either in user code or waiting in pinp_slow: sysmon may read m->p,
//    m->curg and the G's id, and the M's writes before its last unpinp are
//    visible (release/acquire on pinned).
//  - once kRetakeTaken is stored, sysmon owns the P (P::m null, status Idle)
//    until startm hands it to an M; of that M it reads only m->id again,
//    fixed since newm.
//  - an M reached through P::runm is fully constructed (setrunm publishes
//    it with release, sysmon loads it with acquire).
//  - sysmon never leaves an M at kRetakePending between two looks, and tries
//    no M whose retake is not kRetakeNone (a retake not yet acknowledged).
//  - sysmon is stopped and joined before the Ms are stopped (run.cpp), so it
//    hands out no P at exit.
//
// With GORT_DEBUG set to anything but "" or "0" (e.g. GORT_DEBUG=sysmon),
// each retake prints one line to stderr:
//   gort: sysmon: fiber N has held M M for X ms; handing P p's runnable
//   fibers to another M
// With GORT_DEBUG=schedtrace=N (Go's GODEBUG syntax, parsed in
// schedtrace.cpp), sysmon prints the scheduler trace every N ms at the end
// of a look (Go's sysmon does the same), and then never sleeps untimed
// while every P is idle (Go's rule too): an idle runtime still prints, at
// the cost of a look every 10 ms at most. Off, the trace costs one branch
// per look.
#include "sysmon.hpp"

#include "lock.hpp"
#include "netpoll.hpp"
#include "panic.hpp"
#include "sched.hpp"
#include "schedtrace.hpp"
#include "trace.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gort::rt {

#ifndef GORT_SYSMON_TSAN
bool asym_fence = false;
#endif

struct Sysmon {
  Sched* s = nullptr;
  DebugVars debug;         // GORT_DEBUG, read once per run
  std::int64_t start = 0;  // nanotime at sysmon_start: the trace's time 0
  std::atomic<bool> stop{false};
  Note note;  // sleeps between looks; stop wakes it
  std::thread thread;
};

namespace {

constexpr std::int64_t kHogNs = 10'000'000;           // Go's forcePreemptNS
constexpr std::int64_t kMinDelayNs = 20'000;          // Go: 20 us
constexpr std::int64_t kMaxDelayNs = 10'000'000;      // Go: 10 ms
constexpr std::int64_t kNetpollStaleNs = 10'000'000;  // Go: poll if not polled for 10 ms
constexpr int kIdleLooks = 50;                        // Go: start doubling after 50 idle looks

long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

// heavy_fence: sysmon's side of the handshake's fence. False if it failed
// (then the caller gives up this attempt). With seq_cst on both sides it
// has nothing to do.
bool heavy_fence() {
  if (!asym_fence) return true;
  return membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
}

// PTick: what sysmon last saw of a P (Go's sysmontick).
struct PTick {
  std::uint64_t switches = 0;
  std::int64_t since = 0;  // when sysmon first saw `switches`
};

// has_work: is there something pp's M would run if its fiber let it? The
// global runq counts only if no idle P or spinning M can take it (Go's rule
// for a P in a system call).
bool has_work(Sched& s, P* pp, std::int64_t now) {
  if (!runqempty(pp)) return true;
  std::int64_t w = pp->timer0_when.load(std::memory_order_relaxed);
  if (w != 0 && w <= now) return true;
  return s.runqsize.load(std::memory_order_relaxed) != 0 && s.npidle.load(std::memory_order_relaxed) == 0 &&
         s.nmspinning.load(std::memory_order_relaxed) == 0;
}

// try_retake runs the handshake with m for pp, which sysmon saw Running
// with switch count sw. On success sysmon owns pp and *goid is the fiber
// that held it.
bool try_retake(M* m, P* pp, std::uint64_t sw, std::uint64_t* goid) {
  m->retake.store(kRetakePending, std::memory_order_seq_cst);
  if (!heavy_fence() || m->pinned.load(std::memory_order_seq_cst)) {
    m->retake.store(kRetakeNone, std::memory_order_release);
    return false;
  }
  // The window: m runs user code, or waits for us in pinp_slow.
  G* gp = m->curg.load(std::memory_order_relaxed);
  if (m->p != pp || gp == nullptr || pp->n_switches.load(std::memory_order_relaxed) != sw) {
    m->retake.store(kRetakeNone, std::memory_order_release);  // m moved on meanwhile
    return false;
  }
  *goid = gp->goid;
  pp->m = nullptr;
  pp->status.store(PStatus::Idle, std::memory_order_relaxed);
  m->retake.store(kRetakeTaken, std::memory_order_release);
  return true;
}

// retake looks at every P once; returns how many it took.
int retake(Sched& s, std::vector<PTick>& ticks, std::int64_t now, bool debug) {
  int n = 0;
  for (P* pp : s.allp) {
    PTick& t = ticks[static_cast<std::size_t>(pp->id)];
    const std::uint64_t sw = pp->n_switches.load(std::memory_order_relaxed);
    if (pp->status.load(std::memory_order_relaxed) != PStatus::Running || sw != t.switches) {
      t.switches = sw;
      t.since = now;
      continue;
    }
    if (now - t.since < kHogNs || !has_work(s, pp, now)) continue;
    // Cheap looks first: a membarrier per attempt is for Ms that may be in user code.
    M* m = pp->runm.load(std::memory_order_acquire);
    if (!m || !m->in_fiber.load(std::memory_order_relaxed) || m->pinned.load(std::memory_order_relaxed) ||
        m->retake.load(std::memory_order_relaxed) != kRetakeNone)
      continue;
    std::uint64_t goid = 0;
    if (!try_retake(m, pp, sw, &goid)) continue;
    if (debug) {
      std::fprintf(stderr,
                   "gort: sysmon: fiber %llu has held M %lld for %lld ms; handing P %d's runnable fibers "
                   "to another M\n",
                   static_cast<unsigned long long>(goid), static_cast<long long>(m->id),
                   static_cast<long long>((now - t.since) / 1'000'000), pp->id);
    }
    trace_ev(nullptr, TraceEv::Handoff, static_cast<std::uint64_t>(pp->id), static_cast<std::uint64_t>(m->id),
             goid);
    t.since = now;
    n++;
    s.n_retakes.fetch_add(1, std::memory_order_relaxed);
    startm(pp, false);  // Go's handoffp: pp has work, so an M runs it now
  }
  return n;
}

// poll_network: if fibers wait on fds and nobody polled for 10 ms (every M
// busy in a fiber, none idle to block in the poller), poll once and queue
// what is ready, so that I/O is not starved by busy Ps.
void poll_network(std::int64_t now) {
  if (!netpoll_inited() || netpoll_waiters() == 0) return;
  std::int64_t last = netpoll_lastpoll();
  if (last == 0 || now - last < kNetpollStaleNs) return;  // 0: an M is blocked in it
  GQueue q;
  if (netpoll(-1, &q)) injectglist(nullptr, &q);
}

void sysmon_main(Sysmon* mon) {
  trace_set_thread_lane(kLaneSysmon);
  Sched& s = *mon->s;
  std::vector<PTick> ticks(s.allp.size());
  int idle = 0;
  std::int64_t delay = kMinDelayNs;
  const std::int64_t trace_ns = mon->debug.schedtrace_ms * 1'000'000;  // 0: no trace
  std::int64_t lasttrace = 0;  // 0: the first look prints (SCHED 0ms), as Go's
  for (;;) {
    if (idle == 0) {
      delay = kMinDelayNs;
    } else if (idle > kIdleLooks && delay < kMaxDelayNs) {
      delay = delay * 2 < kMaxDelayNs ? delay * 2 : kMaxDelayNs;
    }
    if (trace_ns == 0 && s.npidle.load() == s.procs) {
      // Every P idle: nothing to retake, and an idle M (or nobody) watches
      // the netpoller. Sleep until a P gets busy (Go's sysmonwait), so that
      // an idle process wakes for nothing. The Dekker pair: we store
      // sysmon_wait then load npidle; pidleget decrements npidle then
      // loads sysmon_wait (all seq_cst).
      s.sysmon_idle.clear();
      s.sysmon_wait.store(true);
      if (s.npidle.load() == s.procs && !mon->stop.load()) s.sysmon_idle.sleep();
      s.sysmon_wait.store(false);
      idle = 0;
      delay = kMinDelayNs;
    }
    mon->note.sleep(delay);
    if (mon->stop.load(std::memory_order_acquire)) return;
    if (s.exiting.load(std::memory_order_relaxed)) continue;  // run.cpp stops us soon
    const std::int64_t now = nanotime();
    poll_network(now);
    // As Go's: only a retake makes sysmon look often again; a poll that
    // found fds ready means the Ms are busy, not stuck.
    idle = retake(s, ticks, now, mon->debug.reports) > 0 ? 0 : idle + 1;
    if (trace_ns > 0 && (lasttrace == 0 || now - lasttrace >= trace_ns)) {
      lasttrace = now;
      schedtrace(s, now, mon->start, mon->debug.scheddetail);
    }
  }
}

}  // namespace

void fence_init() {
#ifndef GORT_SYSMON_TSAN
  static std::once_flag once;
  std::call_once(once, [] {
    long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    asym_fence = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                 membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  });
#endif
}

void pinp_slow(M* m) {
  std::uint8_t r;
  for (int spins = 0; (r = m->retake.load(std::memory_order_acquire)) == kRetakePending; spins++) {
    // sysmon decides within a membarrier call; if it was preempted meanwhile,
    // do not burn the CPU it needs.
    if (spins < 100) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  if (r == kRetakeTaken) {
    m->p = nullptr;  // sysmon gave the P to another M: go on without one
    m->retake.store(kRetakeNone, std::memory_order_relaxed);
  }
}

void pin_twice(M* m) {
  fatal_error(
      ("pin_outer: M " + std::to_string(m->id) + " is already pinned (a park or switch inside a pin?)")
          .c_str());
}

namespace {
void requeue_for_p(M* m, G* gp, void*) {  // g0, on an M without a P
  trace_ev(m, TraceEv::GoPreempt, gp->goid);
  casgstatus(gp, GStatus::Running, GStatus::Runnable);
  globrunqput(gp);
  wakep();
}
}  // namespace

M* pin_with_p() {
  for (;;) {
    M* m = getm();
    pin_outer(m);
    if (m->p) return m;
    // Sysmon took our P (Go's exitsyscall): an idle P if there is one...
    P* pp;
    {
      std::lock_guard lk(S().mu);
      pp = pidleget();
    }
    if (pp) {
      acquirep(m, pp);
      setrunm(pp, m);
      return m;
    }
    // ...else run again on an M that has one (mcall pins for itself).
    unpinp(m);
    mcall(requeue_for_p, nullptr);
  }
}

Sysmon* sysmon_start(Sched& s) {
  auto* mon = new Sysmon;
  mon->s = &s;
  mon->debug = parse_debug(std::getenv("GORT_DEBUG"));
  mon->start = nanotime();
  mon->thread = std::thread(sysmon_main, mon);
  return mon;
}

void sysmon_stop(Sysmon* mon) {
  mon->stop.store(true);
  mon->note.wakeup();
  mon->s->sysmon_idle.wakeup();
  mon->thread.join();
  delete mon;
}

}  // namespace gort::rt
