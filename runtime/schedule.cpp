// schedule.cpp: what an M does on g0 (Go's schedule/findRunnable, proc.go).
//
//   schedule_loop:  forever: pick a G, execute it, finish what it asked for.
//   pick order:     every 61st pick the global queue first (fairness);
//                   the P's due timers; runnext/runq; findrunnable().
//   findrunnable:   local runq, global runq, steal from other Ps (as a
//                   spinning M, running their due timers), and if all fail:
//                   give up the P and sleep (timed, if timers are pending).
//                   With the netpoller in use: a non-blocking poll before
//                   stealing, and the timed sleep is a wait in the poller.
//
// Why no wake-up is lost between "found no work" and "M sleeps" (the
// spinning-M protocol, proc.go's "Worker thread parking/unparking"):
//  - Whoever makes a G runnable (runqput/globrunqput) then calls wakep(),
//    which starts a spinning M if some P is idle and no M is spinning.
//  - An M gives up looking in this order: (1) put its P on the idle list,
//    (2) stop spinning (decrement nmspinning), (3) look at every P's runq and
//    the global runq once more, and only then (4) sleep.
//  For the global queue (runqsize, stored seq_cst under sched.mu) this is a
//  strict Dekker argument: either the producer sees the idle P and
//  nmspinning == 0 and wakes someone, or the M in step (3) sees the new G.
//  A put on a P's local queue is published with a release store, as in Go,
//  which the producer's later loads may overtake: an idle P may then miss
//  the chance to help, but the G is not stranded, since its own P runs it at
//  its next schedule(). Timers use seq_cst on both sides (timers.cpp).
#include "netpoll.hpp"
#include "panic.hpp"
#include "sched.hpp"
#include "timers.hpp"
#include "trace.hpp"

