// flags.cpp: parse_flags (see flags.hpp).
#include "flags.hpp"

#include "config_toml.hpp"

#include <charconv>
#include <map>
#include <string_view>

namespace gort::proxy {

const char* usage() {
  return "usage: gort-proxy --listen ADDR --upstream ADDR[,ADDR...] [options]\n"
         "       gort-proxy --config FILE [--check-config]\n"
         "       gort-proxy --demo\n"
         "\n"
         "  --listen ADDR            accept on ADDR (host:port; :port for every address)\n"
         "  --upstream ADDR          forward to ADDR; repeat or comma-separate for round-robin\n"
         "  --proxy-protocol N       send a PROXY protocol header, version 1 or 2, to the upstream\n"
         "  --accept-proxy           read a PROXY protocol header from each client first\n"
         "  --connect-timeout D      dialing one upstream (default 5s)\n"
         "  --idle-timeout D         no byte either way for D closes the conn (default 5m; 0: none)\n"
         "  --max-connections N      at most N conns at once; past it, accept waits (default 10000)\n"
         "  --grace D                on SIGTERM, conns may finish for D (default 30s)\n"
         "  --metrics ADDR           serve Prometheus metrics on ADDR (loopback only)\n"
         "  --access-log PATH        one line per conn: - for stderr (default), \"\" for none\n"
         "  --reuse-port             SO_REUSEPORT: several gort-proxy processes share the port\n"
         "  --config FILE            everything from a TOML file (see proxy/gort-proxy.example.toml)\n"
         "  --check-config           validate the configuration, print it in short, and exit\n"
         "  --demo                   run the demo: dev certificates, two TLS backends, SNI routing\n"
         "\n"
         "Signals: SIGTERM or SIGINT stop gracefully (a second one: at once); SIGHUP reloads --config.\n";
}

ConfigError parse_flags(int argc, char** argv, Options* out) {
  Options o;
  Listener l;
  l.name = "main";
  Route r;
  r.name = "forward";
  bool have_listen = false, any_route_flag = false;
  auto fail = [](const std::string& name, const std::string& why) {
    return ConfigError{"flag --" + name + ": " + why};
  };
  for (int i = 1; i < argc; i++) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "-help" || a == "--help") {
      o.help = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-') return ConfigError{"unexpected argument \"" + std::string(a) + "\""};
    a.remove_prefix(a[1] == '-' ? 2 : 1);
    std::string name(a.substr(0, a.find('=')));
    std::optional<std::string> inline_value;
    if (auto eq = a.find('='); eq != std::string_view::npos) inline_value = std::string(a.substr(eq + 1));
    static const std::map<std::string, bool> known = {
        // name -> takes a value
        {"listen", true},          {"upstream", true},     {"proxy-protocol", true},  {"accept-proxy", false},
        {"connect-timeout", true}, {"idle-timeout", true}, {"max-connections", true}, {"grace", true},
        {"metrics", true},         {"access-log", true},   {"reuse-port", false},     {"config", true},
        {"check-config", false},   {"demo", false}};
    auto k = known.find(name);
    if (k == known.end()) return ConfigError{"flag provided but not defined: -" + name};
    std::string value;
    if (k->second) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return fail(name, "needs a value");
      }
    } else if (inline_value && *inline_value != "true") {
      return fail(name, "takes no value");
    }
    auto duration = [&](Duration* d) -> ConfigError {
      std::string why;
      if (!parse_duration(value, d, &why)) return fail(name, why);
      return {};
    };
    auto integer = [&](int* v, int lo, int hi) -> ConfigError {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), *v);
      if (ec != std::errc{} || p != value.data() + value.size() || *v < lo || *v > hi)
        return fail(name, "\"" + value + "\" is not a number from " + std::to_string(lo) + " to " +
                              std::to_string(hi));
      return {};
    };
    ConfigError e;
    if (name == "listen") {
      l.address = value;
      have_listen = true;
    } else if (name == "upstream") {
      for (std::size_t at = 0; at <= value.size();) {
        auto comma = value.find(',', at);
        if (comma == std::string::npos) comma = value.size();
        if (comma > at) r.upstreams.push_back(value.substr(at, comma - at));
        at = comma + 1;
      }
      any_route_flag = true;
    } else if (name == "proxy-protocol") {
      e = integer(&r.proxy_protocol, 1, 2);
      any_route_flag = true;
    } else if (name == "accept-proxy") {
      l.accept_proxy = true;
    } else if (name == "connect-timeout") {
      e = duration(&o.cfg.timeouts.connect);
    } else if (name == "idle-timeout") {
      e = duration(&o.cfg.timeouts.idle);
    } else if (name == "max-connections") {
      e = integer(&o.cfg.max_connections, 1, 10'000'000);
    } else if (name == "grace") {
      e = duration(&o.cfg.grace_period);
    } else if (name == "metrics") {
      o.cfg.metrics_address = value;
    } else if (name == "access-log") {
      o.cfg.access_log = value;
    } else if (name == "reuse-port") {
      l.reuse_port = true;
    } else if (name == "config") {
      o.config_file = value;
    } else if (name == "check-config") {
      o.check_config = true;
    } else if (name == "demo") {
      o.demo = true;
    }
    if (e) return e;
  }
  if (!o.config_file.empty() && (have_listen || any_route_flag))
    return ConfigError{"--config and --listen/--upstream cannot be used together"};
  if (o.config_file.empty() && !o.demo && !o.help) {
    if (!have_listen) return fail("listen", "missing (or use --config FILE, or --demo)");
    if (r.upstreams.empty()) return fail("upstream", "missing");
    l.routes.push_back(r);
    o.cfg.listeners.push_back(l);
    o.cfg.source = "flags";
  }
  *out = std::move(o);
  return {};
}

}  // namespace gort::proxy
