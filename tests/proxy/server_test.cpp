// Tests of proxy/server.cpp and proxy/session.cpp in one process: a Server
// on loopback between gort clients and gort backends, for each thing a
// user of nginx stream or HAProxy counts on: bytes exact both ways and
// half-close, SNI routing (and nothing dialed without a route), TLS
// termination, PROXY headers, the hello and idle timeouts, the connection
// limit, graceful shutdown and reload. (The same with real programs:
// tests/proxy/e2e_test.py.)
#include "gort_tls_test.hpp"

#include "proxy_protocol.hpp"
#include "server.hpp"

#include <gort/io.hpp>

#include <map>

using namespace gort_test;
namespace net = gort::net;
namespace tls = gort::tls;
namespace io = gort::io;
using namespace gort::proxy;

namespace {

// Backend: a server on 127.0.0.1:0 that runs handler on each conn in a
// fiber. stop() closes the listener and waits for the handlers.
class Backend {
 public:
  using Handler = std::function<void(net::Conn&)>;
  explicit Backend(Handler h) : ln_(listen_checked("tcp", "127.0.0.1:0")), handler_(std::move(h)) {
    wg_.add(1);
    gort::go([this] {
      for (;;) {
        auto [c, err] = ln_.accept();
        if (err) break;
        accepted++;
        wg_.add(1);
        gort::go(
            [this](net::Conn c) {
              handler_(c);
              wg_.done();
            },
            std::move(c));
      }
      wg_.done();
    });
  }
  ~Backend() { stop(); }
  void stop() {
    if (!stopped_) ln_.close(), wg_.wait();
    stopped_ = true;
  }
  std::string addr() const { return ln_.addr().to_string(); }
  std::atomic<int> accepted{0};

 private:
  net::Listener ln_;
  Handler handler_;
  gort::WaitGroup wg_;
  bool stopped_ = false;
};

// echo_conn: every byte back until EOF, then close.
void echo_conn(net::Conn& c) {
  char buf[16384];
  for (;;) {
    auto [n, err] = c.read(std::span(buf));
    if (n && c.write(buf, n).err) break;
    if (err) break;
  }
  c.close();
}

Route forward_route(std::string upstream) {
  Route r;
  r.name = "fwd";
  r.upstreams = {std::move(upstream)};
  return r;
}

// one_listener: a Config with one listener on 127.0.0.1:0 and these routes.
Config one_listener(std::vector<Route> routes, Timeouts t = {}) {
  Config cfg;
  cfg.timeouts = t;
  Listener l;
  l.name = "l";
  l.address = "127.0.0.1:0";
  l.routes = std::move(routes);
  cfg.listeners.push_back(std::move(l));
  auto e = validate(cfg);
  CHECK_MESSAGE(!e, e.message);
  return cfg;
}

std::string proxy_addr(const Server& s) { return s.addresses().at(0).second; }

net::Conn dial(const std::string& addr) {
  auto r = net::dial("tcp", addr);
  CHECK_MESSAGE(!r.err, r.err.message());
  return std::move(r.value);
}

}  // namespace

