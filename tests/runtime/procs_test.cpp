// Tests of runtime/procs.cpp: GORT_MAXPROCS, CPU affinity, GORT_STACK_SIZE.
#include "gort_test.hpp"

#include <sched.h>

#include <cstdio>
#include <cstdlib>

using gort_test::run_child;

TEST_CASE("procs: GORT_MAXPROCS sets the number of Ps") {
  auto r = run_child([] {
    setenv("GORT_MAXPROCS", "3", 1);
    return gort::run([] { return gort::stats().procs; });
  });
  CHECK(r.status == 3);
}

TEST_CASE("procs: a bad GORT_MAXPROCS is ignored with a warning") {
  auto r = run_child([] {
    setenv("GORT_MAXPROCS", "lots", 1);
    return gort::run([] { return gort::stats().procs; });
  });
  CHECK(r.status >= 1);
  CHECK(r.err.find("ignoring GORT_MAXPROCS=lots") != std::string::npos);
}

TEST_CASE("procs: by default there is one P per CPU the process may run on") {
  auto r = run_child([] {
    unsetenv("GORT_MAXPROCS");
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return 99;
    return gort::run([] { return gort::stats().procs; });
  });
  CHECK(r.status == 1);
}

namespace {
// 600 KiB of frames in a fiber with the default stack size.
int deep_fiber() {
  return gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      gort_test::use_stack(600);
      wg.done();
    });
    wg.wait();
    return 0;
  });
}
}  // namespace

TEST_CASE("procs: GORT_STACK_SIZE sets the default fiber stack size") {
  // 600 KiB of frames: overflows the 256 KiB default, fits in 1 MiB.
  auto r = run_child([] {
    setenv("GORT_STACK_SIZE", "1M", 1);
    return deep_fiber();
  });
  CHECK(r.status == 0);
  auto small = run_child([] {
    setenv("GORT_STACK_SIZE", "128K", 1);
    return deep_fiber();
  });
  CHECK(small.status == 2);
  CHECK(small.err.find("stack overflow") != std::string::npos);
}
