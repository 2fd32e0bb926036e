// session.hpp: one client connection through the proxy, from accept to
// close: serve_conn runs it in its own fiber (the talk's serviceConn), and
// ConnInfo is what it learned, for the access log and the metrics.
#pragma once

#include "router.hpp"

#include <gort/net.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace gort::proxy {

// ConnInfo: one connection's record. `end` is "ok" or what ended it: one
// of metrics::kind's names (hello_timeout, not_tls, malformed_hello,
// no_route, dial, tls_handshake, idle_timeout, client_reset,
// upstream_closed), or "proxy_header", "client_closed" (before a route was
// found), "shutdown" (cut at the end of the grace period).
struct ConnInfo {
  std::string listener, client, sni, route, upstream;
  std::uint64_t up_bytes = 0, down_bytes = 0;  // client -> upstream, upstream -> client
  std::chrono::steady_clock::time_point start;
  std::chrono::nanoseconds duration{0};
  std::chrono::nanoseconds hello_time{0}, dial_time{0}, handshake_time{0};  // 0: not done
  std::string end = "ok";
  std::string detail;  // the error behind `end`, in words
};

// Hooks: what serve_conn tells the server as it goes.
struct Hooks {
  // registered(fd): the client's socket, to shut down if the grace period
  // ends while it runs; unregistered before the socket is closed.
  std::function<void(int fd)> registered;
  std::function<void(int fd)> unregistered;
};

// serve_conn proxies conn as ls says, and fills *info.
void serve_conn(net::Conn conn, const ListenerState& ls, ConnInfo* info, const Hooks& hooks);

}  // namespace gort::proxy
