// bench_spawn: spawn N fibers that each do wg.done(); the main fiber waits.
// Reports ns per fiber (spawn + run + complete), median of -iters iterations.
// Go equivalent: tools/bench/go -test spawn (go func() { wg.Done() }()).
#include "bench_common.hpp"

int main(int argc, char** argv) {
  auto fl = gortbench::parse_flags(argc, argv, "spawn", 1'000'000);
  gortbench::start_watchdog();
  gort::Config cfg{.procs = fl.procs};
  return gort::run(cfg, [&] {
    const gort::FiberOptions opts{.stack_size = fl.stack};
    gortbench::measure(fl, "ns/goroutine", [&] {
      gort::WaitGroup wg;
      wg.add(fl.n);
      for (long long i = 0; i < fl.n; ++i) gort::go(opts, [&wg] { wg.done(); });
      wg.wait();
    });
    return 0;
  });
}
