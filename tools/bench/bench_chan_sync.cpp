// bench_chan_sync: unbuffered channel ping-pong round trip.
//
// Definition (identical to the anchor harness's -test pingpong, copied into
// tools/bench/go): two unbuffered channels ping and pong; a responder fiber
// does `for v in ping: pong.send(v)`, then closes pong; the main fiber sends
// i on ping and receives from pong, N times, then closes ping and receives
// pong's close. value = elapsed / N, ns per round trip (2 sends, 2 receives).
#include "bench_common.hpp"

#include <cstdint>

int main(int argc, char** argv) {
  auto fl = gortbench::parse_flags(argc, argv, "pingpong", 1'000'000);
  gortbench::start_watchdog();
  gort::Config cfg{.procs = fl.procs};
  return gort::run(cfg, [&] {
    const gort::FiberOptions opts{.stack_size = fl.stack};
    gortbench::measure(fl, "ns/roundtrip", [&] {
      gort::Chan<std::int64_t> ping(0), pong(0);
      gort::go(opts, [ping, pong]() mutable {
        for (std::int64_t v : ping) pong.send(v);
        pong.close();
      });
      for (std::int64_t i = 0; i < fl.n; ++i) {
        ping.send(i);
        (void)pong.recv();
      }
      ping.close();
      (void)pong.recv();
    });
    return 0;
  });
}
