// Tests of net/tls/conn.cpp with gort on both ends: what a handshake
// agrees, full-duplex data, how each handshake failure is named, deadlines,
// close_notify and half-close, io::copy over TLS, and a server whose first
// bytes were already read (a PrefixConn). Real peers (openssl, curl,
// python): conn_peers_test.cpp.
#include "gort_tls_test.hpp"

#include <gort/io.hpp>

using namespace gort_test;
namespace io = gort::io;
namespace net = gort::net;
namespace tls = gort::tls;

static_assert(io::Reader<tls::Conn> && io::Writer<tls::Conn>);

namespace {

// connect: a TLS client conn to addr for name (handshake not yet run).
tls::Conn connect(const std::string& addr, const tls::Context& ctx, std::string_view name) {
  auto r = net::dial("tcp", addr);  // (no structured binding: clang 14 cannot capture one)
  CHECK_MESSAGE(!r.err, "dial ", addr, ": ", r.err.message());
  return tls::client(std::move(r.value), ctx, name);
}

// Outcome: one side's handshake result and the detail.
struct Outcome {
  std::error_code err;
  std::string detail;
};

// handshake_pair runs a handshake between a server over sctx and a client
// over cctx asking for name, and returns both sides' outcomes.
std::pair<Outcome, Outcome> handshake_pair(const tls::Context& sctx, const tls::Context& cctx,
                                           std::string_view name) {
  Outcome server, client;
  int rc = gort::run([&] {
    TlsServer srv(sctx, [&](tls::Conn& c) {
      c.set_deadline(Clock::now() + 5s);
      server.err = c.handshake();
      server.detail = c.error_detail();
    });
    tls::Conn c = connect(srv.addr(), cctx, name);
    c.set_deadline(Clock::now() + 5s);
    client.err = c.handshake();
    client.detail = c.error_detail();
    c.close();
    srv.stop();
  });
  CHECK(rc == 0);
  return {server, client};
}

}  // namespace

TEST_CASE(
    "tls: a gort client and server agree on TLS 1.3, ALPN and the SNI's certificate, and stream both ways") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  const std::string up = pattern(4 << 20), down = pattern((4 << 20) + 17).substr(17);
  for_each_procs([&](int) {
    tls::ConnectionState sstate;
    std::string server_got;
    std::error_code server_err;
    TlsServer srv(pki.server({"a", "b"}, {"h2", "http/1.1"}), [&](tls::Conn& c) {
      server_err = c.handshake();
      sstate = c.connection_state();
      auto wrote = gort::Chan<gort::Result<std::size_t>>(1);
      gort::go([&] {  // the server writes while it reads
        auto r = c.write(down);
        c.close_write();
        wrote.send(r);
      });
      if (auto e = tls_read_all(c, &server_got); e && !server_err) server_err = e;
      wrote.recv();
      c.close();
    });
    tls::Conn c = connect(srv.addr(), pki.client({"http/1.1", "h2"}), "b.test");
    REQUIRE_FALSE(c.handshake());
    auto st = c.connection_state();
    CHECK(st.handshake_complete);
    CHECK(st.version == "TLSv1.3");
    CHECK(st.negotiated_protocol == "h2");  // the server's preference
    CHECK(st.server_name == "b.test");
    CHECK(st.peer_subject.find("CN=b") != std::string::npos);
    auto wrote = gort::Chan<gort::Result<std::size_t>>(1);
    gort::go([&] {  // the client writes while it reads too
      auto r = c.write(up);
      c.close_write();
      wrote.send(r);
    });
    std::string got;
    CHECK_FALSE(tls_read_all(c, &got));
    auto w = wrote.recv().value;
    CHECK(w.value == up.size());
    CHECK_FALSE(w.err);
    CHECK(got == down);
    c.close();
    srv.stop();
    CHECK_FALSE(server_err);
    CHECK(server_got == up);
    CHECK(sstate.server_name == "b.test");
    CHECK(sstate.negotiated_protocol == "h2");
  });
}

