// dump.cpp: the fiber dump, the deadlock check, and SIGQUIT (Go's
// traceback of all goroutines, checkdead, and sighandler's SIGQUIT).
//
// All three run on the supervisor (the thread in gort::run, not an M) or on
// the caller's thread, never in a signal handler: the SIGQUIT handler only
// sets sched.dump_requested and wakes the supervisor's note (an atomic
// exchange and a futex call, both async-signal-safe).
//
// The deadlock check reads the scheduler's state under sched.mu: every M on
// the idle list, no poller (so no timed wait, so no timer pending), every run
// queue empty, no M spinning, no fiber waiting on an fd or in the blocking
// pool (sched.nexternal). One such look can catch a moment between two
// steps of a wake-up, so the supervisor reports only when two looks half a
// second apart both see it with no fiber switched in between.
#include <gort/debug.hpp>

#include "panic.hpp"
#include "sched.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace gort::rt {

namespace {

std::string describe(G* gp, GStatus st, std::int64_t now) {
  char buf[160];
  std::string where;
  if (gp->is_main) {
    where = "    main fiber of gort::run\n";
  } else if (gp->spawn_file) {
    where = std::string("    created by gort::go at ") + gp->spawn_file + ":" +
            std::to_string(gp->spawn_line) + "\n";
  }
  if (st == GStatus::Waiting) {
    double waited = double(now - gp->waitsince) / 1e9;
    const char* reason = gp->waitreason.load(std::memory_order_relaxed);
    std::snprintf(buf, sizeof buf, "fiber %llu [%s, %.1f s]:\n", static_cast<unsigned long long>(gp->goid),
                  reason ? reason : "waiting", waited < 0 ? 0.0 : waited);
  } else {
    std::snprintf(buf, sizeof buf, "fiber %llu [%s]:\n", static_cast<unsigned long long>(gp->goid),
                  gstatus_name(st));
  }
  return buf + where + "\n";
}

void on_sigquit(int) {
  if (Sched* s = sched.load(std::memory_order_acquire)) {
    s->dump_requested.store(true);
    s->exit_note.wakeup();
    return;
  }
  signal(SIGQUIT, SIG_DFL);  // no run: what SIGQUIT would have done without gort
  raise(SIGQUIT);
}

}  // namespace

std::string dump_locked(Sched& s) {
  std::string out;
  std::int64_t now = nanotime_coarse();
  for_each_g(s, [&](G* gp, GStatus st) { out += describe(gp, st, now); });
  return out;
}

bool looks_deadlocked(Sched& s, std::uint64_t* switches) {
  std::uint64_t sw = s.n_spawned_nop.load(std::memory_order_relaxed);
  for (P* pp : s.allp) sw += pp->n_switches.load(std::memory_order_relaxed);
  std::lock_guard lk(s.mu);
  // An M blocked in the netpoller with no timer pending and no fd waited on
  // waits for nothing: it counts as idle.
  const std::size_t idle = s.midle.size() + (s.poller && s.poller_netpoll ? 1 : 0);
  bool dead = idle == s.allm.size() && !s.allm.empty() && (s.poller == nullptr || s.poller_netpoll) &&
              s.nmspinning.load() == 0 && s.runqsize.load() == 0 && s.nexternal.load() == 0;
  for (P* pp : s.allp) dead = dead && runqempty(pp) && pp->timer0_when.load() == 0;
  bool same = sw == *switches;
  *switches = sw;
  return dead && same;
}

[[noreturn]] void report_and_exit(Sched& s, const char* headline) {
  std::string out = headline;
  {
    std::lock_guard lk(s.mu);
    out += dump_locked(s);
  }
  die(out);
}

void supervise(Sched& s) {
  constexpr std::int64_t kCheckNs = 500'000'000;
  const char* env = std::getenv("GORT_DEADLOCK_CHECK");
  const bool check = !(env && std::string(env) == "0");
  static std::once_flag once;
  std::call_once(once, [] { signal(SIGQUIT, on_sigquit); });
  std::uint64_t switches = ~0ull;
  int dead_looks = 0;
  for (;;) {
    bool woken = s.exit_note.sleep(check ? kCheckNs : -1);
    if (s.dump_requested.load()) report_and_exit(s, "SIGQUIT: quit\n\n");
    if (woken && s.exiting.load()) return;  // main returned
    if (woken) {                            // a stale wake: start over
      s.exit_note.clear();
      if (s.exiting.load()) return;
      continue;
    }
    dead_looks = looks_deadlocked(s, &switches) ? dead_looks + 1 : 0;
    if (dead_looks >= 2) report_and_exit(s, "fatal error: all fibers are asleep - deadlock!\n\n");
  }
}

}  // namespace gort::rt

namespace gort {

std::string fiber_dump() {
  rt::Sched* s = rt::sched.load(std::memory_order_acquire);
  if (!s) return "";
  std::lock_guard lk(s->mu);
  return rt::dump_locked(*s);
}

}  // namespace gort
