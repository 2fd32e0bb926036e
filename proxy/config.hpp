// config.hpp: what gort-proxy is told to do, as data: listeners, their
// routes, upstreams, timeouts and limits. Made from flags (flags.cpp: the
// simple case, `--listen A --upstream B`) or from a TOML file
// (config_toml.cpp), then checked by validate() before anything listens.
// A Config is immutable once serving starts; SIGHUP builds a new one and
// swaps it in (serve.cpp), so a fiber reads the Config it started with.
//
// The modes of a route, per the talk's stages:
//   forward      plain TCP: bytes both ways, no look at them (stage 2);
//   passthrough  TLS, routed by the ClientHello's SNI (and ALPN), bytes
//                forwarded as they are: the upstream terminates TLS (stage 3);
//   terminate    TLS ended here with the route's certificate, plaintext (or
//                TLS again, upstream_tls) to the upstream (stage 4).
// A listener with any passthrough or terminate route reads a ClientHello
// first (kind Tls); a listener with one forward route does not (kind Tcp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gort::proxy {

using Duration = std::chrono::nanoseconds;

enum class Mode { forward, passthrough, terminate };

// Timeouts: each bounds one phase of a connection; 0 is none. Defaults as
// documented in proxy/README.md (close to nginx stream's and HAProxy's).
struct Timeouts {
  Duration connect = std::chrono::seconds(5);        // dial of one upstream address
  Duration client_hello = std::chrono::seconds(10);  // reading the ClientHello (and a PROXY header)
  Duration handshake = std::chrono::seconds(10);     // a terminating TLS handshake
  Duration idle = std::chrono::minutes(5);           // no byte either way: the conn is closed
};

// Route: which connections go where, and how.
struct Route {
  std::string name;               // for logs and metrics; default "route<N>"
  Mode mode = Mode::forward;
  std::vector<std::string> sni;   // normalized names and "*." patterns (names.hpp); empty: any
  std::vector<std::string> alpn;  // the ClientHello must offer one of these; empty: any
  bool is_default = false;        // taken when no other route matches
  std::vector<std::string> upstreams;  // "host:port", tried round-robin, the next on a failed dial
  // A route may dial the SNI itself, but only names its sni patterns cover:
  // "{sni}:443" as an upstream. Never for a default route.
  int proxy_protocol = 0;         // 0: none; 1 or 2: send a PROXY header to the upstream
  // terminate only:
  std::string cert_file, key_file;       // this route's certificate
  std::vector<std::string> next_protos;  // ALPN offered to the client
  bool upstream_tls = false;             // re-encrypt to the upstream
  std::string upstream_server_name;      // its SNI and verified name (default: the upstream's host)
  std::string upstream_ca_file;          // roots for it (default: the system's)
  bool upstream_insecure = false;        // skip the upstream's verification (tests only)
};

// Listener: one address the proxy accepts on, and its routes.
struct Listener {
  std::string name;            // default "listener<N>"
  std::string address;         // "127.0.0.1:8443", ":8443", "[::1]:8443"
  bool reuse_port = false;     // SO_REUSEPORT: several gort-proxy processes share it
  bool accept_proxy = false;   // a PROXY header (v1 or v2) comes first, from a trusted front
  std::vector<Route> routes;
  std::optional<Timeouts> timeouts;  // else Config::timeouts
};

struct Config {
  std::string source;  // "flags" or the file's path, for messages
  std::vector<Listener> listeners;
  Timeouts timeouts;
  int max_connections = 10000;  // past it, accept waits (backpressure), never accept-and-drop
  Duration grace_period = std::chrono::seconds(30);  // SIGTERM: transfers may finish this long
  std::string metrics_address;     // "" : none; e.g. "127.0.0.1:9100"
  bool metrics_public = false;     // allow a metrics address beyond loopback
  std::string access_log = "-";    // "-": stderr; "": none; else a file path (appended)
};

// ConfigError: what is wrong, and where: "file:line: key: message" when
// it came from a file, "flag --name: message" from flags.
struct ConfigError {
  std::string message;
  explicit operator bool() const { return !message.empty(); }
};

// validate checks what the parsers cannot see alone: names normalized,
// every route reachable, upstreams in host:port form, one default route at
// most per listener, certificates given for terminate routes (and loadable),
// a metrics address on loopback unless metrics_public. It fills defaults
// (names, sni normalized). The first problem found is returned.
ConfigError validate(Config& cfg);

}  // namespace gort::proxy
