// run.cpp: gort::run: set the runtime up, run main as the first fiber, and
// take it down again when main returns.
//
// The thread that calls run() does not become an M: it creates the Ps,
// queues the main G, starts one M and the sysmon thread (sysmon.cpp), and
// sleeps on sched.exit_note until main returns. Then it stops sysmon and the
// blocking pool (blocking.cpp: no pool thread readies a fiber afterwards),
// then the Ms: idle ones at once; one busy in a fiber at its next switch
// (an M whose P sysmon took is one of those). Fibers still
// alive are abandoned, as in Go: their stacks stay mapped (and are shown to
// LeakSanitizer as roots, so what they hold is not reported as a leak at
// exit); everything else is freed, so that run() can be called again.
#include <gort/run.hpp>

#include "lsan.hpp"
#include "panic.hpp"
#include "procs.hpp"
#include "sched.hpp"
#include "sysmon.hpp"
#include "trace.hpp"

#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <thread>

namespace gort::rt {

std::atomic<Sched*> sched{nullptr};

namespace {

// kStopGrace: how long run() waits for an M busy in an abandoned fiber to
// reach a switch before leaving it behind. Picked by judgement: long enough
// for any fiber that yields, short enough not to be a hang.
constexpr std::int64_t kStopGraceNs = 250'000'000;

// main_fiber runs gort::run's main; its closure is a pointer to it.
void main_fiber(void* arg) {
  auto* main = *static_cast<std::function<int()>**>(arg);
  S().exit_code = (*main)();
}

// abandoned keeps the Gs of fibers still alive at the end of a run reachable
// for the life of the process, like their stacks: what their closures and
// frames own is then not reported as leaked at exit.
std::vector<G*>* abandoned = new std::vector<G*>;

// teardown frees the run's state once every M has stopped.
void teardown(Sched* s) {
  for (M* m : s->allm) {
    m->thread.join();
    delete m;
  }
  bool kept = false;
  for (G* gp : s->allgs) {
    GStatus st = gp->status.load();
    if (st == GStatus::Idle || st == GStatus::Dead) {
      ctx_release(&gp->ctx);
      gp->~G();
    } else {
      kept = true;
      abandoned->push_back(gp);
      if (gp->stack) lsan_root(gp->stack.lo, gp->stack.size);
    }
  }
  gheap_release(&s->gheap, kept);  // an abandoned G keeps its chunk (and the others) mapped
  for (P* pp : s->allp) {
    for (Stack st : pp->stackcache) stack_free(st);
    delete pp;
  }
  delete s;
}

}  // namespace

}  // namespace gort::rt

namespace gort {

using namespace gort::rt;

int detail::run_main(const Config& cfg, std::function<int()> main) {
  Sched* expected = nullptr;
  auto* s = new Sched;
  if (!sched.compare_exchange_strong(expected, s)) {
    delete s;
    throw std::logic_error("gort::run: the runtime is already running (run cannot be nested)");
  }
  s->procs = cfg.procs > 0 ? cfg.procs : default_procs();
  s->stack_size = stack_round(cfg.stack_size ? cfg.stack_size : default_stack_size());
  for (std::uint32_t i = 1; i <= static_cast<std::uint32_t>(s->procs); i++)
    if (std::gcd(i, static_cast<std::uint32_t>(s->procs)) == 1) s->coprimes.push_back(i);
  for (int i = 0; i < s->procs; i++) {
    P* pp = new P;
    pp->id = i;
    s->allp.push_back(pp);
  }
  for (int i = s->procs - 1; i >= 0; i--) pidleput(s->allp[static_cast<std::size_t>(i)]);
  signals_init();
  fence_init();  // before the first M: the retake handshake's fences (sysmon.hpp)
  blocking_start();
  stack_configure();
  stack_free(stack_alloc(s->stack_size));  // map the first stacks: learns how guards are made
  trace_run_begin();                       // GORT_TRACE: from here on, main's creation included

  // The main G, queued globally; the first M picks it up.
  try {
    Spawn sp = newproc_begin(0, sizeof(void*), alignof(void*));
    static_cast<G*>(sp.g)->is_main = true;
    *static_cast<std::function<int()>**>(sp.closure) = &main;  // run() outlives the main fiber
    newproc_commit(sp, main_fiber, "gort::run", 0);
  } catch (...) {
    trace_run_end();
    blocking_stop();
    sched.store(nullptr);
    teardown(s);
    throw;
  }

  Sysmon* mon = sysmon_start(*s);
  supervise(*s);     // until main returns (or a deadlock or SIGQUIT ends the process)
  sysmon_stop(mon);  // hands out no P from here on
  blocking_stop();

  // Stop every M: idle ones wake and see `exiting`; busy ones see it at
  // their next schedule().
  {
    std::lock_guard lk(s->mu);
    for (M* m : s->allm) m->park.wakeup();
  }
  wake_poller();  // an M blocked in the netpoller
  // Ms in the scheduler stop soon, however slow the machine; only Ms inside
  // a fiber that does not yield may never stop, and get kStopGraceNs.
  std::int64_t grace_end = 0;
  bool all_stopped = false;
  for (;;) {
    bool in_sched = false;
    all_stopped = true;
    {
      std::lock_guard lk(s->mu);
      for (M* m : s->allm) {
        if (m->stopped.load(std::memory_order_acquire)) continue;
        all_stopped = false;
        in_sched = in_sched || !m->in_fiber.load(std::memory_order_relaxed);
      }
    }
    if (all_stopped) break;
    if (!in_sched) {
      if (grace_end == 0) grace_end = nanotime() + kStopGraceNs;
      if (nanotime() > grace_end) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  trace_run_end();  // write the trace (GORT_TRACE, or one still running)
  int code = s->exit_code;
  if (all_stopped) {
    sched.store(nullptr);
    teardown(s);
  } else {
    // An M is still inside a fiber that does not yield. It keeps this run's
    // state (leaked on purpose) and stops at its next switch; the process is
    // expected to exit, as a Go program does when main returns.
    std::lock_guard lk(s->mu);
    int busy = 0;
    for (M* m : s->allm) {
      busy += !m->stopped.load();
      m->thread.detach();
    }
    std::fprintf(stderr,
                 "gort: main returned but %d thread(s) are still inside fibers that do not yield; "
                 "the runtime stays up until they do\n",
                 busy);
  }
  return code;
}

}  // namespace gort
