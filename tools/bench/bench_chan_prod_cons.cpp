// bench_chan_prod_cons: buffered channel throughput, one producer, one consumer.
//
// Definition (identical to the anchor harness's -test bufchan, copied into
// tools/bench/go): a channel of capacity 128; a producer fiber sends
// 0..N-1 and closes it; the main fiber receives with a range loop (summing
// the values) until the channel is closed and drained. value = elapsed / N,
// ns per item.
#include "bench_common.hpp"

#include <cstdint>

int main(int argc, char** argv) {
  auto fl = gortbench::parse_flags(argc, argv, "bufchan", 1'000'000);
  gortbench::start_watchdog();
  gort::Config cfg{.procs = fl.procs};
  volatile std::int64_t sink = 0;
  const int rc = gort::run(cfg, [&] {
    const gort::FiberOptions opts{.stack_size = fl.stack};
    gortbench::measure(fl, "ns/item", [&] {
      gort::Chan<std::int64_t> ch(128);
      gort::go(opts, [ch, n = fl.n]() mutable {
        for (std::int64_t i = 0; i < n; ++i) ch.send(i);
        ch.close();
      });
      std::int64_t sum = 0;
      for (std::int64_t v : ch) sum += v;
      sink = sum;
    });
    return 0;
  });
  const std::int64_t n = fl.n;
  if (sink != n * (n - 1) / 2) {
    std::fprintf(stderr, "bufchan: wrong sum %lld\n", static_cast<long long>(sink));
    return 1;
  }
  return rc;
}
