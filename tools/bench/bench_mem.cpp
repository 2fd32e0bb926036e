// bench_mem: RSS per parked fiber. N fibers each signal `started`, then park
// on one WaitGroup (`release`) until main releases them all, as Go's
// `-test mem` parks N goroutines on one channel. RSS is read from
// /proc/self/statm before spawning and 200 ms after the last fiber started
// (so the last ones have parked); value = (after - before) / N bytes.
//
// One measurement per process (no warm-up: pooled stacks would hide the cost,
// and the Go harness measures once too). Extras: spawn+park ns per fiber,
// wake-all ns per fiber, stacks mapped, the fibers alive while parked, and
// page-table bytes per fiber (VmPTE delta / N: kernel memory RSS leaves out).
#include "bench_common.hpp"

int main(int argc, char** argv) {
  auto fl = gortbench::parse_flags(argc, argv, "mem", 1'000'000);
  gortbench::start_watchdog();
  gort::Config cfg{.procs = fl.procs};
  return gort::run(cfg, [&] {
    const gort::FiberOptions opts{.stack_size = fl.stack};
    const long long n = fl.n ? fl.n : 1;
    gort::WaitGroup started, release, exited;
    long long rss0 = gortbench::rss_bytes();
    long long pte0 = gortbench::status_bytes("VmPTE");
    started.add(n);
    exited.add(n);
    release.add(1);
    double t0 = gortbench::now_ns();
    for (long long i = 0; i < n; ++i) {
      gort::go(opts, [&] {
        started.done();
        release.wait();
        exited.done();
      });
    }
    started.wait();
    double spawn = gortbench::now_ns() - t0;
    gort::sleep_for(std::chrono::milliseconds(200));  // let the last ones park
    long long rss1 = gortbench::rss_bytes();
    long long pte1 = gortbench::status_bytes("VmPTE");
    gort::Stats st = gort::stats();
    double t1 = gortbench::now_ns();
    release.done();
    exited.wait();
    double wake = gortbench::now_ns() - t1;
    auto j = gortbench::header(fl, st.procs);
    j.integer("n", n)
        .integer("num_goroutine", static_cast<long long>(st.fibers_alive))
        .integer("rss_before", rss0)
        .integer("rss_after", rss1)
        .num("value", static_cast<double>(rss1 - rss0) / static_cast<double>(n))
        .str("unit", "RSS bytes/goroutine")
        .num("pte_per_g", static_cast<double>(pte1 - pte0) / static_cast<double>(n))
        .integer("stacks_mapped", static_cast<long long>(st.stacks_mapped))
        .integer("ms", st.ms)
        .num("spawn_ns_per_g", spawn / static_cast<double>(n))
        .num("wake_all_ns_per_g", wake / static_cast<double>(n));
    j.print();
    return 0;
  });
}
