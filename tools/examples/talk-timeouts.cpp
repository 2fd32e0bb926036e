// talk-timeouts: the second stage of Filippo Valsorda's GopherCon 2018 talk
// "Asynchronous Networking Patterns": the accept loop of talk-accept, and a
// deadline on every connection, so that a client that goes silent is
// dropped instead of holding a fiber and a file descriptor forever.
//
//   talk-timeouts [--listen ADDR] [--timeout 30s]   (default localhost:4242; 200ms in the tests)
//
// The talk's Go (the slide: conn.SetDeadline(time.Now().Add(30 * time.Second));
// stages/1_timeouts.go moves it before every read), and the same in gort:
//
//   func serviceConn(conn net.Conn) {           void service_conn(gort::net::Conn conn, ns timeout) {
//       defer conn.Close()                        // conn's destructor closes it
//       for {                                     for (;;) {
//           conn.SetDeadline(                       conn.set_deadline(
//               time.Now().Add(30 * time.Second))       std::chrono::steady_clock::now() + timeout);
//           n, err := conn.Read(buf[:])             auto [n, err] = conn.read(buf);
//           ... write buf[:n] back ...              ... write buf[:n] back ...
//           if err != nil {                         if (err) {
//               log.Printf("... err = %v.", err)        examples::logf("... err = %s.", ...);
//               return // or recover if Timeout()       return;
//           }                                       }
//       }                                         }
//   }                                           }
//
// Fibers are cheap, descriptors are not: without the deadline a client that
// connects and says nothing keeps its socket open as long as it likes, and
// enough of them exhaust the process's descriptors (and then accept fails).
// With it, the silent client's read fails with io_errc::timeout ("i/o
// timeout", == std::errc::timed_out) after `timeout`, the fiber returns and
// the connection is closed. Moving the deadline before every read makes it
// an idle timeout: a client that keeps talking is served as long as it
// likes. set_deadline covers both directions, so a client that sends but
// never reads the echo (our write would park forever once its buffers are
// full) is dropped too. As in talk-accept, the accept loop only accepts: a
// silent client never holds it, even for the length of its timeout.
// SIGINT or SIGTERM ends the program (their default action).
#include <gort/gort.hpp>
#include <gort/net.hpp>

#include <chrono>
#include <cstddef>
#include <string>

#include "examples.hpp"

namespace {

void service_conn(gort::net::Conn conn, std::chrono::nanoseconds timeout) {
  const std::string peer = conn.remote_addr().to_string();
  std::size_t copied = 0;
  std::error_code err;
  conn.set_deadline(std::chrono::steady_clock::now() + timeout);
  if (auto w = conn.write("hello " + peer + "\n"); w.err) {
    err = w.err;
  } else {
    char buf[4096];
    for (;;) {
      conn.set_deadline(std::chrono::steady_clock::now() + timeout);  // the talk's SetDeadline
      auto [n, rerr] = conn.read(buf);
      if (n > 0) {
        copied += n;
        if (auto w = conn.write(buf, n); w.err) {
          err = w.err;
          break;
        }
      }
      if (rerr) {
        if (rerr != gort::io_errc::eof) err = rerr;
        break;
      }
    }
  }
  const char* why = err == std::errc::timed_out ? " (dropped: silent for too long)" : "";
  examples::logf("talk-timeouts: %s: Copied %zu bytes and ended with err = %s.%s", peer.c_str(), copied,
                 examples::errstr(err).c_str(), why);
}

}  // namespace

int main(int argc, char** argv) {
  examples::Args args(
      argc, argv, {"listen", "timeout"},
      "usage: talk-timeouts [--listen ADDR] [--timeout DURATION]   (defaults localhost:4242, 30s)");
  const std::string addr = args.get("listen", "localhost:4242");
  const auto timeout = args.duration("timeout", std::chrono::seconds(30));
  return gort::run([&] {
    auto [ln, err] = gort::net::listen("tcp", addr);
    if (err) {
      examples::logf("talk-timeouts: listen %s: %s", addr.c_str(), err.message().c_str());
      return 1;
    }
    examples::announce(ln);
    for (;;) {
      auto [conn, err] = ln.accept();
      if (err) {
        examples::logf("talk-timeouts: accept: %s", err.message().c_str());
        return 1;
      }
      gort::go(service_conn, std::move(conn), timeout);
    }
  });
}
