// config.cpp: validate(), the checks a Config must pass before anything
// listens, whether it came from flags or a file (config.hpp); and what
// flags and the file share to read values: parse_duration, read_whole_file
// (declared in config_toml.hpp).
//
// Order: the defaults first (names, so that every message can name its
// listener and route; sni patterns normalized), then the top-level values,
// then each listener and its routes, then what spans routes (one default,
// nothing unreachable) and listeners (no address twice). The first problem
// wins. Keys in messages and ConfigPlaces are spelled as in the TOML file
// (config_toml.hpp), so "cert" for Route::cert_file.
#include "config.hpp"

#include "config_toml.hpp"
#include "names.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <gort/net.hpp>
#include <gort/tls.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <set>
#include <system_error>
#include <utility>

namespace gort::proxy {

namespace {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::forward: return "forward";
    case Mode::passthrough: return "passthrough";
    case Mode::terminate: return "terminate";
  }
  return "?";
}

// parse_port: decimal 0..65535 ("" and names like "https" are refused).
bool parse_port(std::string_view s, int* port) {
  if (s.empty() || s.size() > 5) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *port = v;
  return v <= 65535;
}

// ip_family: AF_INET or AF_INET6 if host is an IP literal (a "%zone" allowed
// on IPv6), else 0. *loopback tells whether it is 127.0.0.0/8 or ::1.
int ip_family(const std::string& host, bool* loopback) {
  in_addr a4{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    *loopback = (ntohl(a4.s_addr) >> 24) == 127;
    return AF_INET;
  }
  in6_addr a6{};
  std::string h = host.substr(0, host.find('%'));
  if (::inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
    *loopback = IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return AF_INET6;
  }
  *loopback = false;
  return 0;
}

// check_host_port: "" if hp is host:port with a numeric port (0 only if
// zero_port) and a host that is empty (only if empty_host), an IP literal,
// a DNS name or, if sni_host, "{sni}"; else why not.
std::string check_host_port(const std::string& hp, bool zero_port, bool empty_host, bool sni_host,
                            net::HostPort* out = nullptr) {
  auto [split, err] = net::split_host_port(hp);
  if (err == io_errc::missing_port) return quote(hp) + " has no port";
  if (err) return quote(hp) + ": " + err.message();
  int port = 0;
  if (!parse_port(split.port, &port))
    return quote(hp) + ": port " + quote(split.port) + " is not a number 0-65535";
  if (port == 0 && !zero_port) return quote(hp) + ": port 0 cannot be dialled";
  bool loopback = false;
  if (split.host.empty()) {
    if (!empty_host) return quote(hp) + " has no host";
  } else if (split.host == "{sni}") {
    if (!sni_host) return quote(hp) + ": \"{sni}\" is only for upstreams";
  } else if (!ip_family(split.host, &loopback) && normalize_name(split.host).empty()) {
    return quote(hp) + ": " + quote(split.host) + " is neither an IP address nor a DNS name";
  }
  if (out) *out = std::move(split);
  return {};
}

// Checker: validate's state, and fail(), which builds the message and
// the ConfigPlace from the same parts.
struct Checker {
  Config& cfg;
  ConfigPlace* where;

  ConfigError fail(int l, int r, std::string key, int item, const std::string& msg) {
    std::string m;
    if (l >= 0) m += "listener " + quote(cfg.listeners[l].name) + ": ";
    if (r >= 0) m += "route " + quote(cfg.listeners[l].routes[r].name) + ": ";
    if (!key.empty()) m += key + ": ";
    m += msg;
    if (where) *where = ConfigPlace{l, r, std::move(key), item};
    return ConfigError{m};
  }

  ConfigError timeouts(int l, const Timeouts& t) {
    const std::pair<const char*, Duration> all[] = {
        {"timeouts.connect", t.connect},
        {"timeouts.client_hello", t.client_hello},
        {"timeouts.handshake", t.handshake},
        {"timeouts.idle", t.idle},
    };
    for (auto& [key, d] : all)
      if (d < Duration::zero()) return fail(l, -1, key, -1, "must not be negative (0 is no timeout)");
    return {};
  }

