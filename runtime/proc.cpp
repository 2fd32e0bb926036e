// proc.cpp: the life of a G (Go's proc.go: newproc, goexit, gopark, goready,
// Gosched), from gort::go to the switch that starts the fiber and back.
//
// The path from `gort::go(f)` to the line that switches stacks:
//   go()             <gort/go.hpp>  builds the closure where newproc_begin says
//   newproc_begin    here           gnew(): a G from a free list; closure space
//                                   inside it (or atop a stack bound now)
//   newproc_commit   here           runqput() + wakep()
//   schedule_loop    schedule.cpp   some M's g0 takes the G off a run queue
//   execute          here           switch_to_g(): gostart() binds a stack and
//                                   ctx_make()s it, then ctx_switch()
//   switch_to        context_boost.cpp   jump_fcontext: now on the G's stack
//   fiber_main       here           finish_switch(), runs the closure, then
//                                   goexit: ctx_exit() to the next G of its P
//                                   or to g0; goexit0 frees the G there
// Every switch is followed by finish_switch() on the context that arrives: it
// runs what the context that left asked for (m->after), once that context is
// off its stack. yield() and goexit switch straight to the next G when
// schedule() would just take it from the P's runq (runq_fast), saving the
// trip through g0; park goes through g0.
//
// go() on a fiber yields when the new G fills its P's ring (newproc_commit):
// a loop of go() calls then runs its fibers in rounds of a ring, while their
// Gs and stacks are still in the cache, instead of queueing all of them
// (a million queued Gs are 300 MB) until sysmon takes the spawner's P.
//
// Park protocol. A G never puts itself on a wait queue and then switches
// away in two steps another thread could interleave with: it locks the wait
// queue, enqueues itself, and calls gopark(commit, ...), which switches to g0;
// only there, when nothing runs on the G's stack any more, does commit()
// release the lock. Whoever readies the G must take that lock first, so it
// can never resume a G that is still on its way out (Go's park_m + unlockf).
//
// Sysmon may take the P of an M whose G runs user code (sysmon.hpp). So the
// code here that runs on a G reads m->p only inside a pin (pinp/unpinp,
// PinGuard), and the g0 side (park_m, gosched_m, goexit0) copes with an M
// that has no P: Gs go to the global queue, stacks and Gs to the global pools.
#include <gort/fiber.hpp>
#include <gort/go.hpp>

#include "panic.hpp"
#include "sched.hpp"
#include "sysmon.hpp"
#include "trace.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace gort::rt {

inline void make_running(M* m, G* gp);  // below; inlined into the switches

