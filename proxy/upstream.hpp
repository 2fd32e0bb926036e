// upstream.hpp: dialing a route's upstream: its addresses taken in
// round-robin order from the route's cursor, the next one tried when a
// dial fails (refused, unreachable, timed out), each dial bounded by the
// connect timeout. "{sni}" in an upstream stands for the client's server
// name, which validate() allows only on routes whose sni patterns cover it
// (route_for checked that they do), so the proxy never dials a name it was
// not told to.
#pragma once

#include "router.hpp"

#include <gort/net.hpp>

#include <string>

namespace gort::proxy {

struct Dialed {
  net::Conn conn;
  std::string address;  // the upstream that answered (or the last one tried)
  std::error_code err;  // the last failure, if none answered
  int attempts = 0;
};

Dialed dial_upstream(RouteState& route, const std::string& sni, Duration connect_timeout);

}  // namespace gort::proxy
