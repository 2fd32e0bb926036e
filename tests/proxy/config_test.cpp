// Tests of proxy/config.cpp (validate) and proxy/config_toml.cpp (the TOML
// file): the documented example parses to the model it describes, and each
// kind of mistake is an error naming the file, line and key. Certificates
// are made by the real openssl command (TestPKI).
#include "gort_test.hpp"
#include "gort_tls_test.hpp"

#include "config.hpp"
#include "config_toml.hpp"

#include <fstream>
#include <sstream>

using gort::proxy::Config;
using gort::proxy::ConfigError;
using gort::proxy::Duration;
using gort::proxy::Mode;
using namespace std::chrono_literals;

namespace {

// parse: the error of text as the file "gort.toml" ("" if none). A leading
// newline is dropped, so that line 1 is the raw string's first full line.
std::string parse(std::string_view text, Config* out = nullptr) {
  if (!text.empty() && text[0] == '\n') text.remove_prefix(1);
  Config cfg;
  ConfigError e = gort::proxy::parse_toml(text, "gort.toml", out ? out : &cfg);
  return e.message;
}

bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void replace(std::string* s, std::string_view from, const std::string& to) {
  auto i = s->find(from);
  REQUIRE(i != std::string::npos);
  s->replace(i, from.size(), to);
}

// Each check: the message starts "gort.toml:LINE:" and names the key.
#define CHECK_ERROR_AT(msg, line, key)                         \
  do {                                                         \
    std::string m_ = (msg);                                    \
    CHECK_MESSAGE(m_.starts_with("gort.toml:" #line ":"), m_); \
    CHECK_MESSAGE(has(m_, key), m_);                           \
  } while (0)

}  // namespace

TEST_CASE("config: the example file parses to the model it documents") {
  gort_test::TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  std::string path = std::string(GORT_PROXY_DIR) + "/gort-proxy.example.toml";
  std::string text = read(path);
  replace(&text, "/etc/gort/www.pem", pki.cert("a"));
  replace(&text, "/etc/gort/www-key.pem", pki.key("a"));
  Config cfg;
  ConfigError e = gort::proxy::parse_toml(text, path, &cfg);
  REQUIRE_MESSAGE(!e, e.message);
  CHECK(cfg.source == path);
  CHECK(cfg.max_connections == 10000);
  CHECK(cfg.grace_period == 30s);
  CHECK(cfg.access_log == "-");
  CHECK(cfg.metrics_address == "127.0.0.1:9100");
  CHECK(!cfg.metrics_public);
  CHECK(cfg.timeouts.connect == 5s);
  CHECK(cfg.timeouts.client_hello == 10s);
  CHECK(cfg.timeouts.handshake == 10s);
  CHECK(cfg.timeouts.idle == 5min);
  REQUIRE(cfg.listeners.size() == 2);

  const auto& https = cfg.listeners[0];
  CHECK(https.name == "https");
  CHECK(https.address == ":8443");
  CHECK(!https.reuse_port);
  CHECK(!https.accept_proxy);
  REQUIRE(https.timeouts);  // idle overridden, the rest inherited
  CHECK(https.timeouts->idle == 1h);
  CHECK(https.timeouts->connect == 5s);
  REQUIRE(https.routes.size() == 4);
  const auto& api = https.routes[0];
  CHECK(api.name == "api");
  CHECK(api.mode == Mode::passthrough);
  CHECK(api.sni == std::vector<std::string>{"api.example.com", "*.api.example.com"});
  CHECK(api.upstreams == std::vector<std::string>{"10.0.0.1:443", "10.0.0.2:443"});
  CHECK(api.proxy_protocol == 2);
  CHECK(!api.is_default);
  const auto& site = https.routes[1];
  CHECK(site.mode == Mode::terminate);
  CHECK(site.sni == std::vector<std::string>{"www.example.com", "example.com"});
  CHECK(site.alpn == std::vector<std::string>{"http/1.1"});
  CHECK(site.cert_file == pki.cert("a"));
  CHECK(site.key_file == pki.key("a"));
  CHECK(site.upstreams == std::vector<std::string>{"127.0.0.1:8080"});
  CHECK(!site.upstream_tls);
  CHECK(https.routes[2].upstreams == std::vector<std::string>{"{sni}:443"});
  CHECK(https.routes[3].is_default);

  const auto& pg = cfg.listeners[1];
  CHECK(pg.name == "postgres");
  CHECK(!pg.timeouts);
  REQUIRE(pg.routes.size() == 1);
  CHECK(pg.routes[0].name == "route0");  // the default name
  CHECK(pg.routes[0].mode == Mode::forward);
}

TEST_CASE("config: validate passes a flags-made config, filling names and normalizing patterns") {
  // As flags.cpp makes it: one listener, one forward route.
  Config cfg;
  cfg.source = "flags";
  auto& ln = cfg.listeners.emplace_back();
  ln.address = "127.0.0.1:0";
  ln.routes.emplace_back().upstreams = {"localhost:8080"};
  ConfigError e = gort::proxy::validate(cfg);
  CHECK_MESSAGE(!e, e.message);
  CHECK(ln.name == "listener0");
  CHECK(ln.routes[0].name == "route0");

  ln.routes[0].mode = Mode::passthrough;
  ln.routes[0].sni = {"API.Example.COM."};
  ln.routes[0].upstreams = {"[::1]:443"};
  e = gort::proxy::validate(cfg);
  CHECK_MESSAGE(!e, e.message);
  CHECK(ln.routes[0].sni[0] == "api.example.com");
}

TEST_CASE("config: validate names the listener, route and key of an upstream without a port") {
  Config cfg;
  auto& ln = cfg.listeners.emplace_back();
  ln.name = "https";
  ln.address = ":8443";
  auto& rt = ln.routes.emplace_back();
  rt.name = "api";
  rt.mode = Mode::passthrough;
  rt.sni = {"a.test"};
  rt.upstreams = {"10.0.0.1:443", "10.0.0.1"};
  gort::proxy::ConfigPlace where;
  ConfigError e = gort::proxy::validate(cfg, &where);
  CHECK(e.message == "listener \"https\": route \"api\": upstreams: \"10.0.0.1\" has no port");
  CHECK(where.listener == 0);
  CHECK(where.route == 0);
  CHECK(where.key == "upstreams");
  CHECK(where.item == 1);
}

TEST_CASE("config: a syntax error names the file, line and column") {
  std::string m = parse(R"(
max_connections = 10
grace_period = "30s
)");
  CHECK_MESSAGE(m.starts_with("gort.toml:2:"), m);
}

TEST_CASE("config: a typo in a key is an error naming the file, line and key") {
  std::string m = parse(R"(
[timeouts]
conect = "5s"
[[listener]]
address = ":8443"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:80"]
)");
  CHECK_ERROR_AT(m, 2, "timeouts.conect: unknown key (did you mean \"connect\"?)");

  m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
mode = "forward"
upstream = ["127.0.0.1:80"]
)");
  CHECK_ERROR_AT(m, 5, "listener \"listener0\": route \"route0\": upstream: unknown key");
}

TEST_CASE("config: a value of the wrong type is an error naming the key and both types") {
  std::string m = parse(R"(
max_connections = "many"
[[listener]]
address = ":8443"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:80"]
)");
  CHECK_ERROR_AT(m, 1, "max_connections: expected an integer, got a string");

  m = parse(R"(
[[listener]]
name = "web"
address = ":8443"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:80", 8080]
)");
  CHECK_ERROR_AT(m, 6, "listener \"web\": route \"route0\": upstreams[1]: expected a string, got an integer");

  m = parse(R"(
[listener]
address = ":8443"
)");
  CHECK_ERROR_AT(m, 1, "listener: expected an array of tables ([[listener]]), got a table");
}

TEST_CASE("config: a bad duration is an error naming the key, in Go's syntax") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"
[listener.timeouts]
idle = "5 minutes"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:80"]
)");
  CHECK_ERROR_AT(m, 4, "listener \"listener0\": timeouts.idle: invalid duration \"5 minutes\"");

  m = parse("grace_period = 30\n");
  CHECK_ERROR_AT(m, 1, "grace_period: expected a duration string");

  m = parse(
      "[timeouts]\nconnect = \"-1s\"\n[[listener]]\naddress = \":1\"\n[[listener.route]]\nmode = "
      "\"forward\"\nupstreams = [\"a:1\"]\n");
  CHECK_ERROR_AT(m, 2, "timeouts.connect: must not be negative");
}

