// bench_mutex: a contended gort::Mutex.
//
// Definition (identical to tools/bench/go -test mutex, sync.Mutex): W = 4
// fibers each do N/4 times { mu.lock(); counter++; mu.unlock(); } (nothing
// else, and nothing in the critical section that parks or yields) on one
// shared Mutex; the main fiber waits for them on a WaitGroup. value =
// elapsed / N, ns per lock/unlock pair (N is rounded down to a multiple of 4).
// The counter is checked at the end.
//
// With 1 P the workers only interleave where the scheduler switches them
// (gort: never inside the loop, as nothing parks unless the mutex is held;
// Go: at its 10 ms preemption), so the lock is mostly uncontended; with 2 Ps
// two workers run at once and fight for the lock's cache line.
#include "bench_common.hpp"

#include <cstdint>

int main(int argc, char** argv) {
  auto fl = gortbench::parse_flags(argc, argv, "mutex", 1'000'000);
  constexpr int kWorkers = 4;
  fl.n -= fl.n % kWorkers;
  if (fl.n == 0) gortbench::usage(argv[0], "-n must be at least 4");
  gortbench::start_watchdog();
  gort::Config cfg{.procs = fl.procs};
  bool bad = false;
  const int rc = gort::run(cfg, [&] {
    const gort::FiberOptions opts{.stack_size = fl.stack};
    gortbench::measure(fl, "ns/lock-unlock", [&] {
      gort::Mutex mu;
      std::int64_t counter = 0;
      gort::WaitGroup wg;
      wg.add(kWorkers);
      const std::int64_t per = fl.n / kWorkers;
      for (int w = 0; w < kWorkers; ++w) {
        gort::go(opts, [&mu, &counter, &wg, per] {
          for (std::int64_t i = 0; i < per; ++i) {
            mu.lock();
            ++counter;
            mu.unlock();
          }
          wg.done();
        });
      }
      wg.wait();
      if (counter != fl.n) bad = true;
    });
    return 0;
  });
  if (bad) {
    std::fprintf(stderr, "mutex: counter mismatch\n");
    return 1;
  }
  return rc;
}
