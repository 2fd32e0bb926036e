// echo-server: a plain TCP echo server, one fiber per connection and a
// read/write loop; the gort side of the echo benchmark
// (tools/bench/run-echo-bench.sh), against the Go backend of
// /work/shared/bench/echo/main.go, whose shape it copies:
//
//   echo-server [--listen ADDR]      (default 127.0.0.1:9000; port 0: any free port)
//
//   func main() {                                         int main() { return gort::run([] {
//       l, err := net.Listen("tcp", *addr)                   auto [ln, err] = gort::net::listen("tcp", addr);
//       ...                                                   examples::announce(ln);  // "listening on ADDR"
//       for {                                                 for (;;) {
//           c, err := l.Accept()                                auto [c, err] = ln.accept();
//           if err != nil { log; sleep 10ms; continue }         if (err) { log; return 1; }
//           go serve(c)                                         gort::go(serve, std::move(c));
//       }                                                     }
//   }                                                     }); }
//
//   func serve(c net.Conn) {                              void serve(gort::net::Conn c) {
//       defer c.Close()                                       // c's destructor closes it
//       buf := make([]byte, 16<<10)                           std::byte buf[32 << 10];
//       for {                                                 for (;;) {
//           n, err := c.Read(buf)                               auto [n, err] = c.read(buf);
//           if n > 0 {                                          if (n > 0 && c.write(buf, n).err) return;
//               if _, werr := c.Write(buf[:n]); werr != nil {
//                   return
//               }
//           }
//           if err != nil {                                     if (err) return;
//               return
//           }
//       }                                                     }
//   }                                                     }
//
// Listener::accept already rides out the temporary errors Go's loop sleeps
// on (see <gort/net.hpp>), so an error that reaches the loop is fatal here.
// The 32 KiB buffer lives on the fiber's stack: stacks are reserved, not
// committed, so an idle connection costs only the pages its reads touched
// (Go's buffer is 16 KiB on the heap). Stops on SIGINT or SIGTERM (their
// default action).
#include <gort/gort.hpp>
#include <gort/net.hpp>

#include <cstddef>
#include <string>

#include "examples.hpp"

namespace {

void serve(gort::net::Conn c) {
  std::byte buf[32 << 10];
  for (;;) {
    auto [n, err] = c.read(buf);  // parks this fiber until bytes (or EOF) arrive
    if (n > 0 && c.write(buf, n).err) return;
    if (err) return;  // io_errc::eof: the client closed its side
  }
}

}  // namespace

int main(int argc, char** argv) {
  examples::Args args(argc, argv, {"listen"},
                      "usage: echo-server [--listen ADDR]   (default 127.0.0.1:9000)");
  const std::string addr = args.get("listen", "127.0.0.1:9000");
  return gort::run([&] {
    auto [ln, err] = gort::net::listen("tcp", addr);
    if (err) {
      examples::logf("echo-server: listen %s: %s", addr.c_str(), err.message().c_str());
      return 1;
    }
    examples::announce(ln);
    for (;;) {
      auto [c, err] = ln.accept();
      if (err) {
        examples::logf("echo-server: accept: %s", err.message().c_str());
        return 1;
      }
      gort::go(serve, std::move(c));
    }
  });
}
