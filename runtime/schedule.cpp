// schedule.cpp: what an M does on g0 (Go's schedule/findRunnable, proc.go).
//
//   schedule_loop:  forever: pick a G, execute it, finish what it asked for.
//   pick order:     every 61st pick the global queue first (fairness);
//                   the P's due timers; runnext/runq; findrunnable().
//   findrunnable:   local runq, global runq, steal from other Ps (as a
//                   spinning M, running their due timers), and if all fail:
//                   give up the P and sleep (timed, if timers are pending).
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
#include "panic.hpp"
#include "sched.hpp"
#include "timers.hpp"

namespace gort::rt {

namespace {

// checkrunqs_nop looks for work after the M gave up its P (step 3 above).
// Returns a P to go back to, or null.
P* checkrunqs_nop() {
  bool work = S().runqsize.load() != 0;
  for (P* p2 : S().allp) work = work || !runqempty(p2);
  if (!work) return nullptr;
  std::lock_guard lk(S().mu);
  return pidleget();
}

}  // namespace

void schedule_loop(M* m) {
  for (;;) {
    if (S().exiting.load(std::memory_order_relaxed)) return;
    P* pp = m->p;
    G* gp = nullptr;
    if (pp->timer0_when.load(std::memory_order_relaxed) != 0) checktimers(pp, 0);
    if (pp->schedtick % kGlobalRunqInterval == 0 && S().runqsize.load(std::memory_order_relaxed) > 0) {
      std::lock_guard lk(S().mu);
      gp = globrunqget(pp, 1);
    }
    if (!gp) gp = runqget(pp);
    if (!gp) gp = findrunnable(m);  // blocks until work; may change m->p
    if (!gp) return;                // the run is over
    if (m->spinning) resetspinning(m);
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

    std::int64_t now = nanotime();
    checktimers(pp, now);
    if (G* gp = runqget(pp)) return gp;
    if (S().runqsize.load() != 0) {
      std::lock_guard lk(S().mu);
      if (G* gp = globrunqget(pp, 0)) return gp;
    }
    // (issue 4: a non-blocking netpoll goes here.)

    // Steal. Limit spinning Ms to half the busy Ps: when few Ps run, few
    // thieves can find anything, and spinning burns CPU.
    const std::int32_t busy = S().procs - S().npidle.load();
    if (m->spinning || 2 * S().nmspinning.load() < busy) {
      if (!m->spinning) {
        m->spinning = true;
        S().nmspinning.fetch_add(1);
      }
      if (G* gp = stealwork(m, now)) return gp;
    }

    // Nothing to do: give up the P (step 1).
    {
      std::lock_guard lk(S().mu);
      if (S().exiting.load()) return nullptr;
      if (S().runqsize.load() != 0) return globrunqget(pp, 0);
      releasep(m);
      pidleput(pp);
    }
    if (m->spinning) {
      // Steps 2 and 3.
      m->spinning = false;
      if (S().nmspinning.fetch_sub(1) <= 0) fatal_error("findrunnable: negative nmspinning");
      if (P* p2 = checkrunqs_nop()) {
        acquirep(m, p2);
        m->spinning = true;
        S().nmspinning.fetch_add(1);
        continue;
      }
    }
    // Step 4. With timers pending, one idle M waits for the earliest.
    std::int64_t until = earliest_timer();
    stopm(m, until > 0 ? until : -1);
  }
}

// resetspinning: m found work. If it was the last spinning M, start another
// so that further work appearing meanwhile is not left waiting.
void resetspinning(M* m) {
  m->spinning = false;
  if (S().nmspinning.fetch_sub(1) <= 0) fatal_error("resetspinning: negative nmspinning");
  wakep();
}

// --- global run queue ---

void globrunqput(G* gp) {
  std::lock_guard lk(S().mu);
  S().runq.push_back(gp);
  S().runqsize.store(static_cast<std::int32_t>(S().runq.size));
}

void globrunqputbatch(GQueue* q) {
  std::lock_guard lk(S().mu);
  while (G* gp = q->pop_front()) S().runq.push_back(gp);
  S().runqsize.store(static_cast<std::int32_t>(S().runq.size));
}

// globrunqget takes a fair share of the global queue for pp: returns one G
// and puts up to max-1 (0 = no limit but half a runq) more on pp's runq.
G* globrunqget(P* pp, std::uint32_t max) {
  Sched& s = S();
  std::uint32_t n = s.runq.size;
  if (n == 0) return nullptr;
  n = std::min(n, n / static_cast<std::uint32_t>(s.procs) + 1);
  if (max > 0 && n > max) n = max;
  if (n > kRunqSize / 2) n = kRunqSize / 2;
  // runqput must not overflow here (its overflow path takes sched.mu, which
  // we hold): take no more than the ring has room for.
  std::uint32_t used =
      pp->runqtail.load(std::memory_order_relaxed) - pp->runqhead.load(std::memory_order_acquire);
  if (n > kRunqSize - used) n = kRunqSize - used;
  if (n == 0) n = 1;  // the one we return needs no room
  G* gp = s.runq.pop_front();
  for (std::uint32_t i = 1; i < n; i++) runqput(pp, s.runq.pop_front(), false);
  s.runqsize.store(static_cast<std::int32_t>(s.runq.size));
  return gp;
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
  }
  return pp;
}

}  // namespace gort::rt
