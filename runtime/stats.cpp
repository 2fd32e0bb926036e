// stats.cpp: gort::stats(): a snapshot of the scheduler's counters.
#include <gort/stats.hpp>

#include "sched.hpp"
#include "stack.hpp"

namespace gort {

using namespace gort::rt;

Stats stats() {
  Stats st;
  Sched* s = sched.load(std::memory_order_acquire);
  if (!s) return st;
  constexpr auto r = std::memory_order_relaxed;
  st.procs = s->procs;
  std::uint64_t spawned = s->n_spawned_nop.load(r), exited = s->n_exited_nop.load(r);
  for (P* pp : s->allp) {
    spawned += pp->n_spawned.load(r);
    exited += pp->n_exited.load(r);
    st.switches += pp->n_switches.load(r);
    st.steals += pp->n_steals.load(r);
    st.stolen_fibers += pp->n_stolen.load(r);
    st.runq.push_back(runqlen(pp));
    std::lock_guard lk(pp->timers_mu);
    st.timers += pp->timers.size();
  }
  st.fibers_spawned = spawned;
  st.fibers_alive = spawned >= exited ? spawned - exited : 0;
  st.global_runq = static_cast<std::uint64_t>(s->runqsize.load(r));
  st.retakes = s->n_retakes.load(r);
  st.spinning_ms = s->nmspinning.load(r);
  st.idle_ps = s->npidle.load(r);
  {
    std::lock_guard lk(s->mu);
    st.ms = static_cast<int>(s->allm.size());
    st.idle_ms = static_cast<int>(s->midle.size());
  }
  st.stacks_mapped = stacks_mapped();
  return st;
}

}  // namespace gort
