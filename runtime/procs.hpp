// procs.hpp: how many Ps, how big a stack: the runtime's settings from the
// environment.
#pragma once

#include <cstddef>

namespace gort::rt {

// default_procs: $GORT_MAXPROCS if it is a positive number, else the CPUs
// this process may use: its affinity mask, capped by a cgroup CPU quota
// (cgroup v2 cpu.max or v1 cpu.cfs_quota_us, rounded up), at least 1.
int default_procs();

// default_stack_size: $GORT_STACK_SIZE (bytes, or with a K/M suffix) if set
// and valid, else gort::kDefaultStackSize.
std::size_t default_stack_size();

// default_blocking_threads: $GORT_BLOCKING_THREADS (1 to 4096) if set and
// valid, else 64: the most threads gort::blocking's pool makes.
int default_blocking_threads();

// cpu_quota: the cgroup CPU limit of this process in CPUs (rounded up), or 0
// for none. Exposed for tests.
int cpu_quota();

}  // namespace gort::rt