TEST_CASE(
    "proxy: a forward route moves 64 MiB each way byte-exact, and a half-closed client gets the whole "
    "reply") {
  const std::size_t size = std::size_t(scaled(64)) << 20;
  int rc = gort::run(gort::Config{.procs = 2}, [&] {
    std::uint64_t backend_sum = 0, backend_got = 0;
    // The backend reads everything, and only after the client's EOF sends its reply.
    Backend be([&](net::Conn& c) {
      Fnv h;
      char buf[65536];
      for (;;) {
        auto [n, err] = c.read(std::span(buf));
        h.add(buf, n);
        backend_got += n;
        if (err) break;
      }
      backend_sum = h.h;
      std::vector<char> chunk(1 << 20);
      for (std::size_t sent = 0; sent < size; sent += chunk.size()) {
        for (std::size_t i = 0; i < chunk.size(); i++) chunk[i] = static_cast<char>((sent + i) * 13 / 7);
        if (c.write(chunk.data(), chunk.size()).err) break;
      }
      c.close();
    });
    Server srv(nullptr, nullptr);
    REQUIRE(srv.start(one_listener({forward_route(be.addr())})).empty());
    net::Conn c = dial(proxy_addr(srv));
    Fnv sent;
    std::vector<char> chunk(1 << 20);
    for (std::size_t k = 0; k < size; k += chunk.size()) {
      for (std::size_t i = 0; i < chunk.size(); i++) chunk[i] = static_cast<char>((k + i) * 31 + i / 977);
      sent.add(chunk.data(), chunk.size());
      REQUIRE_FALSE(c.write(chunk.data(), chunk.size()).err);
    }
    CHECK_FALSE(c.close_write());  // half-close: the reply must still come
    Fnv want, got;
    for (std::size_t k = 0; k < size; k += chunk.size()) {
      for (std::size_t i = 0; i < chunk.size(); i++) chunk[i] = static_cast<char>((k + i) * 13 / 7);
      want.add(chunk.data(), chunk.size());
    }
    std::uint64_t got_bytes = 0;
    char buf[65536];
    for (;;) {
      auto [n, err] = c.read(std::span(buf));
      got.add(buf, n);
      got_bytes += n;
      if (err) break;
    }
    CHECK(backend_got == size);
    CHECK(backend_sum == sent.h);
    CHECK(got_bytes == size);
    CHECK(got.h == want.h);
    c.close();
    srv.shutdown(std::chrono::seconds(5));
    be.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE(
    "proxy: SNI routes reach the backend for each name, an unknown name is closed and nothing is dialed") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  int rc = gort::run([&] {
    TlsServer a(pki.server({"a"}), echo_handler()), b(pki.server({"b"}), echo_handler());
    Route ra, rb;
    ra.name = "a", ra.mode = rb.mode = Mode::passthrough, rb.name = "b";
    ra.sni = {"a.test", "*.a.test"}, rb.sni = {"b.test"};
    ra.upstreams = {a.addr()}, rb.upstreams = {b.addr()};
    Backend never([](net::Conn& c) { c.close(); });  // a route nobody may reach
    Route rn;
    rn.name = "never", rn.mode = Mode::passthrough, rn.sni = {"never.test"}, rn.upstreams = {never.addr()};
    AccessLog log;
    log.open("");
    Server srv(nullptr, nullptr);
    REQUIRE(srv.start(one_listener({ra, rb, rn})).empty());
    for (auto p : {std::pair{"a.test", "CN=a"}, {"www.a.test", "CN=a"}, {"b.test", "CN=b"}}) {
      tls::Conn c = tls::client(dial(proxy_addr(srv)), pki.client(), p.first);
      auto err = c.handshake();
      CHECK_MESSAGE(!err, p.first, ": ", err.message(), " ", c.error_detail());
      auto peer = c.connection_state().peer_subject;
      CHECK_MESSAGE(peer.find(p.second) != std::string::npos, p.first, ": ", peer);
      CHECK(c.write("ping").value == 4);
      char buf[4];
      CHECK(io::read_full(c, std::span(buf)).value == 4);
      c.close();
    }
    tls::Conn unknown = tls::client(dial(proxy_addr(srv)), pki.client(), "c.test");
    CHECK(unknown.handshake());  // closed by the proxy
    unknown.close();
    srv.shutdown(std::chrono::seconds(5));
    CHECK(never.accepted == 0);
    a.stop(), b.stop(), never.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy: a terminate route serves TLS with its certificate and forwards plaintext") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  int rc = gort::run([&] {
    std::string seen;
    Backend plain([&](net::Conn& c) {
      char buf[64];
      auto [n, err] = c.read(std::span(buf));
      seen.assign(buf, n);
      c.write("plain says hi");
      c.close();
    });
    Route r;
    r.name = "term", r.mode = Mode::terminate, r.sni = {"b.test"};
    r.cert_file = pki.cert("b"), r.key_file = pki.key("b");
    r.next_protos = {"http/1.1"};
    r.upstreams = {plain.addr()};
    Server srv(nullptr, nullptr);
    REQUIRE(srv.start(one_listener({r})).empty());
    tls::Conn c = tls::client(dial(proxy_addr(srv)), pki.client({"http/1.1"}), "b.test");
    REQUIRE_FALSE(c.handshake());
    CHECK(c.connection_state().negotiated_protocol == "http/1.1");
    CHECK(c.write("hello").value == 5);
    std::string got;
    CHECK_FALSE(tls_read_all(c, &got));
    CHECK(got == "plain says hi");
    CHECK(seen == "hello");  // decrypted by the proxy
    c.close();
    srv.shutdown(std::chrono::seconds(5));
    plain.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy: a PROXY v2 header tells the upstream the client's address and server name") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  int rc = gort::run([&] {
    std::string src, authority;
    Backend be([&](net::Conn& c) {
      auto h = pp::read_header(std::move(c), Clock::now() + 5s);
      if (h.err) return;
      src = h.header.src.to_string();
      if (auto* t = h.header.find(pp::tlv::authority)) authority = t->value;
      h.conn.close();
    });
    Route r;
    r.name = "pp", r.mode = Mode::passthrough, r.sni = {"a.test"}, r.upstreams = {be.addr()},
    r.proxy_protocol = 2;
    Server srv(nullptr, nullptr);
    REQUIRE(srv.start(one_listener({r})).empty());
    net::Conn raw = dial(proxy_addr(srv));
    const std::string client_addr = raw.local_addr().to_string();
    tls::Conn c = tls::client(std::move(raw), pki.client(), "a.test");
    c.set_deadline(Clock::now() + 5s);
    c.handshake();  // fails: the backend speaks no TLS; the header is what counts
    c.close();
    srv.shutdown(std::chrono::seconds(5));
    be.stop();
    CHECK(src == client_addr);
    CHECK(authority == "a.test");
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy: a silent client is cut at the hello timeout, an idle conn at the idle timeout") {
  int rc = gort::run([&] {
    Backend be(echo_conn);
    Timeouts t;
    t.client_hello = 150ms;
    t.idle = 200ms;
    Route pass;
    pass.name = "p", pass.mode = Mode::passthrough, pass.is_default = true, pass.upstreams = {be.addr()};
    Server tls_srv(nullptr, nullptr), fwd_srv(nullptr, nullptr);
    REQUIRE(tls_srv.start(one_listener({pass}, t)).empty());
    REQUIRE(fwd_srv.start(one_listener({forward_route(be.addr())}, t)).empty());
    net::Conn silent = dial(proxy_addr(tls_srv));
    auto start = Clock::now();
    std::string got;
    CHECK_FALSE(read_all(silent, &got));  // closed by the proxy
    CHECK(ms(Clock::now() - start) >= 140);
    CHECK(be.accepted == 0);
    net::Conn idle = dial(proxy_addr(fwd_srv));
    CHECK(idle.write("once").value == 4);
    got.clear();
    CHECK_FALSE(read_n(idle, 4, &got));
    start = Clock::now();
    std::string rest;
    auto e = read_all(idle, &rest);  // then nothing either way: cut after ~200 ms
    CHECK_MESSAGE((!e || e == std::errc::connection_reset), e.message());
    CHECK(ms(Clock::now() - start) >= 150);
    CHECK(ms(Clock::now() - start) < 5000);
    tls_srv.shutdown(1s), fwd_srv.shutdown(1s);
    be.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy: past max_connections the proxy stops accepting until a conn ends, and drops none") {
  int rc = gort::run([&] {
    Backend be(echo_conn);
    Config cfg = one_listener({forward_route(be.addr())});
    cfg.max_connections = 2;
    Server srv(nullptr, nullptr);
    REQUIRE(srv.start(cfg).empty());
    net::Conn c1 = dial(proxy_addr(srv)), c2 = dial(proxy_addr(srv));
    std::string got;
    for (net::Conn* c : {&c1, &c2}) {
      CHECK(c->write("hi").value == 2);
      got.clear();
      CHECK_FALSE(read_n(*c, 2, &got));
    }
    net::Conn c3 = dial(proxy_addr(srv));  // the kernel takes it into the backlog...
    CHECK(c3.write("third").value == 5);
    c3.set_read_deadline(Clock::now() + 300ms);
    char buf[8];
    CHECK(c3.read(std::span(buf)).err == gort::io_errc::timeout);  // ...but the proxy does not serve it
    CHECK(be.accepted == 2);
    c1.close();  // a slot frees: c3 is accepted, and what it sent is there
    c3.set_read_deadline(Clock::now() + 5s);
    got.clear();
    CHECK_FALSE(read_n(c3, 5, &got));
    CHECK(got == "third");
    c2.close(), c3.close();
    srv.shutdown(1s);
    be.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE(
    "proxy: shutdown lets a transfer in flight finish within the grace period, then cuts what is left") {
  int rc = gort::run([&] {
    Backend be(echo_conn);
    Server srv(nullptr, nullptr);
    REQUIRE(srv.start(one_listener({forward_route(be.addr())})).empty());
    const std::string addr = proxy_addr(srv);
    net::Conn busy = dial(addr), stuck = dial(addr);
    CHECK(stuck.write("x").value == 1);
    std::string got;
    CHECK_FALSE(read_n(stuck, 1, &got));
    auto done = gort::Chan<int>(1);
    gort::go([&] {
      srv.shutdown(1s);
      done.send(1);
    });
    gort::sleep_for(50ms);
    auto late = net::dial("tcp", addr);  // the listener is closed
    CHECK(late.err == std::errc::connection_refused);
    // The busy conn still works within the grace period, and finishes.
    const std::string data = pattern(256 * 1024);
    auto wrote = pending_write(busy, data);
    got.clear();
    CHECK_FALSE(read_n(busy, data.size(), &got));
    CHECK(got == data);
    CHECK(wrote.recv().value.value == data.size());
    busy.close();
    // The stuck one (open, silent) is cut when the grace period ends.
    auto start = Clock::now();
    std::string rest;
    read_all(stuck, &rest);
    CHECK(ms(Clock::now() - start) < 3000);
    done.recv();
    CHECK(srv.active() == 0);
    stuck.close();
    be.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy: reload sends new conns to the new route while a transfer on the old one goes on") {
  int rc = gort::run([&] {
    Backend old_be(echo_conn), new_be([](net::Conn&c) {
      c.write("new");
      c.close();
    });
    Server srv(nullptr, nullptr);
    Config cfg = one_listener({forward_route(old_be.addr())});
    REQUIRE(srv.start(cfg).empty());
    const std::string addr = proxy_addr(srv);
    net::Conn during = dial(addr);
    CHECK(during.write("before").value == 6);
    std::string got;
    CHECK_FALSE(read_n(during, 6, &got));
    // The same listener (the same address in the config), routed elsewhere.
    cfg.listeners[0].routes = {forward_route(new_be.addr())};
    REQUIRE_FALSE(validate(cfg));
    CHECK(srv.reload(cfg) == "");
    net::Conn fresh = dial(addr);
    got.clear();
    CHECK_FALSE(read_all(fresh, &got));
    CHECK(got == "new");
    CHECK(during.write("after").value == 5);  // the old conn still reaches the old backend
    got.clear();
    CHECK_FALSE(read_n(during, 5, &got));
    CHECK(got == "after");
    // A bad config is refused and the old one goes on.
    Config bad = cfg;
    bad.listeners[0].routes[0].mode = Mode::terminate;
    bad.listeners[0].routes[0].cert_file = "/nonexistent.pem";
    CHECK_FALSE(srv.reload(bad).empty());
    net::Conn after = dial(addr);
    got.clear();
    CHECK_FALSE(read_all(after, &got));
    CHECK(got == "new");
    during.close(), fresh.close(), after.close();
    srv.shutdown(1s);
    old_be.stop(), new_be.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy: upstreams are taken round-robin, and a dead one is skipped for the next") {
  int rc = gort::run([&] {
    Backend one([](net::Conn& c) {
      c.write("one");
      c.close();
    });
    Backend two([](net::Conn& c) {
      c.write("two");
      c.close();
    });
    std::string dead;  // a port nobody listens on: bound, then closed
    {
      auto ln = listen_checked("tcp", "127.0.0.1:0");
      dead = ln.addr().to_string();
    }
    Route r = forward_route(one.addr());
    r.upstreams = {dead, one.addr(), two.addr()};
    Server srv(nullptr, nullptr);
    REQUIRE(srv.start(one_listener({r})).empty());
    std::map<std::string, int> seen;
    for (int i = 0; i < 6; i++) {
      net::Conn c = dial(proxy_addr(srv));
      std::string got;
      CHECK_FALSE(read_all(c, &got));
      seen[got]++;
    }
    CHECK(seen["one"] + seen["two"] == 6);  // every conn served, none lost to the dead upstream
    CHECK(seen["one"] >= 2);                // and both live ones take turns
    CHECK(seen["two"] >= 2);
    srv.shutdown(1s);
    one.stop(), two.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy: a terminate route re-encrypts to a TLS upstream and verifies it") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  int rc = gort::run([&] {
    tls::ConnectionState upstream_saw;
    TlsServer up(pki.server({"b"}), echo_handler(&upstream_saw));
    Route r;
    r.name = "re", r.mode = Mode::terminate, r.sni = {"a.test"};
    r.cert_file = pki.cert("a"), r.key_file = pki.key("a");
    r.upstreams = {up.addr()};
    r.upstream_tls = true, r.upstream_server_name = "b.test", r.upstream_ca_file = pki.ca();
    Server srv(nullptr, nullptr);
    REQUIRE(srv.start(one_listener({r})).empty());
    tls::Conn c = tls::client(dial(proxy_addr(srv)), pki.client(), "a.test");
    REQUIRE_FALSE(c.handshake());
    CHECK(c.connection_state().peer_subject.find("CN=a") != std::string::npos);  // the proxy's certificate
    CHECK(c.write("twice encrypted").value == 15);
    char buf[15];
    CHECK(io::read_full(c, std::span(buf)).value == 15);
    CHECK(std::string(buf, 15) == "twice encrypted");
    c.close();
    srv.shutdown(1s);
    up.stop();
    CHECK(upstream_saw.server_name == "b.test");  // the SNI the proxy sent upstream
  });
  CHECK(rc == 0);
}
