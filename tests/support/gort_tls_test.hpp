// gort_tls_test.hpp: what the TLS tests (tests/net/tls/) share: a test PKI
// made with the real `openssl` command (a CA, and leaf certificates for
// a.test and *.a.test, b.test, and 127.0.0.1), and server and client
// Contexts over it.
#pragma once

#include "gort_net_test.hpp"

#include <gort/tls.hpp>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

namespace gort_test {

// TestPKI: a CA and three leaves in a fresh temporary directory, removed
// with it. ok is false (and why says why) if openssl failed.
struct TestPKI {
  std::string dir, why;
  bool ok = false;

  TestPKI() {
    char tmpl[] = "/tmp/gort-tls-test-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    dir = tmpl;
    ok = sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30"
            " -keyout ca-key.pem -out ca.pem -subj '/CN=gort test CA'"
            " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign") &&
         leaf("a", "DNS:a.test,DNS:*.a.test") && leaf("b", "DNS:b.test") && leaf("ip", "IP:127.0.0.1") &&
         // A second CA nobody trusts, and a leaf for a.test from it.
         sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30"
            " -keyout other-ca-key.pem -out other-ca.pem -subj '/CN=other CA'"
            " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign") &&
         leaf("untrusted", "DNS:a.test", "other-ca");
  }
  ~TestPKI() {
    if (!dir.empty()) std::system(("rm -rf '" + dir + "'").c_str());
  }

  std::string path(const std::string& name) const { return dir + "/" + name; }
  std::string cert(const std::string& leaf) const { return path(leaf + ".pem"); }
  std::string key(const std::string& leaf) const { return path(leaf + "-key.pem"); }
  std::string ca() const { return path("ca.pem"); }

  // certificate loads leaf's key pair (an empty Certificate on failure).
  gort::tls::Certificate certificate(const std::string& leaf) const {
    auto r = gort::tls::load_x509_key_pair(cert(leaf), key(leaf));
    CHECK_MESSAGE(!r.err, "load ", leaf, ": ", r.err.message());
    return r.value;
  }

  // server: a Context serving the given leaves (the first is the default).
  gort::tls::Context server(std::initializer_list<const char*> leaves, std::vector<std::string> alpn = {},
                            bool strict_sni = false) const {
    gort::tls::Config cfg;
    for (const char* l : leaves) cfg.certificates.push_back(certificate(l));
    cfg.next_protos = std::move(alpn);
    cfg.strict_sni = strict_sni;
    auto r = gort::tls::Context::server(cfg);
    CHECK_MESSAGE(!r.err, "server context: ", r.err.message());
    return r.value;
  }

  // client: a Context trusting this PKI's CA.
  gort::tls::Context client(std::vector<std::string> alpn = {}, std::uint16_t max_version = 0) const {
    gort::tls::Config cfg;
    cfg.ca_file = ca();
    cfg.next_protos = std::move(alpn);
    cfg.max_version = max_version;
    auto r = gort::tls::Context::client(cfg);
    CHECK_MESSAGE(!r.err, "client context: ", r.err.message());
    return r.value;
  }

 private:
  bool sh(const std::string& cmd) {
    std::string full = "cd '" + dir + "' && " + cmd + " >>openssl.log 2>&1";
    if (std::system(full.c_str()) == 0) return true;
    std::ifstream log(path("openssl.log"));
    std::stringstream s;
    s << log.rdbuf();
    why = cmd + ": " + s.str();
    return false;
  }
  bool leaf(const std::string& name, const std::string& san, const std::string& ca = "ca") {
    std::ofstream(path(name + ".ext")) << "subjectAltName=" << san
                                       << "\nextendedKeyUsage=serverAuth,clientAuth\n"
                                          "basicConstraints=CA:FALSE\n";
    return sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
              "-key.pem -out " + name + ".csr -subj '/CN=" + name + "'") &&
           sh("openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
              "-key.pem -CAcreateserial -days 30 -out " + name + ".pem -extfile " + name + ".ext");
  }
};

}  // namespace gort_test

namespace gort_test {

// TlsServer: a TLS server on 127.0.0.1:0 for a test. Every accepted conn
// becomes a tls::Conn server over ctx and runs handler in a fiber of its
// own. stop() closes the listener and waits for the handlers. Declare it
// inside gort::run, and stop() it before it goes.
class TlsServer {
 public:
  using Handler = std::function<void(gort::tls::Conn&)>;
  TlsServer(gort::tls::Context ctx, Handler handler)
      : ln_(listen_checked("tcp", "127.0.0.1:0")), ctx_(std::move(ctx)), handler_(std::move(handler)) {
    wg_.add(1);
    gort::go([this] {
      for (;;) {
        auto [c, err] = ln_.accept();
        if (err) break;
        wg_.add(1);
        gort::go(
            [this](gort::net::Conn raw) {
              gort::tls::Conn t = gort::tls::server(std::move(raw), ctx_);
              handler_(t);
              wg_.done();
            },
            std::move(c));
      }
      wg_.done();
    });
  }
  ~TlsServer() { stop(); }
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    ln_.close();
    wg_.wait();
  }
  std::string addr() const { return ln_.addr().to_string(); }
  std::string port() const { return std::to_string(ln_.addr().port()); }

 private:
  gort::net::Listener ln_;
  gort::tls::Context ctx_;
  Handler handler_;
  gort::WaitGroup wg_;
  bool stopped_ = false;
};

// echo_handler: the handshake, then every byte back until EOF, then close
// (close_notify). *state and *err, if given, get the handshake's outcome.
inline TlsServer::Handler echo_handler(gort::tls::ConnectionState* state = nullptr,
                                       std::error_code* err = nullptr) {
  return [state, err](gort::tls::Conn& c) {
    auto e = c.handshake();
    if (err) *err = e;
    if (state) *state = c.connection_state();
    if (e) return;
    char buf[16 * 1024];
    for (;;) {
      auto [n, rerr] = c.read(std::span(buf));
      if (n && c.write(std::string_view(buf, n)).err) break;
      if (rerr) break;
    }
    c.close();
  };
}

// tls_read_all reads c until EOF (returned as no error) or an error.
inline std::error_code tls_read_all(gort::tls::Conn& c, std::string* out) {
  char buf[16 * 1024];
  for (;;) {
    auto [n, err] = c.read(std::span(buf));
    out->append(buf, n);
    if (err) return err == gort::io_errc::eof ? std::error_code{} : err;
  }
}

}  // namespace gort_test
