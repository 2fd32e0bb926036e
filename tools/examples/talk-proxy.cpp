// talk-proxy: the third stage of Filippo Valsorda's GopherCon 2018 talk
// "Asynchronous Networking Patterns": the accept loop and the deadline of
// the first two stages, and a TCP proxy behind them. Each connection dials
// the upstream and copies both ways with io::copy, which splices: the bytes
// go socket -> pipe -> socket and never enter user space.
//
//   talk-proxy [--listen ADDR] [--upstream ADDR] [--timeout 10m]
//              (defaults 127.0.0.1:9100, 127.0.0.1:9000, 10m: the Go proxy's)
//
// It mirrors the Go proxy of the benchmark harness, flags and all
// (/work/shared/bench/goproxy/main.go; tools/bench/run-proxy-bench.sh runs
// the two side by side). Its Go, and the same in gort:
//
//   func proxy(conn net.Conn) {                  void proxy(gort::net::Conn conn, const Config& cfg) {
//       defer conn.Close()                         // conn's and upstream's destructors close them
//       deadline := time.Now().Add(*timeout)       auto deadline = steady_clock::now() + cfg.timeout;
//       conn.SetDeadline(deadline)                 conn.set_deadline(deadline);
//       upstream, err := net.DialTimeout("tcp",    auto [upstream, err] = gort::net::dial_timeout("tcp",
//           *upstreamAddr, 5*time.Second)              cfg.upstream, std::chrono::seconds(5));
//       if err != nil {                            if (err) {
//           log.Println(err)                           examples::logf("... dial ...");
//           return                                     return;
//       }                                          }
//       defer upstream.Close()
//       upstream.SetDeadline(deadline)             upstream.set_deadline(deadline);
//       go func() {                                gort::go([&] {
//           io.Copy(upstream, conn)                  up = gort::io::copy(upstream, conn);
//           upstream.(*net.TCPConn).CloseWrite()     upstream.close_write();
//       }()                                          wg.done();
//                                                  });
//       io.Copy(conn, upstream)                    auto down = gort::io::copy(conn, upstream);
//   }                                              upstream.close();  // Go's deferred Closes, now
//                                                  conn.close();
//                                                  wg.wait();  // the other fiber is done with both
//                                                }
//
// Deadlines: as in the Go proxy, one absolute deadline set once on both
// conns, a cap on the connection's whole lifetime (10 minutes by default),
// not talk-timeouts' idle timeout. io::copy splices chunk after chunk (up
// to a pipe's size, 1 MiB) without coming back to us, so there is no read
// before which to move a deadline; Go's io.Copy is the same. A transfer
// still running at the deadline is cut, however busy: both copies fail
// with "i/o timeout" and the connection is closed. Longer bulk transfers
// need a larger --timeout (0: none; in the Go proxy 0 would expire at
// once). The dial has its own 5 s bound, as in Go.
//
// Ending. The client's FIN is passed on: when the client -> upstream copy
// sees EOF, upstream.close_write() lets the upstream see EOF too (the Go
// proxy's one deviation from the talk), and the upstream -> client copy
// goes on, so a client that half-closes still gets the rest of the reply.
// When the upstream -> client copy ends (the upstream is done, an error,
// the deadline), the connection is over, as in Go: both conns are closed at
// once, which wakes the other copy if it still runs (io_errc::closed).
// Closing before waiting matters: were we to wait first, an upstream that
// closes while its client stays silent would hold both conns (and the
// client, which never hears the upstream's EOF) until the deadline. Then
// this fiber waits for the other one: in Go that goroutine may outlive
// proxy(), the garbage collector keeping its conns alive; here conn and
// upstream live in this fiber's frame, so it must not return while the
// other fiber is still inside a call on them.
//
// Logging, as the Go proxy's: a failed dial is logged, and a connection
// that ends with an error other than our own close (a reset, the deadline)
// gets the talk's "Proxy connection finished with err = ..." line. A normal
// end logs nothing, so that a benchmark does not measure stderr. SIGINT or
// SIGTERM ends the program (their default action).
#include <gort/gort.hpp>
#include <gort/io.hpp>
#include <gort/net.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>

#include "examples.hpp"

namespace {

struct Config {
  std::string upstream;
  std::chrono::nanoseconds timeout;  // the lifetime cap; 0: none
};

// reported is the error worth a log line. Our own close of the conns ends
// the other copy with io_errc::closed: that is how a connection ends, not
// a failure.
std::error_code reported(std::error_code down, std::error_code up) {
  if (down && down != gort::io_errc::closed) return down;
  if (up && up != gort::io_errc::closed) return up;
  return {};
}

// proxy serves one client: it owns conn (the accept loop moved it here)
// and the upstream conn it dials.
void proxy(gort::net::Conn conn, const Config* cfg) {
  gort::net::Deadline deadline{};  // none
  if (cfg->timeout.count() > 0) deadline = std::chrono::steady_clock::now() + cfg->timeout;
  conn.set_deadline(deadline);
  auto [dialed, err] = gort::net::dial_timeout("tcp", cfg->upstream, std::chrono::seconds(5));
  if (err) {
    examples::logf("talk-proxy: %s: dial tcp %s: %s", conn.remote_addr().to_string().c_str(),
                   cfg->upstream.c_str(), err.message().c_str());
    return;
  }
  gort::net::Conn upstream = std::move(dialed);  // a variable: clang 14 cannot capture a structured binding
  upstream.set_deadline(deadline);

  gort::WaitGroup wg;
  gort::Result<std::uint64_t> up;
  wg.add(1);
  gort::go([&] {
    up = gort::io::copy(upstream, conn);  // client -> upstream (splice)
    upstream.close_write();               // pass the client's FIN on
    wg.done();
  });
  auto down = gort::io::copy(conn, upstream);  // upstream -> client (splice), in this fiber
  upstream.close();                            // Go's deferred Closes, before the wait:
  conn.close();                                // they end the other copy if it still runs
  wg.wait();                                   // from here on nobody else uses the conns

  if (auto e = reported(down.err, up.err); e) {  // (a closed Conn keeps its addresses)
    examples::logf("talk-proxy: %s: Proxy connection finished with err = %s. (%llu bytes up, %llu down)",
                   conn.remote_addr().to_string().c_str(), e.message().c_str(),
                   static_cast<unsigned long long>(up.value), static_cast<unsigned long long>(down.value));
  }
}

}  // namespace

int main(int argc, char** argv) {
  examples::Args args(argc, argv, {"listen", "upstream", "timeout"},
                      "usage: talk-proxy [--listen ADDR] [--upstream ADDR] [--timeout DURATION]\n"
                      "       (defaults 127.0.0.1:9100, 127.0.0.1:9000, 10m; --timeout 0: no deadline)");
  const std::string addr = args.get("listen", "127.0.0.1:9100");
  const Config cfg{args.get("upstream", "127.0.0.1:9000"),
                   args.duration("timeout", std::chrono::minutes(10))};
  return gort::run([&] {
    auto [ln, err] = gort::net::listen("tcp", addr);
    if (err) {
      examples::logf("talk-proxy: listen %s: %s", addr.c_str(), err.message().c_str());
      return 1;
    }
    examples::announce(ln);
    examples::logf("talk-proxy: proxying %s -> %s", ln.addr().to_string().c_str(), cfg.upstream.c_str());
    for (;;) {
      auto [conn, err] = ln.accept();
      if (err) {
        examples::logf("talk-proxy: accept: %s", err.message().c_str());
        return 1;
      }
      gort::go(proxy, std::move(conn), &cfg);  // never do work in the accept loop
    }
  });
}