TEST_CASE("config: durations read as Go's time.ParseDuration reads them") {
  struct {
    const char* in;
    Duration want;
  } good[] = {
      {"0", 0s},
      {"10s", 10s},
      {"250ms", 250ms},
      {"5m", 5min},
      {"1h30m", 90min},
      {"1.5h", 90min},
      {"-2s", -2s},
      {"+3s", 3s},
      {".5s", 500ms},
      {"1.s", 1s},
      {"1us", 1us},
      {"1\u00b5s", 1us},
      {"7ns", 7ns},
      {"1h2m3s4ms", 1h + 2min + 3s + 4ms},
      {"2562047h", 2562047h},
  };
  for (auto& g : good) {
    Duration d{};
    std::string why;
    CHECK_MESSAGE(gort::proxy::parse_duration(g.in, &d, &why), g.in, ": ", why);
    CHECK_MESSAGE(d == g.want, g.in);
  }
  for (const char* bad :
       {"", "-", "s", "10", ".s", "1.2.3s", "5x", "1h 30m", "3000000h", "9223372036854775808ns"}) {
    Duration d = 42s;
    std::string why;
    CHECK_MESSAGE(!gort::proxy::parse_duration(bad, &d, &why), bad);
    CHECK(d == 42s);
    CHECK_MESSAGE(has(why, "invalid duration"), why);
  }
}