  ConfigError top() {
    if (cfg.max_connections < 1) return fail(-1, -1, "max_connections", -1, "must be at least 1");
    if (cfg.grace_period < Duration::zero()) return fail(-1, -1, "grace_period", -1, "must not be negative");
    if (auto e = timeouts(-1, cfg.timeouts)) return e;
    if (!cfg.metrics_address.empty()) {
      net::HostPort hp;
      std::string why = check_host_port(cfg.metrics_address, true, true, false, &hp);
      if (!why.empty()) return fail(-1, -1, "metrics.address", -1, why);
      bool loopback = false;
      ip_family(hp.host, &loopback);
      std::string host = hp.host;
      std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!loopback && host != "localhost" && !cfg.metrics_public)
        return fail(-1, -1, "metrics.address", -1,
                    quote(cfg.metrics_address) +
                        " is not on loopback (127.0.0.0/8, ::1, localhost); set metrics.public = true "
                        "to serve metrics beyond this host");
    }
    if (cfg.listeners.empty()) return fail(-1, -1, "listener", -1, "no listeners");
    return {};
  }

  ConfigError names(const std::vector<std::string>& list, int l, int r, const char* key) {
    for (std::size_t i = 0; i < list.size(); i++) {
      if (list[i].empty()) return fail(l, r, key, int(i), "an empty protocol name");
      if (list[i].size() > 255) return fail(l, r, key, int(i), "a protocol name over 255 bytes");
    }
    return {};
  }

  ConfigError route(int l, int r) {
    Listener& ln = cfg.listeners[l];
    Route& rt = ln.routes[r];
    for (std::size_t i = 0; i < rt.sni.size(); i++) {
      std::string n = normalize_name(rt.sni[i], true);
      if (n.empty())
        return fail(l, r, "sni", int(i), quote(rt.sni[i]) + " is not a DNS name nor a \"*.\" pattern of one");
      rt.sni[i] = std::move(n);
    }
    if (auto e = names(rt.alpn, l, r, "alpn")) return e;
    if (rt.mode == Mode::forward) {
      if (ln.routes.size() > 1)
        return fail(l, r, "mode", -1,
                    "a forward route must be its listener's only route (this one has " +
                        std::to_string(ln.routes.size()) + "): forward does not read the ClientHello");
      if (!rt.sni.empty())
        return fail(l, r, "sni", -1, "a forward route cannot match names (it reads no ClientHello)");
      if (!rt.alpn.empty())
        return fail(l, r, "alpn", -1, "a forward route cannot match ALPN (it reads no ClientHello)");
    } else if (rt.sni.empty() && rt.alpn.empty() && !rt.is_default) {
      return fail(l, r, "", -1,
                  std::string("a ") + mode_name(rt.mode) + " route needs sni, alpn or default = true");
    }
    if (rt.proxy_protocol < 0 || rt.proxy_protocol > 2)
      return fail(l, r, "proxy_protocol", -1,
                  "must be 0 (none), 1 or 2, not " + std::to_string(rt.proxy_protocol));
    if (rt.upstreams.empty()) return fail(l, r, "upstreams", -1, "none given: a route needs at least one");
    for (std::size_t i = 0; i < rt.upstreams.size(); i++) {
      net::HostPort hp;
      std::string why = check_host_port(rt.upstreams[i], false, false, true, &hp);
      if (!why.empty()) return fail(l, r, "upstreams", int(i), why);
      if (hp.host == "{sni}" && (rt.sni.empty() || rt.is_default))
        return fail(l, r, "upstreams", int(i),
                    quote(rt.upstreams[i]) +
                        ": \"{sni}\" needs sni patterns on a route that is not the default "
                        "(else any name a client sends would be dialled)");
    }
    return rt.mode == Mode::terminate ? terminate(l, r) : not_terminate(l, r);
  }

  ConfigError terminate(int l, int r) {
    Route& rt = cfg.listeners[l].routes[r];
    if (rt.cert_file.empty()) return fail(l, r, "cert", -1, "a terminate route needs a certificate file");
    if (rt.key_file.empty()) return fail(l, r, "key", -1, "a terminate route needs a key file");
    std::string cert, key, why;
    if (!read_whole_file(rt.cert_file, &cert, &why)) return fail(l, r, "cert", -1, why);
    if (!read_whole_file(rt.key_file, &key, &why)) return fail(l, r, "key", -1, why);
    if (auto pair = tls::x509_key_pair(cert, key); pair.err) {
      if (cert.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        return fail(l, r, "cert", -1, quote(rt.cert_file) + " holds no PEM certificate");
      if (key.find("PRIVATE KEY-----") == std::string::npos)
        return fail(l, r, "key", -1, quote(rt.key_file) + " holds no PEM private key");
      return fail(l, r, "key", -1,
                  quote(rt.key_file) + " is not the key of " + quote(rt.cert_file) +
                      " (or one is malformed: " + pair.err.message() + ")");
    }
    if (auto e = names(rt.next_protos, l, r, "next_protos")) return e;
    if (!rt.upstream_tls) {
      if (!rt.upstream_server_name.empty())
        return fail(l, r, "upstream_server_name", -1, "needs upstream_tls = true");
      if (!rt.upstream_ca_file.empty()) return fail(l, r, "upstream_ca", -1, "needs upstream_tls = true");
      if (rt.upstream_insecure) return fail(l, r, "upstream_insecure", -1, "needs upstream_tls = true");
    }
    if (!rt.upstream_ca_file.empty()) {
      std::string ca;
      if (!read_whole_file(rt.upstream_ca_file, &ca, &why)) return fail(l, r, "upstream_ca", -1, why);
      if (ca.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        return fail(l, r, "upstream_ca", -1, quote(rt.upstream_ca_file) + " holds no PEM certificate");
    }
    return {};
  }

  ConfigError not_terminate(int l, int r) {
    Route& rt = cfg.listeners[l].routes[r];
    const std::pair<const char*, bool> only[] = {
        {"cert", !rt.cert_file.empty()},
        {"key", !rt.key_file.empty()},
        {"next_protos", !rt.next_protos.empty()},
        {"upstream_tls", rt.upstream_tls},
        {"upstream_server_name", !rt.upstream_server_name.empty()},
        {"upstream_ca", !rt.upstream_ca_file.empty()},
        {"upstream_insecure", rt.upstream_insecure},
    };
    for (auto& [key, set] : only)
      if (set)
        return fail(l, r, key, -1, std::string("only for mode = \"terminate\", not ") + mode_name(rt.mode));
    return {};
  }

  // across_routes: one default at most, and no (sni, alpn) pair twice (the
  // later route could never be chosen for it). "" stands for "any".
  ConfigError across_routes(int l) {
    Listener& ln = cfg.listeners[l];
    int dflt = -1;
    std::set<std::pair<std::string, std::string>> seen;
    std::set<std::string> route_names;
    for (std::size_t r = 0; r < ln.routes.size(); r++) {
      const Route& rt = ln.routes[r];
      if (!route_names.insert(rt.name).second)
        return fail(l, int(r), "name", -1, "another route of this listener has this name");
      if (rt.is_default) {
        if (dflt >= 0)
          return fail(l, int(r), "default", -1,
                      "route " + quote(ln.routes[dflt].name) + " is the default already: one per listener");
        dflt = int(r);
      }
      std::vector<std::string> snis = rt.sni, alpns = rt.alpn;
      if (snis.empty()) snis.push_back("");
      if (alpns.empty()) alpns.push_back("");
      for (std::size_t i = 0; i < snis.size(); i++)
        for (const auto& a : alpns)
          if (seen.count({snis[i], a}))
            return fail(l, int(r), snis[i].empty() ? "alpn" : "sni", snis[i].empty() ? -1 : int(i),
                        "unreachable: an earlier route has sni " + quote(snis[i].empty() ? "any" : snis[i]) +
                            " with alpn " + quote(a.empty() ? "any" : a) + " already");
      for (const auto& s : snis)
        for (const auto& a : alpns) seen.insert({s, a});
    }
    return {};
  }

  ConfigError listeners() {
    std::set<std::string> listener_names;
    std::vector<std::pair<std::string, int>> addrs;  // host (as written), port
    for (std::size_t l = 0; l < cfg.listeners.size(); l++) {
      Listener& ln = cfg.listeners[l];
      int li = int(l);
      if (!listener_names.insert(ln.name).second)
        return fail(li, -1, "name", -1, "another listener has this name");
      if (ln.address.empty()) return fail(li, -1, "address", -1, "none given: a listener needs one");
      net::HostPort hp;
      std::string why = check_host_port(ln.address, true, true, false, &hp);
      if (!why.empty()) return fail(li, -1, "address", -1, why);
      int port = 0;
      parse_port(hp.port, &port);
      // One port twice is a conflict when one host is the wildcard or both
      // are the same; port 0 picks a free port each time.
      auto any = [](const std::string& h) { return h.empty() || h == "0.0.0.0" || h == "::"; };
      for (auto& [host, p] : addrs)
        if (port != 0 && p == port && (any(host) || any(hp.host) || host == hp.host))
          return fail(li, -1, "address", -1, quote(ln.address) + " overlaps an earlier listener's address");
      addrs.push_back({hp.host, port});
      if (ln.timeouts)
        if (auto e = timeouts(li, *ln.timeouts)) return e;
      if (ln.routes.empty()) return fail(li, -1, "route", -1, "no routes: a listener needs at least one");
      for (std::size_t r = 0; r < ln.routes.size(); r++)
        if (auto e = route(li, int(r))) return e;
      if (auto e = across_routes(li)) return e;
    }
    return {};
  }
};

}  // namespace

