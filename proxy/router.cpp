// router.cpp: route_for and build_listener (see router.hpp).
#include "router.hpp"

#include <algorithm>

namespace gort::proxy {

namespace {

// sni_score: 3 for an exact name of the route's, 2 for a wildcard of its
// covering host, 1 for a route without names, 0 for no match.
int sni_score(const Route& r, const std::string& host) {
  if (r.sni.empty()) return 1;
  if (host.empty()) return 0;
  int best = 0;
  for (const auto& p : r.sni) {
    if (p == host) return 3;
    if (tls::name_matches(p, host)) best = 2;
  }
  return best;
}

bool alpn_ok(const Route& r, const std::vector<std::string>& offered) {
  if (r.alpn.empty()) return true;
  for (const auto& a : r.alpn)
    if (std::find(offered.begin(), offered.end(), a) != offered.end()) return true;
  return false;
}

}  // namespace

RouteState* ListenerState::route_for(const tls::ClientHello* hello) const {
  if (kind == ListenerKind::tcp || !hello) return routes.empty() ? nullptr : routes.front().get();
  RouteState* best = nullptr;
  int best_score = 0;
  RouteState* fallback = nullptr;
  for (const auto& r : routes) {
    if (!alpn_ok(r->cfg, hello->alpn)) continue;
    if (r->cfg.is_default) {
      if (!fallback) fallback = r.get();
      continue;
    }
    int s = sni_score(r->cfg, hello->server_name);
    if (s > best_score) {
      best_score = s;
      best = r.get();
    }
  }
  return best ? best : fallback;
}

std::shared_ptr<ListenerState> build_listener(const Listener& l, const Config& cfg, std::string* err) {
  auto ls = std::make_shared<ListenerState>();
  ls->cfg = l;
  ls->timeouts = l.timeouts.value_or(cfg.timeouts);
  ls->kind =
      l.routes.size() == 1 && l.routes.front().mode == Mode::forward ? ListenerKind::tcp : ListenerKind::tls;
  for (const Route& r : l.routes) {
    auto rs = std::make_unique<RouteState>();
    rs->cfg = r;
    auto fail = [&](const std::string& what) {
      *err = "listener \"" + l.name + "\": route \"" + r.name + "\": " + what;
      return nullptr;
    };
    if (r.mode == Mode::terminate) {
      auto cert = tls::load_x509_key_pair(r.cert_file, r.key_file);
      if (cert.err) return fail("cert " + r.cert_file + ", key " + r.key_file + ": " + cert.err.message());
      tls::Config tc;
      tc.certificates.push_back(cert.value);
      tc.next_protos = r.next_protos;
      auto ctx = tls::Context::server(tc);
      if (ctx.err) return fail("TLS server: " + ctx.err.message());
      rs->server_ctx = ctx.value;
    }
    if (r.upstream_tls) {
      tls::Config tc;
      tc.ca_file = r.upstream_ca_file;
      tc.insecure_skip_verify = r.upstream_insecure;
      auto ctx = tls::Context::client(tc);
      if (ctx.err) return fail("TLS to the upstream: " + ctx.err.message());
      rs->upstream_ctx = ctx.value;
    }
    ls->routes.push_back(std::move(rs));
  }
  return ls;
}

}  // namespace gort::proxy
