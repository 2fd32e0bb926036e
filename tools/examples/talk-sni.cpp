// talk-sni: the fourth and fifth stages of Filippo Valsorda's GopherCon 2018
// talk "Asynchronous Networking Patterns": read the TLS ClientHello a client
// sends first, log the server name it asks for (SNI), pick the upstream by
// that name, and proxy the connection there with the bytes already read put
// back in front. No TLS is spoken here: the client's handshake goes through
// to the upstream untouched.
//
//   talk-sni [--listen ADDR] [--routes NAME=ADDR,NAME=ADDR...] [--timeout 30s]
//            (defaults localhost:4242, no routes, 30s for the ClientHello)
//   talk-sni --routes a.test=127.0.0.1:9001,b.test=127.0.0.1:9002
//
// The talk's Go (stages/3_logsni.go and 4_proxyandsni.go; prepared.go), in
// outline, and the same in gort:
//
//   conn.SetDeadline(30s from now)                peek_client_hello(std::move(conn), now + timeout)
//   var buf bytes.Buffer                            reads until the hello is whole, under the
//   io.CopyN(&buf, conn, 5)  // record header       deadline, then clears it; every byte it read
//   io.CopyN(&buf, conn, length)                    stays in the PrefixConn it returns
//   ch, ok := ParseClientHello(buf.Bytes())       hello.server_name (lower-cased), hello.alpn, ...
//   log.Printf("... SNI %q!", ch.SNI)             examples::logf("... SNI \"%s\"", ...)
//   conn.SetDeadline(time.Time{})                 (peek_client_hello cleared it)
//   proxyConn(prefixConn{                         PrefixConn client = std::move(peeked.conn);
//       Reader: io.MultiReader(&buf, conn),       dial the route's upstream, then
//       Conn:   conn,                             io::copy(upstream, client): the hello from memory,
//   }, "gophercon.com:443")                       then splice
//
// Where the Go version reads one record (a hello fragmented over several
// records, as some clients send it, is cut), peek_client_hello reassembles
// records, caps the hello at 16 KiB, and refuses what is not TLS. And where
// Go's io.Copy from the prefixConn loses splice(2) (the MultiReader hides
// the TCPConn), gort's io::copy writes the prefix and then splices from the
// conn underneath.
//
// What runs underneath: the accept loop starts a fiber per connection; the
// fiber parks in the netpoller while the hello trickles in (a client that
// sends nothing holds only its own fiber, and only until the deadline); the
// dial parks until the connect completes; then two fibers copy, one each
// way, each parked until its source has bytes. The end is talk-proxy's: the
// client's FIN is passed on with close_write, and when the upstream is done
// both conns are closed and this fiber waits for the other before its frame
// (which holds both conns) goes away.
//
// Every connection logs one line when it ends. SIGINT or SIGTERM ends the
// program (their default action).
#include <gort/client_hello.hpp>
#include <gort/gort.hpp>
#include <gort/io.hpp>
#include <gort/net.hpp>
#include <gort/prefix_conn.hpp>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

#include "examples.hpp"

namespace {

const char kUsage[] =
    "usage: talk-sni [--listen ADDR] [--routes NAME=ADDR,NAME=ADDR...] [--timeout DURATION]\n"
    "       (defaults localhost:4242, no routes, 30s: how long a client may take to send its ClientHello)";

struct Config {
  std::map<std::string, std::string> routes;  // server name (lower case) -> upstream address
  std::chrono::nanoseconds timeout;           // for the ClientHello
};

// parse_routes reads "a.test=127.0.0.1:9001,b.test=127.0.0.1:9002".
std::map<std::string, std::string> parse_routes(std::string_view s) {
  std::map<std::string, std::string> routes;
  while (!s.empty()) {
    std::string_view item = s.substr(0, s.find(','));
    s.remove_prefix(item.size() < s.size() ? item.size() + 1 : item.size());
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      std::fprintf(stderr, "invalid route \"%.*s\": want NAME=HOST:PORT\n%s\n", static_cast<int>(item.size()),
                   item.data(), kUsage);
      std::exit(2);
    }
    std::string name(item.substr(0, eq));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    routes[name] = std::string(item.substr(eq + 1));
  }
  return routes;
}

