// bench_select4: ping-pong where the responder selects over 4 channels.
//
// Definition (identical to the anchor harness's -test select4, copied into
// tools/bench/go): four unbuffered request channels req[0..3], an unbuffered
// reply channel and a quit channel. The responder fiber loops on
//   select { v := <-req[0..3]: reply <- v;  <-quit: return }
// (five receive cases, no default); the main fiber sends i on req[i & 3] and
// receives the reply, N times, then closes quit. value = elapsed / N, ns per
// round trip.
#include "bench_common.hpp"

#include <array>
#include <cstdint>

namespace {
struct Empty {};  // Go's struct{}
}  // namespace

int main(int argc, char** argv) {
  auto fl = gortbench::parse_flags(argc, argv, "select4", 1'000'000);
  gortbench::start_watchdog();
  gort::Config cfg{.procs = fl.procs};
  return gort::run(cfg, [&] {
    const gort::FiberOptions opts{.stack_size = fl.stack};
    gortbench::measure(fl, "ns/roundtrip", [&] {
      using C = gort::Chan<std::int64_t>;
      std::array<C, 4> req{C(0), C(0), C(0), C(0)};
      C reply(0);
      gort::Chan<Empty> quit(0);
      // The responder holds its own handles (copies), so, as in Go, it may
      // finish after this iteration has returned.
      gort::go(opts, [req, reply, quit]() mutable {
        bool stop = false;
        auto fwd = [&reply](std::int64_t v) { reply.send(v); };
        while (!stop) {
          gort::select(gort::on_recv(req[0], fwd), gort::on_recv(req[1], fwd), gort::on_recv(req[2], fwd),
                       gort::on_recv(req[3], fwd), gort::on_recv(quit, [&stop] { stop = true; }));
        }
      });
      for (std::int64_t i = 0; i < fl.n; ++i) {
        req[i & 3].send(i);
        (void)reply.recv();
      }
      quit.close();
    });
    return 0;
  });
}
