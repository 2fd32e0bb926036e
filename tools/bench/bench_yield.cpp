// bench_yield: two fibers alternating gort::yield().
//
// Definition (identical to tools/bench/go -test gosched): two fibers each call
// yield() N times; the main fiber waits for both on a WaitGroup (parked, so it
// is not in the run queue). With one P every yield switches to the other fiber,
// so one round trip = A yields to B + B yields back to A = 2 yields, and
// value = elapsed / N is ns per round trip (per pair of yields).
// With more than one P the two fibers may run in parallel and the number is
// only informative.
#include "bench_common.hpp"

int main(int argc, char** argv) {
  auto fl = gortbench::parse_flags(argc, argv, "yield", 1'000'000);
  gortbench::start_watchdog();
  gort::Config cfg{.procs = fl.procs};
  return gort::run(cfg, [&] {
    const gort::FiberOptions opts{.stack_size = fl.stack};
    gortbench::measure(fl, "ns/roundtrip", [&] {
      gort::WaitGroup wg;
      wg.add(2);
      auto body = [&wg, n = fl.n] {
        for (long long i = 0; i < n; ++i) gort::yield();
        wg.done();
      };
      gort::go(opts, body);
      gort::go(opts, body);
      wg.wait();
    });
    return 0;
  });
}