TEST_CASE("tls: the server picks the certificate by SNI: exact, wildcard, else the first") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  auto sctx = pki.server({"a", "b"});
  gort::tls::Config insecure;
  insecure.insecure_skip_verify = true;
  auto any = tls::Context::client(insecure).value;
  int rc = gort::run([&] {
    TlsServer srv(sctx, echo_handler());
    for (auto p : {std::pair{"b.test", "CN=b"},
                   {"a.test", "CN=a"},
                   {"www.a.test", "CN=a"},
                   {"B.TEST", "CN=b"},
                   {"c.test", "CN=a"}}) {
      const char *name = p.first, *want = p.second;
      // No CAPTURE, and nothing that parks inside a CHECK_MESSAGE: doctest
      // keeps its message scopes per thread, and this fiber may migrate.
      tls::Conn c = connect(srv.addr(), any, name);
      auto err = c.handshake();
      CHECK_MESSAGE(!err, name);
      CHECK_MESSAGE(c.connection_state().peer_subject.find(want) != std::string::npos, name);
      c.close();
    }
    // Verified: the wildcard covers one label, not two.
    tls::Conn ok = connect(srv.addr(), pki.client(), "x.a.test");
    CHECK_FALSE(ok.handshake());
    tls::Conn deep = connect(srv.addr(), pki.client(), "x.y.a.test");
    CHECK(deep.handshake() == gort::tls_errc::bad_certificate);
    ok.close();
    deep.close();
    srv.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("tls: handshake failures are named on both sides") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  SUBCASE("a certificate from a CA the client does not trust") {
    auto [s, c] = handshake_pair(pki.server({"untrusted"}), pki.client(), "a.test");
    CHECK(c.err == gort::tls_errc::bad_certificate);
    CHECK(c.detail.find("unable to get local issuer certificate") != std::string::npos);
    CHECK(s.err == gort::tls_errc::bad_certificate);  // the client's alert
  }
  SUBCASE("a certificate for another name") {
    auto [s, c] = handshake_pair(pki.server({"b"}), pki.client(), "a.test");
    CHECK(c.err == gort::tls_errc::bad_certificate);
    CHECK(c.detail.find("hostname mismatch") != std::string::npos);
  }
  SUBCASE("no version in common") {
    tls::Config only13;
    only13.certificates.push_back(pki.certificate("a"));
    only13.min_version = tls::kVersionTLS13;
    auto [s, c] =
        handshake_pair(tls::Context::server(only13).value, pki.client({}, tls::kVersionTLS12), "a.test");
    CHECK(s.err == gort::tls_errc::no_shared_cipher);
    CHECK(c.err == gort::tls_errc::no_shared_cipher);
  }
  SUBCASE("no application protocol in common") {
    auto [s, c] = handshake_pair(pki.server({"a"}, {"h2"}), pki.client({"http/1.1"}), "a.test");
    CHECK(s.err == gort::tls_errc::no_application_protocol);
    CHECK(c.err == gort::tls_errc::no_application_protocol);
  }
  SUBCASE("a server name no certificate has, under strict_sni") {
    gort::tls::Config insecure;
    insecure.insecure_skip_verify = true;
    auto [s, c] = handshake_pair(pki.server({"a"}, {}, true), tls::Context::client(insecure).value, "b.test");
    CHECK(s.err == gort::tls_errc::unknown_server_name);
    CHECK(c.err == gort::tls_errc::unknown_server_name);
  }
  SUBCASE("a client with neither a server name nor insecure_skip_verify") {
    auto [s, c] = handshake_pair(pki.server({"a"}), pki.client(), "");
    CHECK(c.err == gort::tls_errc::bad_config);
    CHECK(c.detail.find("server_name") != std::string::npos);
  }
}

TEST_CASE("tls: a plain-text client fails the server's handshake with not_tls") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  std::error_code server_err;
  int rc = gort::run([&] {
    TlsServer srv(pki.server({"a"}), [&](tls::Conn& c) {
      c.set_deadline(Clock::now() + 5s);
      server_err = c.handshake();
    });
    auto [raw, err] = net::dial("tcp", srv.addr());
    REQUIRE_FALSE(err);
    raw.write("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    std::string got;
    read_all(raw, &got);  // whatever the server says, it then closes
    srv.stop();
  });
  CHECK(rc == 0);
  CHECK(server_err == gort::tls_errc::not_tls);
}

TEST_CASE("tls: a client that says nothing fails the handshake at the server's deadline") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  std::error_code server_err;
  long long waited = 0;
  int rc = gort::run([&] {
    TlsServer srv(pki.server({"a"}), [&](tls::Conn& c) {
      auto start = Clock::now();
      c.set_deadline(start + 100ms);
      server_err = c.handshake();
      waited = ms(Clock::now() - start);
    });
    auto [raw, err] = net::dial("tcp", srv.addr());
    REQUIRE_FALSE(err);
    std::string got;
    read_all(raw, &got);  // the server gives up and closes
    srv.stop();
  });
  CHECK(rc == 0);
  CHECK(server_err == gort::io_errc::timeout);
  CHECK(waited >= 90);
}

