// demo.cpp: run_demo (see demo.hpp). The backends are small fibers that
// answer one HTTP request per conn, so `curl` shows which one it reached.
#include "demo.hpp"

#include "certs.hpp"
#include "run.hpp"

#include <gort/gort.hpp>
#include <gort/net.hpp>
#include <gort/tls.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace gort::proxy {

namespace {

std::string env_or(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

// respond reads a request head from c (up to a blank line, at most 8 KiB,
// 10 s) and answers with body.
template <class C>
void respond(C& c, const std::string& body) {
  c.set_deadline(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  std::string head;
  char buf[2048];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    auto [n, err] = c.read(std::span(buf));
    head.append(buf, n);
    if (err) return;
  }
  c.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body);
  c.close();
}

// Backend: an HTTP server on 127.0.0.1:0, over TLS when ctx is set. The
// listener is shared with the accept fiber, which outlives this function.
struct Backend {
  std::shared_ptr<net::Listener> ln;
  std::string addr;
};

Backend start_backend(const std::string& body, tls::Context ctx) {
  auto [ln, err] = net::listen("tcp", "127.0.0.1:0");
  if (err) return {};
  Backend b{std::make_shared<net::Listener>(std::move(ln)), ""};
  b.addr = b.ln->addr().to_string();
  gort::go([ln = b.ln, body, ctx] {
    for (;;) {
      auto [c, aerr] = ln->accept();
      if (aerr) return;
      gort::go(
          [body, ctx](net::Conn raw) {
            if (ctx) {
              tls::Conn t = tls::server(std::move(raw), ctx);
              respond(t, body);
            } else {
              respond(raw, body);
            }
          },
          std::move(c));
    }
  });
  return b;
}

}  // namespace

int run_demo() {
  std::error_code fs_err;
  const std::string dir =
      std::filesystem::absolute(env_or("GORT_DEMO_DIR", "gort-demo"), fs_err).lexically_normal();
  const std::string tls_port = env_or("GORT_DEMO_TLS_PORT", "8443");
  const std::string plain_port = env_or("GORT_DEMO_PLAIN_PORT", "8080");
  const std::string metrics_port = env_or("GORT_DEMO_METRICS_PORT", "9100");

  // Development certificates: a local CA (made once, then reused) and a leaf per name.
  certs::CA ca;
  std::string detail;
  if (auto e = certs::ensure_ca(dir, &ca, &detail)) {
    logf("demo: certificates in %s: %s", dir.c_str(), detail.c_str());
    return 1;
  }
  for (const char* name : {"a", "b"}) {
    const std::string host = std::string(name) + ".demo.test";
    if (auto e =
            certs::make_leaf(ca, {host}, dir + "/" + name + ".pem", dir + "/" + name + "-key.pem", &detail)) {
      logf("demo: certificate for %s: %s", host.c_str(), detail.c_str());
      return 1;
    }
  }
  return gort::run([&] {
    // The backends.
    Backend backends[2];
    for (int i = 0; i < 2; i++) {
      const std::string name = i == 0 ? "a" : "b";
      tls::Config tc;
      auto cert = tls::load_x509_key_pair(dir + "/" + name + ".pem", dir + "/" + name + "-key.pem");
      if (cert.err) {
        logf("demo: %s.pem: %s", name.c_str(), cert.err.message().c_str());
        return 1;
      }
      tc.certificates.push_back(cert.value);
      tc.next_protos = {"http/1.1"};
      auto ctx = tls::Context::server(tc);
      backends[i] = start_backend(
          "hello from TLS backend " + name + " (" + name + ".demo.test), through gort-proxy\n", ctx.value);
    }
    Backend plain = start_backend("hello from the plain backend, through gort-proxy\n", tls::Context());
    if (backends[0].addr.empty() || backends[1].addr.empty() || plain.addr.empty()) {
      logf("demo: cannot start the backends");
      return 1;
    }

    // The embedded config.
    Config cfg;
    cfg.source = "demo";
    cfg.metrics_address = "127.0.0.1:" + metrics_port;
    Listener tls_l;
    tls_l.name = "tls";
    tls_l.address = "127.0.0.1:" + tls_port;
    for (int i = 0; i < 2; i++) {
      Route r;
      r.name = i == 0 ? "a" : "b";
      r.mode = Mode::passthrough;
      r.sni = {r.name + ".demo.test"};
      r.upstreams = {backends[i].addr};
      tls_l.routes.push_back(r);
    }
    Listener plain_l;
    plain_l.name = "plain";
    plain_l.address = "127.0.0.1:" + plain_port;
    Route fwd;
    fwd.name = "forward";
    fwd.upstreams = {plain.addr};
    plain_l.routes.push_back(fwd);
    cfg.listeners = {tls_l, plain_l};
    if (auto e = validate(cfg)) {
      logf("demo: %s", e.message.c_str());
      return 1;
    }
    return serve(cfg, "", [&](Server&) {
      std::printf(
          "\ngort-proxy demo: routing by SNI on 127.0.0.1:%s, forwarding on 127.0.0.1:%s. Try:\n\n"
          "  curl --cacert %s/ca.pem --resolve a.demo.test:%s:127.0.0.1 https://a.demo.test:%s/\n"
          "  curl --cacert %s/ca.pem --resolve b.demo.test:%s:127.0.0.1 https://b.demo.test:%s/\n"
          "  curl http://127.0.0.1:%s/\n"
          "  openssl s_client -connect 127.0.0.1:%s -servername c.demo.test   # no route: closed\n"
          "  curl -s http://127.0.0.1:%s/metrics | grep gort_proxy_\n\n"
          "Ctrl-C stops it.\n\n",
          tls_port.c_str(), plain_port.c_str(), dir.c_str(), tls_port.c_str(), tls_port.c_str(), dir.c_str(),
          tls_port.c_str(), tls_port.c_str(), plain_port.c_str(), tls_port.c_str(), metrics_port.c_str());
      std::fflush(stdout);
    });
  });
}

}  // namespace gort::proxy