ConfigError validate(Config& cfg, ConfigPlace* where) {
  for (std::size_t l = 0; l < cfg.listeners.size(); l++) {
    Listener& ln = cfg.listeners[l];
    if (ln.name.empty()) ln.name = "listener" + std::to_string(l);
    for (std::size_t r = 0; r < ln.routes.size(); r++)
      if (ln.routes[r].name.empty()) ln.routes[r].name = "route" + std::to_string(r);
  }
  Checker c{cfg, where};
  if (auto e = c.top()) return e;
  return c.listeners();
}

ConfigError validate(Config& cfg) { return validate(cfg, nullptr); }

bool read_whole_file(const std::string& path, std::string* text, std::string* why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  auto fail = [&] {
    *why = "cannot read " + quote(path) + ": " + std::system_category().message(errno);
    return false;
  };
  if (fd < 0) return fail();
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      errno = e;
      return fail();
    }
    if (n == 0) break;
    text->append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return true;
}

// parse_duration is Go's time.ParseDuration, step for step:
// [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ summed in uint64 nanoseconds, refusing
// anything past 2^63-1 (or -2^63).
bool parse_duration(std::string_view s, Duration* out, std::string* why) {
  const std::string orig(s);
  constexpr std::uint64_t kMax = std::uint64_t(1) << 63;
  auto fail = [&](const std::string& what) {
    *why = "invalid duration " + quote(orig) + ": " + what;
    return false;
  };
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") {
    *out = Duration::zero();
    return true;
  }
  if (s.empty()) return fail("empty");
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::uint64_t d = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || digit(s[0]))) return fail("expected a number at " + quote(s));
    std::uint64_t v = 0, f = 0;  // the integer part, the fraction's digits
    double scale = 1;            // 10^(the fraction's digits)
    std::size_t i = 0;
    for (; i < s.size() && digit(s[i]); i++) {
      if (v > kMax / 10) return fail("too large");
      v = v * 10 + std::uint64_t(s[i] - '0');
      if (v > kMax) return fail("too large");
    }
    bool pre = i > 0, post = false;
    s.remove_prefix(i);
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      bool overflow = false;
      for (i = 0; i < s.size() && digit(s[i]); i++) {
        if (overflow) continue;
        if (f > (kMax - 1) / 10) {
          overflow = true;
          continue;
        }
        std::uint64_t y = f * 10 + std::uint64_t(s[i] - '0');
        if (y > kMax) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = i > 0;
      s.remove_prefix(i);
    }
    if (!pre && !post) return fail("a \".\" without digits");
    for (i = 0; i < s.size() && s[i] != '.' && !digit(s[i]); i++) {
    }
    if (i == 0) return fail("missing unit (ns, us, ms, s, m, h)");
    std::string_view u = s.substr(0, i);
    s.remove_prefix(i);
    std::uint64_t unit = 0;
    if (u == "ns")
      unit = 1;
    else if (u == "us" || u == "\u00b5s" || u == "\u03bcs")
      unit = 1000;
    else if (u == "ms")
      unit = 1000 * 1000;
    else if (u == "s")
      unit = 1000 * 1000 * 1000;
    else if (u == "m")
      unit = 60ull * 1000 * 1000 * 1000;
    else if (u == "h")
      unit = 3600ull * 1000 * 1000 * 1000;
    else
      return fail("unknown unit " + quote(u) + " (ns, us, ms, s, m, h)");
    if (v > kMax / unit) return fail("too large");
    v *= unit;
    if (f > 0) {
      v += std::uint64_t(double(f) * (double(unit) / scale));
      if (v > kMax) return fail("too large");
    }
    d += v;
    if (d > kMax) return fail("too large");
  }
  if (!neg && d > kMax - 1) return fail("too large");
  *out = neg ? Duration(std::int64_t(0 - d)) : Duration(std::int64_t(d));
  return true;
}

}  // namespace gort::proxy