TEST_CASE("config: a mode that is not one of the three is an error naming them") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
mode = "passthru"
upstreams = ["127.0.0.1:80"]
)");
  CHECK_ERROR_AT(m, 4,
                 "route \"route0\": mode: \"passthru\" is not a mode: forward, passthrough or terminate");
}

TEST_CASE("config: a missing required key is an error at its table") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"

[[listener.route]]
name = "api"
mode = "passthrough"
sni = ["a.test"]
)");
  CHECK_ERROR_AT(m, 4, "route \"api\": upstreams: missing (required)");

  m = parse("max_connections = 5\n");
  CHECK_ERROR_AT(m, 1, "listener: missing");
}

TEST_CASE("config: a malformed sni pattern is an error at its array item") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
mode = "passthrough"
sni = [
  "a.test",
  "*.*.b.test",
]
upstreams = ["127.0.0.1:443"]
)");
  CHECK_ERROR_AT(m, 7, "route \"route0\": sni: \"*.*.b.test\" is not a DNS name");
}

TEST_CASE("config: two default routes on one listener are an error at the second") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
name = "one"
mode = "passthrough"
default = true
upstreams = ["127.0.0.1:443"]
[[listener.route]]
name = "two"
mode = "passthrough"
default = true
upstreams = ["127.0.0.1:444"]
)");
  CHECK_ERROR_AT(m, 11, "route \"two\": default: route \"one\" is the default already");
}

TEST_CASE("config: a terminate route without a cert is an error at the route") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
name = "site"
mode = "terminate"
sni = ["a.test"]
upstreams = ["127.0.0.1:80"]
)");
  CHECK_ERROR_AT(m, 3,
                 "listener \"listener0\": route \"site\": cert: a terminate route needs a certificate file");
}

TEST_CASE("config: a cert file that does not exist, or a key that is not its pair, says which file and why") {
  gort_test::TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  std::string text = R"(
[[listener]]
address = ":8443"
[[listener.route]]
mode = "terminate"
sni = ["a.test"]
cert = "CERT"
key = "KEY"
upstreams = ["127.0.0.1:80"]
)";
  std::string missing = text;
  replace(&missing, "CERT", pki.path("nope.pem"));
  replace(&missing, "KEY", pki.key("a"));
  std::string m = parse(missing);
  CHECK_ERROR_AT(m, 6, "cert: cannot read \"" + pki.path("nope.pem") + "\": No such file or directory");

  std::string mismatched = text;
  replace(&mismatched, "CERT", pki.cert("a"));
  replace(&mismatched, "KEY", pki.key("b"));
  m = parse(mismatched);
  CHECK_ERROR_AT(m, 7, "key: \"" + pki.key("b") + "\" is not the key of \"" + pki.cert("a") + "\"");

  std::string swapped = text;
  replace(&swapped, "CERT", pki.key("a"));
  replace(&swapped, "KEY", pki.key("a"));
  m = parse(swapped);
  CHECK_ERROR_AT(m, 6, "cert: \"" + pki.key("a") + "\" holds no PEM certificate");
}

