// gort/stats.hpp: counters of the running scheduler.
//
// stats() takes a snapshot of counters that the scheduler updates with relaxed
// atomics; the fields are each exact but not taken at one instant. Counters
// cover the current gort::run; outside one, stats() returns zeros.
#pragma once

#include <cstdint>
#include <vector>

namespace gort {

struct Stats {
  int procs = 0;                     // Ps (GORT_MAXPROCS)
  std::uint64_t fibers_alive = 0;    // spawned and not yet finished
  std::uint64_t fibers_spawned = 0;  // total gort::go calls (+1 for main)
  std::uint64_t switches = 0;        // stack switches into fibers
  std::uint64_t steals = 0;          // successful steals from another P's run queue
  std::uint64_t stolen_fibers = 0;   // fibers moved by those steals
  std::vector<std::uint32_t> runq;   // per-P local run queue length (incl. runnext)
  std::uint64_t global_runq = 0;     // fibers in the global run queue
  int ms = 0;                        // OS threads (Ms) running the scheduler
  int spinning_ms = 0;               // Ms looking for work
  int idle_ms = 0;                   // Ms asleep, waiting for work
  int idle_ps = 0;                   // Ps with nothing to run
  std::uint64_t timers = 0;          // pending timers (sleeping fibers)
  std::uint64_t retakes = 0;         // Ps sysmon took from fibers that ran 10 ms without a switch
  std::uint64_t stacks_mapped = 0;   // fiber stacks mapped (in use or pooled)
};

Stats stats();

}  // namespace gort