// serve_conn owns the client's connection: the accept loop moved it here.
void serve_conn(gort::net::Conn conn, const Config* cfg) {
  const std::string peer = conn.remote_addr().to_string();

  // 1. The ClientHello: read until it is whole, under a deadline. Whatever
  // happens, peeked.conn holds the conn with every byte read put back.
  gort::tls::PeekResult peeked =
      gort::tls::peek_client_hello(std::move(conn), std::chrono::steady_clock::now() + cfg->timeout);
  if (peeked.err) {
    examples::logf("talk-sni: %s: no ClientHello: %s%s%s%s", peer.c_str(), peeked.err.message().c_str(),
                   peeked.reason.empty() ? "" : " (", peeked.reason.c_str(),
                   peeked.reason.empty() ? "" : ")");
    return;  // peeked.conn's destructor closes the connection
  }
  const std::string sni = peeked.hello.server_name;
  examples::logf("talk-sni: %s: Received connection for SNI \"%s\"", peer.c_str(), sni.c_str());

  // 2. The route: the upstream for that name.
  auto route = cfg->routes.find(sni);
  if (route == cfg->routes.end()) {
    examples::logf("talk-sni: %s: no route for SNI \"%s\"", peer.c_str(), sni.c_str());
    return;
  }

  // 3. The talk's proxyConn, over the conn with the hello put back.
  gort::net::PrefixConn client = std::move(peeked.conn);
  auto [dialed, err] = gort::net::dial_timeout("tcp", route->second, std::chrono::seconds(5));
  if (err) {
    examples::logf("talk-sni: %s: dial tcp %s: %s", peer.c_str(), route->second.c_str(),
                   err.message().c_str());
    return;
  }
  gort::net::Conn upstream = std::move(dialed);  // a variable: clang 14 cannot capture a structured binding

  gort::WaitGroup wg;
  gort::Result<std::uint64_t> up;
  wg.add(1);
  gort::go([&] {
    up = gort::io::copy(upstream, client);  // the hello from memory, then splice
    upstream.close_write();                 // pass the client's FIN on
    wg.done();
  });
  auto down = gort::io::copy(client, upstream);  // upstream -> client (splice), in this fiber
  upstream.close();                              // as talk-proxy: close both, which ends
  client.close();                                // the other copy if it still runs,
  wg.wait();                                     // then wait for it to leave the conns

  std::error_code end = down.err && down.err != gort::io_errc::closed ? down.err
                        : up.err && up.err != gort::io_errc::closed   ? up.err
                                                                      : std::error_code{};
  examples::logf(
      "talk-sni: %s: SNI \"%s\" -> %s: Proxy connection finished with err = %s. (%llu bytes up, %llu down)",
      peer.c_str(), sni.c_str(), route->second.c_str(), examples::errstr(end).c_str(),
      static_cast<unsigned long long>(up.value), static_cast<unsigned long long>(down.value));
}

}  // namespace

int main(int argc, char** argv) {
  examples::Args args(argc, argv, {"listen", "routes", "timeout"}, kUsage);
  const std::string addr = args.get("listen", "localhost:4242");
  const Config cfg{parse_routes(args.get("routes", "")), args.duration("timeout", std::chrono::seconds(30))};
  return gort::run([&] {
    auto [ln, err] = gort::net::listen("tcp", addr);
    if (err) {
      examples::logf("talk-sni: listen %s: %s", addr.c_str(), err.message().c_str());
      return 1;
    }
    examples::announce(ln);
    for (const auto& [name, upstream] : cfg.routes)
      examples::logf("talk-sni: route \"%s\" -> %s", name.c_str(), upstream.c_str());
    for (;;) {
      auto [conn, err] = ln.accept();
      if (err) {
        examples::logf("talk-sni: accept: %s", err.message().c_str());
        return 1;
      }
      gort::go(serve_conn, std::move(conn), &cfg);  // the peek, too, happens in the fiber
    }
  });
}