TEST_CASE("config: a metrics address beyond loopback is an error unless metrics.public") {
  std::string text = R"(
[metrics]
address = "0.0.0.0:9100"
[[listener]]
address = ":8443"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:80"]
)";
  std::string m = parse(text);
  CHECK_ERROR_AT(m, 2, "metrics.address: \"0.0.0.0:9100\" is not on loopback");
  CHECK(parse("[metrics]\npublic = true\n" + text.substr(11)) == "");
  for (const char* ok : {"127.0.0.2:9100", "[::1]:9100", "LocalHost:9100"}) {
    std::string t = text;
    replace(&t, "0.0.0.0:9100", ok);
    CHECK_MESSAGE(parse(t) == "", ok);
  }
}

TEST_CASE("config: a forward route with siblings is an error at its mode") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
mode = "passthrough"
default = true
upstreams = ["127.0.0.1:443"]
[[listener.route]]
name = "plain"
mode = "forward"
upstreams = ["127.0.0.1:80"]
)");
  CHECK_ERROR_AT(m, 9, "route \"plain\": mode: a forward route must be its listener's only route");
}

TEST_CASE("config: \"{sni}\" as an upstream host is an error on a default route") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
mode = "passthrough"
sni = ["*.a.test"]
default = true
upstreams = ["10.0.0.1:443", "{sni}:443"]
)");
  CHECK_ERROR_AT(m, 7, "route \"route0\": upstreams: \"{sni}:443\": \"{sni}\" needs sni patterns");
}

TEST_CASE("config: an unreachable route, or two listeners on one address, is an error at the later one") {
  std::string m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
mode = "passthrough"
sni = ["a.test", "b.test"]
upstreams = ["127.0.0.1:443"]
[[listener.route]]
mode = "passthrough"
sni = ["c.test", "B.TEST"]
upstreams = ["127.0.0.1:444"]
)");
  CHECK_ERROR_AT(m, 9, "route \"route1\": sni: unreachable: an earlier route has sni \"b.test\"");

  m = parse(R"(
[[listener]]
address = ":8443"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:443"]
[[listener]]
name = "again"
address = "127.0.0.1:8443"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:443"]
)");
  CHECK_ERROR_AT(m, 8,
                 "listener \"again\": address: \"127.0.0.1:8443\" overlaps an earlier listener's address");
}

TEST_CASE("config: load_toml_file names a file it cannot read, and parses one it can") {
  Config cfg;
  ConfigError e = gort::proxy::load_toml_file("/nonexistent/gort.toml", &cfg);
  CHECK(e.message == "cannot read \"/nonexistent/gort.toml\": No such file or directory");

  char tmpl[] = "/tmp/gort-config-test-XXXXXX";
  int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(tmpl) << "[[listener]]\naddress = \":0\"\n[[listener.route]]\nmode = \"forward\"\n"
                         "upstreams = [\"127.0.0.1:1\"]\n";
  e = gort::proxy::load_toml_file(tmpl, &cfg);
  CHECK_MESSAGE(!e, e.message);
  CHECK(cfg.source == tmpl);
  CHECK(cfg.listeners.size() == 1);
  std::ofstream(tmpl) << "[[listener]]\naddress = \":0\"\nport = 1\n[[listener.route]]\nmode = \"forward\"\n"
                         "upstreams = [\"127.0.0.1:1\"]\n";
  e = gort::proxy::load_toml_file(tmpl, &cfg);
  CHECK(e.message == std::string(tmpl) + ":3:1: listener \"listener0\": port: unknown key");
  ::unlink(tmpl);
}
