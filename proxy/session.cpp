// session.cpp: serve_conn (see session.hpp), the talk's per-connection
// code, step by step:
//
//   func serviceConn(conn net.Conn) {                 the talk (prepared.go)
//       defer conn.Close()
//       conn.SetDeadline(time.Now().Add(timeout))     1. deadlines
//       hello, conn := peekClientHello(conn)          2. the ClientHello, replayed later
//       upstream, err := net.Dial("tcp", route(hello.ServerName))   3. dial
//       go io.Copy(upstream, conn)                    4. both ways
//       io.Copy(conn, upstream)
//   }
//
// with a PROXY header read first on a trusted listener, the route chosen by
// the hello (router.hpp), TLS ended here for terminate routes (tls::Conn,
// the talk's tls.Server over the prefixConn), a PROXY header sent to the
// upstream, and the data phase of pipe.hpp (half-close, idle timeout).
// Every phase before the data phase is bounded by its timeout.
//
// Invariant: every conn object is declared before `reg`, the registration
// of the client's socket with the server, so the registration ends (in
// ~Registration) before any of them closes a descriptor: the server never
// shuts down a socket number that has been reused.
#include "session.hpp"

#include "pipe.hpp"
#include "proxy_protocol.hpp"
#include "upstream.hpp"

#include <gort/client_hello.hpp>
#include <gort/tls.hpp>
#include <gort/tls_errors.hpp>