namespace {

std::atomic<std::uint64_t> goid_gen{0};  // fiber ids, handed to Ps in batches

std::uint64_t new_goid(P* pp) {
  constexpr std::uint64_t kBatch = 16;
  if (!pp) return goid_gen.fetch_add(1, std::memory_order_relaxed) + 1;
  if (pp->goid_next == pp->goid_end) {
    pp->goid_next = goid_gen.fetch_add(kBatch, std::memory_order_relaxed) + 1;
    pp->goid_end = pp->goid_next + kBatch;
  }
  return pp->goid_next++;
}

// finish_switch runs, on the context that just arrived, what the context
// that left asked for (m->after). Every switch is followed by one.
void finish_switch(M* m) {
  if (auto after = m->after) {
    m->after = nullptr;
    G* gp = m->after_g;
    after(m, gp, m->after_arg);
  }
}

// goexit0 finishes a G whose function returned, on the context that ran
// next on its M: g0 or the next G (goexit's fast path). m->p is null if
// sysmon took the P while the G ran: then the global pools take its stack
// and the G.
void goexit0(M* m, G* gp, void*) {
  casgstatus(gp, GStatus::Running, GStatus::Dead);
  P* pp = m->p;
  if (pp) {
    pp->n_exited.store(pp->n_exited.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  } else {
    S().n_exited_nop.fetch_add(1, std::memory_order_relaxed);
  }
  if (gp->is_main) {
    // main returned: the run is over (run.cpp waits on exit_note).
    S().exiting.store(true);
    S().exit_note.wakeup();
  }
  stackput(pp, gp->stack);
  gp->stack = Stack{};
  ctx_release(&gp->ctx);  // TSan's per-fiber state is large: free it with the fiber
  gfput(pp, gp);
}

// runq_fast returns the G schedule() would run next on m's P when that is
// simply the head of the P's runq (no global-queue turn, no timer due, not
// exiting), taken off the queue; else null. yield and goexit then switch to
// it directly instead of through g0. m is pinned.
G* runq_fast(M* m) {
  P* pp = m->p;
  if (!pp || pp->schedtick % kGlobalRunqInterval == 0 ||
      pp->timer0_when.load(std::memory_order_relaxed) != 0 || S().exiting.load(std::memory_order_relaxed))
    return nullptr;
  return runqget(pp);
}

// fiber_main is the bottom frame of every fiber.
void fiber_main(void* arg) {
  G* gp = static_cast<G*>(arg);
  M* m = getm();
  finish_switch(m);
  unpinp(m);  // into user code: from here on sysmon may take the P
  try {
    gp->entry(gp->closure);
  } catch (...) {
    fatal_panic(gp->goid, std::current_exception());
  }
  // goexit: leave the stack for good, to the next G of the P (not after
  // main: its end ends the run) or to g0; whichever arrives finishes the G
  // in goexit0. Pin first: goexit0 uses m->p, and must see it null if
  // sysmon took the P.
  m = getm();
  pin_outer(m);
  trace_ev(m, TraceEv::GoExit, gp->goid);
  m->after_g = gp;
  m->after = goexit0;
  Context* to = &m->g0;
  if (G* next = gp->is_main ? nullptr : runq_fast(m)) {
    make_running(m, next);
    to = &next->ctx;
  }
  ctx_exit(&gp->ctx, to);
}

struct ParkArgs {
  bool (*commit)(G*, void*);
  void* arg;
};

// requeue puts gp, now Runnable, back on a run queue from g0: m's P, or the
// global queue if sysmon took the P (then someone must come for it: wakep).
void requeue(M* m, G* gp, bool next) {
  if (P* pp = m->p) return runqput(pp, gp, next);
  globrunqput(gp);
  wakep();
}

void park_m(M* m, G* gp, void* arg) {
  auto* pa = static_cast<ParkArgs*>(arg);
  casgstatus(gp, GStatus::Running, GStatus::Waiting);
  // Before the commit: once it ran, a waker may ready gp at once.
  if (tracing())
    trace_emit(m, TraceEv::GoBlock, gp->goid, 0, 0, gp->waitreason.load(std::memory_order_relaxed));
  if (!pa->commit(gp, pa->arg)) {
    trace_ev(m, TraceEv::GoUnblock, gp->goid, gp->goid);  // the park was called off
    casgstatus(gp, GStatus::Waiting, GStatus::Runnable);
    requeue(m, gp, true);
  }
}

void gosched_m(M* m, G* gp, void*) {
  casgstatus(gp, GStatus::Running, GStatus::Runnable);
  requeue(m, gp, false);
}

void ready_timer(void* arg, std::uint64_t) { ready(static_cast<G*>(arg)); }

}  // namespace

const char* gstatus_name(GStatus s) {
  switch (s) {
    case GStatus::Idle: return "idle";
    case GStatus::Runnable: return "runnable";
    case GStatus::Running: return "running";
    case GStatus::Waiting: return "waiting";
    case GStatus::Dead: return "dead";
  }
  return "?";
}

void casgstatus(G* gp, GStatus from, GStatus to) {
#if !defined(NDEBUG) || defined(GORT_DEBUG_CHECKS)
  GStatus old = gp->status.exchange(to, std::memory_order_acq_rel);
  if (old != from) {
    fatal_error(("casgstatus: fiber " + std::to_string(gp->goid) + " was " + gstatus_name(old) +
                 ", expected " + gstatus_name(from) + " (-> " + gstatus_name(to) + ")")
                    .c_str());
  }
#else
  (void)from;
  gp->status.store(to, std::memory_order_release);
#endif
}

void throw_outside_fiber(const char* what) {
  throw std::logic_error(std::string(what) +
                         ": not called from a fiber (only code running under gort::run may)");
}

// kGfreeAhead: gnew prefetches the G it will hand out this many spawns
// later (g.hpp's GFreeBatch says why). Picked with the spawn benchmark:
// 4 and 8 did equally well, 2 worse.
constexpr std::uint32_t kGfreeAhead = 8;

G* gnew(P* pp) {
  if (!pp) {  // a thread without a P: one G from the global list
    std::lock_guard lk(S().gfree_mu);
    if (!S().gfree.empty()) {
      GFreeBatch& b = S().gfree.back();
      G* gp = b.g[--b.n];
      if (b.n == 0) S().gfree.pop_back();
      return gp;
    }
  } else {
    if (pp->ngfree == 0) {  // a whole batch from the global list
      std::lock_guard lk(S().gfree_mu);
      if (!S().gfree.empty()) {
        const GFreeBatch& b = S().gfree.back();
        std::copy(b.g, b.g + b.n, pp->gfree);
        pp->ngfree = b.n;
        S().gfree.pop_back();
      }
    }
    if (pp->ngfree > 0) {
      G* gp = pp->gfree[--pp->ngfree];
      if (pp->ngfree >= kGfreeAhead) prefetch_g(pp->gfree[pp->ngfree - kGfreeAhead]);
      return gp;
    }
  }
  std::lock_guard lk(S().mu);
  G* gp = galloc(&S().gheap);
  S().allgs.push_back(gp);
  return gp;
}

void gfput(P* pp, G* gp) {
  gp->status.store(GStatus::Idle, std::memory_order_relaxed);
  gp->is_main = false;
  gp->entry = nullptr;
  gp->closure = nullptr;
  gp->ctx.sp = nullptr;
  if (!pp) {
    std::lock_guard lk(S().gfree_mu);
    if (S().gfree.empty() || S().gfree.back().n == kGfreeBatch) S().gfree.emplace_back();
    GFreeBatch& b = S().gfree.back();
    b.g[b.n++] = gp;
    return;
  }
  pp->gfree[pp->ngfree++] = gp;
  if (pp->ngfree < 2 * kGfreeBatch) return;
  // Full: the oldest half (the coldest) goes to the global list.
  GFreeBatch b;
  std::copy(pp->gfree, pp->gfree + kGfreeBatch, b.g);
  b.n = kGfreeBatch;
  std::copy(pp->gfree + kGfreeBatch, pp->gfree + 2 * kGfreeBatch, pp->gfree);
  pp->ngfree = kGfreeBatch;
  std::lock_guard lk(S().gfree_mu);
  S().gfree.push_back(b);
}

Stack stackget(P* pp, std::size_t size) {
  if (pp && size == S().stack_size && !pp->stackcache.empty()) {
    Stack s = pp->stackcache.back();
    pp->stackcache.pop_back();
    return s;
  }
  return stack_alloc(size);
}

void stackput(P* pp, Stack s) {
  if (!pp || s.size != S().stack_size) return stack_free(s);
  pp->stackcache.push_back(s);
  if (pp->stackcache.size() < 64) return;
  // Keep the 32 most recently used (hottest); the rest go to the pool.
  for (std::size_t i = 0; i < 32; i++) stack_free(pp->stackcache[i]);
  pp->stackcache.erase(pp->stackcache.begin(), pp->stackcache.begin() + 32);
}

// gostart gives a G that has never run its stack and initial context.
// Mapping can fail here only in lazy mode (madvise guards, so no VMA limit):
// then the address space or memory is exhausted, and that is fatal, as in Go.
void gostart(P* pp, G* gp) {
  if (!gp->stack) {
    try {
      gp->stack = stackget(pp, gp->stack_size);
    } catch (const std::exception& e) {
      fatal_error(("cannot start fiber " + std::to_string(gp->goid) + ": " + e.what()).c_str());
    }
  }
  auto lo = reinterpret_cast<std::uintptr_t>(gp->stack.lo);
  auto top = reinterpret_cast<std::uintptr_t>(gp->stack.hi());
  if (gp->closure != gp->inline_closure) top = reinterpret_cast<std::uintptr_t>(gp->closure);
  top &= ~std::uintptr_t(15);
  ctx_make(&gp->ctx, gp->stack.lo, top - lo, fiber_main, gp);
}

// make_running makes gp, taken off m's P's run queue, the running G of m
// (Go's execute, less the switch): a stack if it never ran, its status,
// m->curg. The caller then switches to gp->ctx. Inlined into each switch: as
// a call it cost the yield round trip 5 ns (bench_yield, one P).
[[gnu::always_inline]] inline void make_running(M* m, G* gp) {
  P* pp = m->p;
  if (!gp->ctx.sp) gostart(pp, gp);
  casgstatus(gp, GStatus::Runnable, GStatus::Running);
  trace_ev(m, TraceEv::GoStart, gp->goid);
  m->curg.store(gp, std::memory_order_release);
  pp->schedtick++;
  pp->n_switches.store(pp->n_switches.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// switch_to_g makes gp the running G of m and switches to it from `from`
// (g0 or, on yield's fast path, the yielding G).
void switch_to_g(M* m, Context* from, G* gp) {
  make_running(m, gp);
  ctx_switch(from, &gp->ctx);
}

void execute(M* m, G* gp) {
  setrunm(m->p, m);
  m->in_fiber.store(true, std::memory_order_relaxed);
  switch_to_g(m, &m->g0, gp);  // run gp (and what it yields or exits to) until a G switches to g0
  m->in_fiber.store(false, std::memory_order_relaxed);
  // Back on g0: the G that switched here left us what to do with it.
  m->curg.store(nullptr, std::memory_order_relaxed);
  finish_switch(m);
}

// mcall_pinned switches from the current G, whose M m it already pinned, to
// g0, which runs fn; once resumed, on whichever M that is, it unpins. Inlined
// into the hot paths (gopark, yield).
[[gnu::always_inline]] inline void mcall_pinned(M* m, void (*fn)(M*, G*, void*), void* arg) {
  G* gp = m->curg.load(std::memory_order_relaxed);
  m->after = fn;
  m->after_g = gp;
  m->after_arg = arg;
  ctx_switch(&gp->ctx, &m->g0);
  // Resumed, maybe on another M, maybe by a G that switched straight to us.
  m = getm();
  finish_switch(m);
  unpinp(m);
}

// mcall is called by a G in user code, never inside a pin: it pins (g0 uses
// m->p, and must see it null if sysmon took the P) before it switches.
void mcall(void (*fn)(M*, G*, void*), void* arg) {
  M* m = getm();
  pin_outer(m);
  mcall_pinned(m, fn, arg);
}

void gopark(bool (*commit)(G*, void*), void* arg, const char* reason) {
  G* gp = getg();
  if (!gp) throw_outside_fiber("gort: park");
  gp->waitreason.store(reason, std::memory_order_relaxed);
  gp->waitsince = nanotime_coarse();
  ParkArgs pa{commit, arg};  // lives on gp's stack; read by g0 before gp can resume
  M* m = getm();
  pin_outer(m);  // mcall, inlined
  mcall_pinned(m, park_m, &pa);
  gp->waitreason.store(nullptr, std::memory_order_relaxed);
}

void ready(G* gp) {
  casgstatus(gp, GStatus::Waiting, GStatus::Runnable);
  M* m = getm();
  if (tracing()) {  // before gp is queued: its start comes after
    G* by = m ? m->curg.load(std::memory_order_relaxed) : nullptr;
    trace_emit(m, TraceEv::GoUnblock, gp->goid, by ? by->goid : 0);
  }
  {
    PinGuard pin(m);
    if (P* pp = pin.p()) {
      runqput(pp, gp, true);
    } else {
      globrunqput(gp);  // from a thread without a P (or whose P sysmon took)
    }
  }
  wakep();  // needs no P: outside the pin, a tail call
}

}  // namespace gort::rt

namespace gort {

using namespace gort::rt;

detail::Spawn detail::newproc_begin(std::size_t stack_size, std::size_t closure_size,
                                    std::size_t closure_align) {
  if (!sched.load(std::memory_order_acquire)) throw std::logic_error("gort::go: called outside gort::run");
  // A fiber whose P sysmon took (it ran 10 ms without a switch, e.g. a loop
  // of go() calls) gets a P back first, or waits in the global queue for one,
  // where Go would have preempted it. Spawning on without a P would queue
  // every new G under sched.mu, and run one thread more than there are Ps.
  PinGuard pin = getg() ? PinGuard(pin_with_p(), std::adopt_lock) : PinGuard(getm());
  P* pp = pin.p();
  std::size_t size = stack_size ? stack_round(stack_size) : S().stack_size;
  G* gp = gnew(pp);
  gp->stack_size = size;
  if (closure_size <= kInlineClosure && closure_align <= 16 && stack_lazy_ok()) {
    gp->closure = gp->inline_closure;
    return Spawn{gp, gp->closure};
  }
  // Bind the stack now: for a closure too large for the G (it goes at the
  // top of the stack), or where mapping a stack may fail (stack.hpp).
  if (closure_size > size / 4) {
    gfput(pp, gp);
    throw std::length_error(
        "gort::go: the function and its arguments take more than a quarter of the fiber's stack");
  }
  try {
    gp->stack = stackget(pp, size);
  } catch (...) {
    gfput(pp, gp);
    throw;
  }
  if (closure_size <= kInlineClosure && closure_align <= 16) {
    gp->closure = gp->inline_closure;
  } else {
    auto top = reinterpret_cast<std::uintptr_t>(gp->stack.hi());
    gp->closure = reinterpret_cast<void*>((top - closure_size) & ~(std::uintptr_t(closure_align) - 1));
  }
  return Spawn{gp, gp->closure};
}

void detail::newproc_abort(Spawn s) {
  PinGuard pin(getm());
  P* pp = pin.p();
  G* gp = static_cast<G*>(s.g);
  if (gp->stack) stackput(pp, gp->stack);
  gp->stack = Stack{};
  gfput(pp, gp);
}

void detail::newproc_commit(Spawn s, void (*entry)(void*), const char* file, unsigned line) {
  G* gp = static_cast<G*>(s.g);
  gp->spawn_file = file;
  gp->spawn_line = line;
  gp->entry = entry;
  bool full = false;
  {
    PinGuard pin(getm());
    P* pp = pin.p();
    gp->goid = new_goid(pp);
    if (tracing()) {
      G* parent = pin.m ? pin.m->curg.load(std::memory_order_relaxed) : nullptr;
      trace_emit(pin.m, TraceEv::GoCreate, gp->goid, parent ? parent->goid : 0);
    }
    casgstatus(gp, GStatus::Idle, GStatus::Runnable);
    if (pp) {
      pp->n_spawned.store(pp->n_spawned.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      runqput(pp, gp, true);  // as Go: the new G runs next on this P
      full = runqfull(pp);
    } else {
      S().n_spawned_nop.fetch_add(1, std::memory_order_relaxed);
      globrunqput(gp);
    }
  }
  wakep();  // needs no P
  // A fiber that filled its P's ring yields, to run what it spawned (the top
  // of the file says why). Go queues on: half the ring goes to the global
  // queue at each overflow, until sysmon preempts the spawner after 10 ms.
  if (full && getg()) yield();
}

void yield() {
  M* m = getm();
  G* gp = m ? m->curg.load(std::memory_order_relaxed) : nullptr;
  if (!gp) throw_outside_fiber("gort::yield");
  // Fast path: when schedule() would just take the next G of this P
  // (runq_fast), switch to it directly, skipping the trip through g0. The
  // yielding G goes on the runq only once it is off its stack: the next G
  // does that in finish_switch. Without a P (sysmon took it) the slow path
  // sends the yielder to the global queue.
  pin_outer(m);
  trace_ev(m, TraceEv::GoYield, gp->goid);  // before the next G starts on this M
  if (G* next = runq_fast(m)) {
    m->after = gosched_m;
    m->after_g = gp;
    switch_to_g(m, &gp->ctx, next);
    m = getm();
    finish_switch(m);
    unpinp(m);
    return;
  }
  mcall_pinned(m, gosched_m, nullptr);
}

void sleep_until(std::chrono::steady_clock::time_point t) {
  G* gp = getg();
  if (!gp) throw_outside_fiber("gort::sleep_until");
  std::int64_t when = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  if (when <= nanotime()) return;
  gp->timer.when = when;
  gp->timer.f = ready_timer;
  gp->timer.arg = gp;
  // The commit's addtimer needs this M's P. If sysmon took it, the park is
  // called off (the G goes to the global queue) and we try again, most
  // likely on an M that has a P by then.
  for (bool armed = false; !armed;) {
    gopark(
        [](G* gp, void* armed) {
          if (!getm()->p) return false;
          *static_cast<bool*>(armed) = true;  // before addtimer: the timer may resume gp at once
          addtimer(&gp->timer);
          return true;
        },
        &armed, "sleep");
  }
}

std::uint64_t fiber_id() {
  G* gp = getg();
  return gp ? gp->goid : 0;
}

}  // namespace gort
