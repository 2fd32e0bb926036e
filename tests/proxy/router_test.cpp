// Tests of proxy/router.cpp: the route for a ClientHello: exact names over
// wildcards over ALPN-only routes, ALPN as a filter, the default last, and
// no route when nothing matches.
#include "gort_test.hpp"

#include "router.hpp"

using namespace gort::proxy;

namespace {

Route route(std::string name, std::vector<std::string> sni, std::vector<std::string> alpn = {},
            bool def = false) {
  Route r;
  r.name = std::move(name);
  r.mode = Mode::passthrough;
  r.sni = std::move(sni);
  r.alpn = std::move(alpn);
  r.is_default = def;
  r.upstreams = {"127.0.0.1:1"};
  return r;
}

std::string pick(const ListenerState& ls, std::string sni, std::vector<std::string> alpn = {}) {
  gort::tls::ClientHello h;
  h.server_name = std::move(sni);
  h.alpn = std::move(alpn);
  RouteState* r = ls.route_for(&h);
  return r ? r->cfg.name : "(none)";
}

std::shared_ptr<ListenerState> build(std::vector<Route> routes) {
  Config cfg;
  Listener l;
  l.name = "l";
  l.address = "127.0.0.1:0";
  l.routes = std::move(routes);
  std::string err;
  auto ls = build_listener(l, cfg, &err);
  REQUIRE_MESSAGE(ls, err);
  return ls;
}

}  // namespace

TEST_CASE("router: an exact name beats a wildcard, whatever the order, and a wildcard covers one label") {
  auto ls = build(
      {route("wild", {"*.example.com"}), route("exact", {"api.example.com"}), route("other", {"b.test"})});
  CHECK(ls->kind == ListenerKind::tls);
  CHECK(pick(*ls, "api.example.com") == "exact");
  CHECK(pick(*ls, "www.example.com") == "wild");
  CHECK(pick(*ls, "a.b.example.com") == "(none)");
  CHECK(pick(*ls, "example.com") == "(none)");
  CHECK(pick(*ls, "b.test") == "other");
  CHECK(pick(*ls, "") == "(none)");  // no SNI and no default: no route
}

TEST_CASE(
    "router: ALPN filters routes, an ALPN-only route catches what names do not, the default comes last") {
  auto ls = build({route("h2-api", {"api.test"}, {"h2"}), route("api", {"api.test"}),
                   route("acme", {}, {"acme-tls/1"}), route("fallback", {}, {}, true)});
  CHECK(pick(*ls, "api.test", {"h2", "http/1.1"}) == "h2-api");
  CHECK(pick(*ls, "api.test", {"http/1.1"}) == "api");
  CHECK(pick(*ls, "api.test") == "api");
  CHECK(pick(*ls, "x.test", {"acme-tls/1"}) == "acme");
  CHECK(pick(*ls, "x.test") == "fallback");
  CHECK(pick(*ls, "") == "fallback");
  auto first = build({route("one", {"a.test"}), route("two", {"a.test"})});
  CHECK(pick(*first, "a.test") == "one");  // a tie: the first in the config
}

TEST_CASE("router: a listener with one forward route is a tcp listener, whatever the hello") {
  Route f;
  f.name = "fwd";
  f.upstreams = {"127.0.0.1:1"};
  auto ls = build({f});
  CHECK(ls->kind == ListenerKind::tcp);
  CHECK(ls->route_for(nullptr)->cfg.name == "fwd");
}