namespace gort::proxy {

namespace {

using Clock = std::chrono::steady_clock;

net::Deadline in(Duration d) { return d.count() > 0 ? Clock::now() + d : net::Deadline{}; }

// Registration: the client's socket, known to the server while it is open.
struct Registration {
  const Hooks& hooks;
  int fd;
  Registration(const Hooks& h, int f) : hooks(h), fd(f) {
    if (hooks.registered && fd >= 0) hooks.registered(fd);
  }
  ~Registration() {
    if (hooks.unregistered && fd >= 0) hooks.unregistered(fd);
  }
};

// hello_end: the `end` for a failed ClientHello peek.
std::string hello_end(const std::error_code& e) {
  if (e == io_errc::timeout) return "hello_timeout";
  if (e == tls_errc::not_tls) return "not_tls";
  if (e == tls_errc::malformed_hello || e == tls_errc::hello_too_large) return "malformed_hello";
  if (e == io_errc::eof || e == io_errc::unexpected_eof) return "client_closed";
  return "client_reset";
}

// data_end: the `end` of the data phase.
void data_end(const PipeResult& r, ConnInfo* info) {
  info->up_bytes = r.up_bytes;
  info->down_bytes = r.down_bytes;
  if (r.idle_timeout) {
    info->end = "idle_timeout";
  } else if (r.up_err && r.up_err != io_errc::closed) {
    info->end = "client_reset";  // reading the client, or writing the upstream
    info->detail = r.up_err.message();
  } else if (r.down_err && r.down_err != io_errc::closed) {
    info->end = "upstream_closed";
    info->detail = r.down_err.message();
  }
}

}  // namespace

void serve_conn(net::Conn conn, const ListenerState& ls, ConnInfo* info, const Hooks& hooks) {
  const Timeouts& t = ls.timeouts;
  info->listener = ls.cfg.name;
  info->client = conn.remote_addr().to_string();
  const int client_fd = conn.fd();
  net::Addr src = conn.remote_addr(), dst = conn.local_addr();

  // The conns, all declared before the registration (see the top).
  net::PrefixConn client(std::move(conn), std::vector<std::byte>{});
  tls::Conn tls_client, tls_upstream;
  net::Conn upstream;
  Registration reg(hooks, client_fd);

  // 0. A PROXY header from a trusted front: the real client's address.
  if (ls.cfg.accept_proxy) {
    auto h = pp::read_header(std::move(client.conn()), in(t.client_hello));
    client = std::move(h.conn);
    if (h.err) {
      info->end = "proxy_header";
      info->detail = h.err.message() + (h.reason.empty() ? "" : ": " + h.reason);
      return;
    }
    if (!h.header.local) {
      src = h.header.src;
      dst = h.header.dst;
      info->client = src.to_string();
    }
  }

  // 1. The ClientHello, when the routes need it, with its bytes kept.
  tls::ClientHello hello;
  const tls::ClientHello* hp = nullptr;
  if (ls.kind == ListenerKind::tls) {
    const auto t0 = Clock::now();
    auto p = tls::peek_client_hello(std::move(client), in(t.client_hello));
    client = std::move(p.conn);
    info->hello_time = Clock::now() - t0;
    if (p.err) {
      info->end = hello_end(p.err);
      info->detail = p.err.message() + (p.reason.empty() ? "" : ": " + p.reason);
      return;
    }
    hello = std::move(p.hello);
    hp = &hello;
    info->sni = hello.server_name;
  }

  // 2. The route. None: close, and nothing is dialed.
  RouteState* route = ls.route_for(hp);
  if (!route) {
    info->end = "no_route";
    info->detail = hello.server_name.empty() ? "no server name" : "no route for " + hello.server_name;
    return;
  }
  info->route = route->cfg.name;

  // 3. Terminate: the TLS handshake with the client, over the bytes peeked.
  const bool terminate = route->cfg.mode == Mode::terminate;
  if (terminate) {
    const auto t0 = Clock::now();
    tls_client = tls::server(std::move(client), route->server_ctx);
    tls_client.set_deadline(in(t.handshake));
    if (auto e = tls_client.handshake()) {
      info->end = "tls_handshake";
      info->detail =
          e.message() + (tls_client.error_detail().empty() ? "" : ": " + tls_client.error_detail());
      return;
    }
    tls_client.set_deadline({});
    info->handshake_time = Clock::now() - t0;
  }

  // 4. Dial the upstream: round-robin, the next one on failure.
  const auto t0 = Clock::now();
  Dialed d = dial_upstream(*route, hello.server_name, t.connect);
  info->dial_time = Clock::now() - t0;
  info->upstream = d.address;
  if (d.err) {
    info->end = "dial";
    info->detail = d.err.message();
    return;
  }
  upstream = std::move(d.conn);

  // 5. A PROXY header for the upstream, then TLS to it if asked.
  if (int v = route->cfg.proxy_protocol) {
    std::vector<pp::Tlv> tlvs;
    if (v == 2 && !hello.server_name.empty()) tlvs.push_back({pp::tlv::authority, hello.server_name});
    upstream.set_write_deadline(in(t.connect));
    if (auto e = pp::write_header(upstream, v, src, dst, tlvs)) {
      info->end = "upstream_closed";
      info->detail = "PROXY header: " + e.message();
      return;
    }
    upstream.set_write_deadline({});
  }
  io::Progress up, down;
  if (route->cfg.upstream_tls) {
    std::string name = route->cfg.upstream_server_name;
    if (name.empty()) name = net::split_host_port(d.address).value.host;
    tls_upstream = tls::client(std::move(upstream), route->upstream_ctx, name);
    tls_upstream.set_deadline(in(t.connect));
    if (auto e = tls_upstream.handshake()) {
      info->end = "dial";
      info->detail = "TLS to the upstream: " + e.message() + ": " + tls_upstream.error_detail();
      return;
    }
    tls_upstream.set_deadline({});
  }

  // 6. Both ways, until both are done.
  PipeResult r;
  if (!terminate)
    r = pipe(client, upstream, t.idle, up, down);  // splice both ways (a prefix first)
  else if (!route->cfg.upstream_tls)
    r = pipe(tls_client, upstream, t.idle, up, down);
  else
    r = pipe(tls_client, tls_upstream, t.idle, up, down);
  data_end(r, info);
}

}  // namespace gort::proxy
