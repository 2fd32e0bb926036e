// router.hpp: a listener's routes made ready to serve: for each route its
// TLS contexts and its round-robin cursor, and the choice of a route for a
// ClientHello (route_for). Built from a Config by build_listener; immutable
// after that but for the cursors (atomics), so any number of connection
// fibers read it at once. A reload builds new ones; a connection keeps the
// ListenerState it started with (shared_ptr).
//
// How a route is chosen for a hello with server name S and ALPN list A:
// among routes whose alpn list is empty or shares a name with A, the one
// with the best sni match wins: an exact name in its sni (3), a wildcard
// covering S (2), no sni at all (1, an ALPN-only route); the first in the
// config on a tie. Default routes are looked at only when nothing else
// matched. No match: no route (the connection is closed, nothing dialed).
#pragma once

#include "config.hpp"

#include <gort/client_hello.hpp>
#include <gort/tls.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace gort::proxy {

struct RouteState {
  Route cfg;
  tls::Context server_ctx;             // terminate: the route's certificate and ALPN
  tls::Context upstream_ctx;           // upstream_tls: the client side toward the upstream
  std::atomic<std::uint32_t> next{0};  // round-robin cursor over cfg.upstreams
};

enum class ListenerKind {
  tcp,  // one forward route: no look at the bytes
  tls,  // a ClientHello is read first, and routes chosen by it
};

struct ListenerState {
  Listener cfg;
  Timeouts timeouts;  // cfg.timeouts or the config's
  ListenerKind kind = ListenerKind::tcp;
  std::vector<std::unique_ptr<RouteState>> routes;

  // route_for: the route for hello (see the top of this file); for a tcp
  // listener, its one route whatever hello says (pass nullptr).
  RouteState* route_for(const tls::ClientHello* hello) const;
};

// build_listener makes l's routes ready: certificates loaded, contexts
// made. l must have passed validate(). On failure *err says why (the
// listener and route named) and the result is null.
std::shared_ptr<ListenerState> build_listener(const Listener& l, const Config& cfg, std::string* err);

}  // namespace gort::proxy
