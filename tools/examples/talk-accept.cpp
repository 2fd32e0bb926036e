// talk-accept: the first stage of Filippo Valsorda's GopherCon 2018 talk
// "Asynchronous Networking Patterns": listen, and an accept loop that does
// nothing but accept and start a fiber per connection.
//
//   talk-accept [ADDR]            (default localhost:4242; port 0: any free port)
//
// The talk's Go (stages/1_acceptloop.go), and the same in gort:
//
//   l, err := net.Listen("tcp", "localhost:4242")    auto [ln, err] = gort::net::listen("tcp", addr);
//   if err != nil {                                  if (err) { log; return 1; }
//       log.Fatal(err)
//   }
//   for {                                            for (;;) {
//       conn, err := l.Accept()                        auto [conn, err] = ln.accept();
//       if err != nil {                                if (err) { log; return 1; }
//           log.Fatal(err)
//       }
//       go serviceConn(conn)                           gort::go(service_conn, std::move(conn));
//   }                                                }
//
//   func serviceConn(conn net.Conn) {                void service_conn(gort::net::Conn conn) {
//       n, err := io.Copy(os.Stderr, conn)             ... greet, then echo until EOF ...
//       log.Printf("Copied %d bytes and ended           examples::logf("Copied %zu bytes and ended
//                  with err = %v.", n, err)                           with err = %s.", ...);
//       conn.Close()                                   // conn's destructor closes it
//   }                                                }
//
// The point of the stage: all the work of a connection, even its first
// read, happens in its own fiber. Were service_conn called directly in the
// loop, one client that connects and says nothing would stop every other
// client from being accepted. Here a fiber that waits for bytes parks
// itself only; the accept loop is never held. (The talk copies to stderr;
// this version greets the client and echoes what it sends, so that a test
// can see it work, and keeps the talk's log line.)
//
// Temporary accept errors (the talk's TODO) are handled inside
// Listener::accept, as Go's http.Server does: a connection reset while
// queued is skipped, running out of descriptors backs off and retries.
// SIGINT or SIGTERM ends the program (their default action).
#include <gort/gort.hpp>
#include <gort/net.hpp>

#include <cstddef>
#include <string>

#include "examples.hpp"

namespace {

// service_conn owns its connection: the accept loop moved it here.
void service_conn(gort::net::Conn conn) {
  std::size_t copied = 0;
  std::error_code err;
  if (auto [n, werr] = conn.write("hello " + conn.remote_addr().to_string() + "\n"); werr) {
    err = werr;
  } else {
    char buf[4096];
    for (;;) {
      auto [n, rerr] = conn.read(buf);  // parks this fiber only
      if (n > 0) {
        copied += n;
        if (auto w = conn.write(buf, n); w.err) {
          err = w.err;
          break;
        }
      }
      if (rerr) {
        if (rerr != gort::io_errc::eof) err = rerr;  // as io.Copy: EOF is the normal end, not an error
        break;
      }
    }
  }
  examples::logf("talk-accept: %s: Copied %zu bytes and ended with err = %s.",
                 conn.remote_addr().to_string().c_str(), copied, examples::errstr(err).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  examples::Args args(argc, argv, {"listen"},
                      "usage: talk-accept [[--listen] ADDR]   (default localhost:4242)");
  const std::string addr = args.get("listen", "localhost:4242");
  return gort::run([&] {
    auto [ln, err] = gort::net::listen("tcp", addr);
    if (err) {
      examples::logf("talk-accept: listen %s: %s", addr.c_str(), err.message().c_str());
      return 1;
    }
    examples::announce(ln);
    for (;;) {
      auto [conn, err] = ln.accept();
      if (err) {
        examples::logf("talk-accept: accept: %s", err.message().c_str());
        return 1;
      }
      gort::go(service_conn, std::move(conn));  // all the work happens in a fiber
    }
  });
}