TEST_CASE("tls: close sends close_notify, and close_write half-closes while the other way goes on") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  for_each_procs([&](int) {
    std::string server_got;
    std::error_code server_end;
    TlsServer srv(pki.server({"a"}), [&](tls::Conn& c) {
      server_end = tls_read_all(c, &server_got);  // until the client's close_notify
      c.write("bye after " + std::to_string(server_got.size()));
      c.close();
    });
    tls::Conn c = connect(srv.addr(), pki.client(), "a.test");
    CHECK(c.write("half").value == 4);
    CHECK_FALSE(c.close_write());
    std::string got;
    CHECK_FALSE(tls_read_all(c, &got));  // the server's close_notify: eof, not unexpected_eof
    CHECK(got == "bye after 4");
    CHECK_FALSE(c.close());
    CHECK(c.close() == gort::io_errc::closed);
    CHECK(c.write("late").err == gort::io_errc::closed);
    srv.stop();
    CHECK_FALSE(server_end);
    CHECK(server_got == "half");
  });
}

TEST_CASE("tls: io::copy over a tls::Conn takes the buffered loop, byte-exact") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  const std::string data = pattern(3 << 20);
  for_each_procs([&](int) {
    auto plain = tcp_pair();  // the terminating proxy's upstream
    REQUIRE(plain.ok);
    gort::Result<std::uint64_t> copied;
    TlsServer srv(pki.server({"a"}), [&](tls::Conn& c) {
      copied = io::copy(plain.client, c);  // decrypt into a plain conn
      plain.client.close_write();
    });
    tls::Conn c = connect(srv.addr(), pki.client(), "a.test");
    const io::Stats before = io::stats();
    io::BytesReader src(data);
    auto sent = io::copy(c, src);
    CHECK(sent.value == data.size());
    CHECK_FALSE(sent.err);
    // close_write, then read to the end before close: closing a socket with
    // unread bytes (here the server's TLS 1.3 session tickets) resets it,
    // and the reset would overtake the data still in flight.
    CHECK_FALSE(c.close_write());
    std::string rest;
    CHECK_FALSE(tls_read_all(c, &rest));
    c.close();
    std::string got;
    CHECK_FALSE(read_all(plain.server, &got));
    srv.stop();
    CHECK(got == data);
    CHECK(copied.value == data.size());
    CHECK_FALSE(copied.err);
    CHECK(io::stats().buffered_bytes - before.buffered_bytes == 2 * data.size());
  });
}

TEST_CASE("tls: a server over a PrefixConn handshakes with the bytes already read from the client") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  auto sctx = pki.server({"a", "b"});
  int rc = gort::run([&] {
    auto ln = listen_checked("tcp", "127.0.0.1:0");
    std::string sni;
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      auto [raw, err] = ln.accept();
      char head[11];  // a record header and the start of the ClientHello
      if (!err && !io::read_full(raw, std::span(head)).err) {
        tls::Conn c = tls::server(net::PrefixConn(std::move(raw), std::string_view(head, sizeof head)), sctx);
        if (!c.handshake()) {
          sni = c.connection_state().server_name;
          char buf[64];
          auto [n, rerr] = c.read(std::span(buf));
          c.write(std::string_view(buf, n));
        }
        c.close();
      }
      wg.done();
    });
    tls::Conn c = connect(ln.addr().to_string(), pki.client(), "b.test");
    CHECK_FALSE(c.handshake());
    CHECK(c.write("replayed").value == 8);
    std::string got;
    CHECK_FALSE(tls_read_all(c, &got));
    CHECK(got == "replayed");
    wg.wait();
    CHECK(sni == "b.test");
  });
  CHECK(rc == 0);
}