namespace gort::rt {

namespace {

// kIdleSpinNs: how long a spinning M keeps looking before it gives up its P.
// Picked empirically (spawn benchmark, 2 Ps): long enough to bridge the gaps
// of a producer on another P, short enough to be noise when truly idle.
constexpr std::int64_t kIdleSpinNs = 20'000;

// work_showed_up: one look at every run queue and timer heap (and exit).
bool work_showed_up(std::int64_t now) {
  if (S().exiting.load(std::memory_order_relaxed) || S().runqsize.load(std::memory_order_relaxed) != 0)
    return true;
  for (P* p2 : S().allp) {
    if (!runqempty(p2)) return true;
    std::int64_t w = p2->timer0_when.load(std::memory_order_relaxed);
    if (w != 0 && w <= now) return true;
  }
  return false;
}

// spin_for_work polls every run queue and the timers for up to `ns`;
// returns whether something showed up.
bool spin_for_work(std::int64_t ns) {
  const std::int64_t end = nanotime() + ns;
  for (std::int64_t now = nanotime(); now < end; now = nanotime()) {
    for (int i = 0; i < 64; i++) cpu_relax();
    if (work_showed_up(now)) return true;
  }
  return false;
}

// kHotIoNs: a non-blocking poll that found work this recently means fds
// are getting ready while the Ms are busy (many connections): an idle M
// then watches the poller too before it sleeps (spin_for_io).
constexpr std::int64_t kHotIoNs = 50'000;

// spin_for_io is spin_for_work with a non-blocking poll per look, for when
// I/O is flowing: for up to `ns`, returns a fiber the poller readied (its
// others queued on m's P), or null with *again set if other work showed up.
G* spin_for_io(M* m, std::int64_t ns, bool* again) {
  const std::int64_t end = nanotime() + ns;
  for (std::int64_t now = nanotime(); now < end; now = nanotime()) {
    for (int i = 0; i < 64; i++) cpu_relax();
    if (work_showed_up(now)) {
      *again = true;
      return nullptr;
    }
    GQueue q;
    if (netpoll(-1, &q) && !q.empty()) {
      G* gp = q.pop_front();
      injectglist(m, &q);
      return gp;
    }
  }
  return nullptr;
}

// checkrunqs_nop looks for work after the M gave up its P (step 3 above).
// Returns a P to go back to, or null.
P* checkrunqs_nop() {
  bool work = S().runqsize.load() != 0;
  for (P* p2 : S().allp) work = work || !runqempty(p2);
  if (!work) return nullptr;
  std::lock_guard lk(S().mu);
  return pidleget();
}

// netpoll_block: step 4 with the netpoller in use. If no other M waits for
// timers, m (which holds no P) blocks in the poller until an fd is ready,
// the earliest timer is due, or netpoll_break. Returns false if another M
// already waits there. *q receives the fibers made runnable.
bool netpoll_block(M* m, std::int64_t until, GQueue* q) {
  Sched& s = S();
  std::uint64_t breaks;
  {
    std::lock_guard lk(s.mu);
    if (s.poller || s.exiting.load()) return false;
    s.poller = m;
    s.poller_netpoll = true;
    s.poll_until.store(until > 0 ? until : INT64_MAX);  // any new timer wakes us to look
    breaks = netpoll_breaks();                          // a wake_poller from now on stops the wait
  }
  // A timer added before poll_until was published did not wake us: look.
  if (std::int64_t e = earliest_timer(); e > 0 && (until == 0 || e < until)) until = e;
  if (until == 0 || until > nanotime()) {
    trace_ev(m, TraceEv::MPark, 1);
    netpoll(until, q, breaks);
  }
  std::lock_guard lk(s.mu);
  s.poller = nullptr;
  s.poller_netpoll = false;
  s.poll_until.store(0);
  return true;
}

}  // namespace

void schedule_loop(M* m) {
  for (;;) {
    if (S().exiting.load(std::memory_order_relaxed)) return;
    G* gp = nullptr;
    // No P: sysmon took it while our last G ran (sysmon.hpp); findrunnable
    // takes an idle one or sleeps.
    if (P* pp = m->p) {
      if (pp->timer0_when.load(std::memory_order_relaxed) != 0) checktimers(pp, 0);
      if (pp->schedtick % kGlobalRunqInterval == 0 && S().runqsize.load(std::memory_order_relaxed) > 0) {
        std::lock_guard lk(S().mu);
        gp = globrunqget(pp, 1, nullptr);
      }
      if (!gp) gp = runqget(pp);
    }
    if (!gp) gp = findrunnable(m);  // blocks until work; may change m->p
    if (!gp) return;                // the run is over
    if (m->spinning.load(std::memory_order_relaxed)) resetspinning(m);
    execute(m, gp);
  }
}

G* findrunnable(M* m) {
  for (;;) {
    if (S().exiting.load()) return nullptr;
    P* pp = m->p;
    if (!pp) {
      // Back from a timed wait, or woken without a P: find one or sleep.
      {
        std::lock_guard lk(S().mu);
        pp = pidleget();
      }
      if (!pp) {
        stopm(m, -1);
        continue;
      }
      acquirep(m, pp);
    }

    // Due timers of every P, not only ours: a P with due timers may be idle,
    // or held by an M that is not running yet (just woken, waiting for a
    // CPU); whoever looks first runs them, and their Gs come to our P.
    std::int64_t now = nanotime();
    for (P* p2 : S().allp) {
      std::int64_t w = p2->timer0_when.load(std::memory_order_acquire);
      if (w != 0 && w <= now) checktimers(p2, now);
    }
    if (G* gp = runqget(pp)) return gp;
    if (S().runqsize.load() != 0) {
      G* gp;
      GBatch* rest = nullptr;
      {
        std::lock_guard lk(S().mu);
        gp = globrunqget(pp, 0, &rest);
      }
      globrunqrest(pp, rest);
      if (gp) return gp;
    }
    // The netpoller, without blocking, if fibers wait on fds (and no other
    // M is polling: then netpoll returns at once).
    if (netpoll_inited() && netpoll_waiters() > 0) {
      GQueue q;
      if (netpoll(-1, &q) && !q.empty()) {
        G* gp = q.pop_front();
        injectglist(m, &q);
        return gp;
      }
    }

    // Steal. Limit spinning Ms to half the busy Ps: when few Ps run, few
    // thieves can find anything, and spinning burns CPU.
    const std::int32_t busy = S().procs - S().npidle.load();
    if (m->spinning.load(std::memory_order_relaxed) || 2 * S().nmspinning.load() < busy) {
      if (!m->spinning.load(std::memory_order_relaxed)) {
        m->spinning.store(true, std::memory_order_relaxed);
        S().nmspinning.fetch_add(1);
      }
      if (G* gp = stealwork(m)) return gp;
      // Before sleeping, watch the queues a little longer: putting an M to
      // sleep and waking it again costs two futex calls and two thread
      // switches (~5-10 us here), and under a steady stream of new fibers
      // work usually reappears sooner than that. Not while fibers wait on
      // fds: their work comes from the poller, which the watch does not see
      // (it would need a syscall per look), and a server's next request is
      // usually further away than the watch: the M blocks in the poller.
      if (netpoll_waiters() == 0) {
        if (spin_for_work(kIdleSpinNs)) continue;
      } else if (nanotime() - netpoll_lasthit() < kHotIoNs) {
        bool again = false;
        if (G* gp = spin_for_io(m, kIdleSpinNs, &again)) return gp;
        if (again) continue;
      }
    }

    // Nothing to do: give up the P (step 1).
    {
      G* gp = nullptr;
      GBatch* rest = nullptr;
      {
        std::lock_guard lk(S().mu);
        if (S().exiting.load()) return nullptr;
        if (S().runqsize.load() != 0) {
          gp = globrunqget(pp, 0, &rest);
        } else {
          releasep(m);
          pidleput(pp);
        }
      }
      globrunqrest(pp, rest);
      if (gp) return gp;
    }
    if (m->spinning.load(std::memory_order_relaxed)) {
      // Steps 2 and 3.
      m->spinning.store(false, std::memory_order_relaxed);
      if (S().nmspinning.fetch_sub(1) <= 0) fatal_error("findrunnable: negative nmspinning");
      if (P* p2 = checkrunqs_nop()) {
        acquirep(m, p2);
        m->spinning.store(true, std::memory_order_relaxed);
        S().nmspinning.fetch_add(1);
        continue;
      }
    }
    // Step 4. With timers pending, one idle M waits for the earliest; once
    // the netpoller is in use, that M waits in the poller, timers or not.
    std::int64_t until = earliest_timer();
    if (!netpoll_inited()) {
      stopm(m, until > 0 ? until : -1);
      continue;
    }
    GQueue q;
    if (!netpoll_block(m, until, &q)) {
      stopm(m, -1);
      continue;
    }
    if (q.empty()) continue;  // a timer is due, or woken: look again
    P* p2;
    {
      std::lock_guard lk(S().mu);
      p2 = pidleget();
    }
    if (!p2) {
      injectglist(m, &q);  // for the Ps that are running
      continue;
    }
    acquirep(m, p2);
    G* gp = q.pop_front();
    injectglist(m, &q);
    return gp;
  }
}

// injectglist makes the fibers of q (status Runnable) run: on m's P if it
// has one (m may be null: sysmon), with wakep() so that idle Ps steal; else on the global queue,
// starting an M for each idle P up to their number (Go's injectglist).
void injectglist(M* m, GQueue* q) {
  std::uint32_t n = q->size;
  if (n == 0) return;
  if (P* pp = m ? m->p : nullptr) {
    while (G* gp = q->pop_front()) runqput(pp, gp, false);
    wakep();
    return;
  }
  while (G* gp = q->pop_front()) globrunqput(gp);
  for (; n > 0 && S().npidle.load() > 0; n--) startm(nullptr, false);
}

// resetspinning: m found work. If it was the last spinning M, start another
// so that further work appearing meanwhile is not left waiting.
void resetspinning(M* m) {
  m->spinning.store(false, std::memory_order_relaxed);
  if (S().nmspinning.fetch_sub(1) <= 0) fatal_error("resetspinning: negative nmspinning");
  wakep();
}

// --- global run queue ---
//
// The global queue is a FIFO of batches (GBatch: arrays of G pointers) so
// that every operation under sched.mu is O(1) and touches no G: a P
// overflowing its ring hands over a whole batch (runqputslow), and a P
// taking work takes a whole batch and copies it into its ring after
// unlocking. Walking a list of Gs under the lock, one cache miss per G
// (their lines are on the core that made them runnable), stalled every other
// P waiting for the lock.

void globrunqput(G* gp) {
  Sched& s = S();
  std::lock_guard lk(s.mu);
  if (s.runq.empty() || s.runq.back()->n == GBatch::kCap) s.runq.push_back(new GBatch);
  GBatch* b = s.runq.back();
  b->g[b->n++] = gp;
  s.runqsize.store(s.runqsize.load(std::memory_order_relaxed) + 1);
}

void globrunqputbatch(GBatch* b) {
  Sched& s = S();
  std::lock_guard lk(s.mu);
  s.runq.push_back(b);
  s.runqsize.store(s.runqsize.load(std::memory_order_relaxed) + static_cast<std::int32_t>(b->size()));
}

// globrunqget takes work for pp from the head of the global queue: with
// max == 1 (or rest == null) one G; else also the rest of the first batch,
// if pp's ring has room for it (globrunqrest's runqputs must not overflow,
// which would send the Gs straight back here), else one G.
G* globrunqget(P* pp, std::uint32_t max, GBatch** rest) {
  Sched& s = S();
  if (s.runq.empty()) return nullptr;
  GBatch* first = s.runq.front();
  std::uint32_t used =
      pp->runqtail.load(std::memory_order_relaxed) - pp->runqhead.load(std::memory_order_acquire);
  G* gp = first->g[first->head++];
  std::uint32_t taken = 1;
  if (rest && max != 1 && first->size() <= kRunqSize - used) {
    taken += first->size();
    *rest = first;
    s.runq.pop_front();
  } else if (first->size() == 0) {
    s.runq.pop_front();
    delete first;
  }
  s.runqsize.store(s.runqsize.load(std::memory_order_relaxed) - static_cast<std::int32_t>(taken));
  return gp;
}

void globrunqrest(P* pp, GBatch* rest) {
  if (!rest) return;
  for (std::uint32_t i = rest->head; i < rest->n; i++) runqput(pp, rest->g[i], false);
  delete rest;
}

void pidleput(P* pp) {
  pp->link = S().pidle;
  S().pidle = pp;
  S().npidle.fetch_add(1);
}

P* pidleget() {
  P* pp = S().pidle;
  if (pp) {
    S().pidle = pp->link;
    pp->link = nullptr;
    S().npidle.fetch_sub(1);
    // A P gets busy: if sysmon sleeps because all were idle, it has work
    // again (seq_cst both sides, as sysmon_main's check).
    if (S().sysmon_wait.load() && S().sysmon_wait.exchange(false)) S().sysmon_idle.wakeup();
  }
  return pp;
}

}  // namespace gort::rt
