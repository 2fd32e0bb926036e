// Tests of net/tls/conn.cpp against real TLS programs: `openssl s_client`,
// `curl` and Python's ssl module as clients of a gort server, and a gort
// client of `openssl s_server`. Each peer runs as a child process
// (run_command, through gort::blocking, so the runtime serves meanwhile).
#include "gort_tls_test.hpp"

#include <gort/blocking.hpp>

using namespace gort_test;
namespace net = gort::net;
namespace tls = gort::tls;

namespace {

// command: run_command from a fiber.
ChildResult command(const std::vector<std::string>& argv, std::string_view input = {}) {
  return gort::blocking([&] { return run_command(argv, input, std::chrono::seconds(30)); });
}

bool has(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

// line_handler: the handshake, one line read, "echo: <line>" written back,
// close_notify. *state gets what the handshake agreed.
TlsServer::Handler line_handler(tls::ConnectionState* state) {
  return [state](tls::Conn& c) {
    c.set_deadline(Clock::now() + 20s);
    if (c.handshake()) return;
    *state = c.connection_state();
    std::string line;
    char ch;
    while (line.size() < 1000) {
      auto [n, err] = c.read(std::span(&ch, 1));
      if (err || ch == '\n') break;
      line += ch;
    }
    c.write("echo: " + line + "\n");
    c.close();
  };
}

// http_handler: a request read to its blank line, a small response, close.
TlsServer::Handler http_handler() {
  return [](tls::Conn& c) {
    c.set_deadline(Clock::now() + 20s);
    std::string req;
    char buf[4096];
    while (!has(req, "\r\n\r\n")) {
      auto [n, err] = c.read(std::span(buf));
      req.append(buf, n);
      if (err) return;
    }
    const std::string body = "hello from gort over " + c.connection_state().version + "\n";
    c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\nConnection: close\r\n\r\n" + body);
    c.close();
  };
}

}  // namespace

TEST_CASE("tls: openssl s_client gets the certificate for its SNI and the ALPN protocol, and verifies it") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  int rc = gort::run([&] {
    tls::ConnectionState st;
    TlsServer srv(pki.server({"a", "b"}, {"h2", "http/1.1"}), line_handler(&st));
    for (auto p : {std::pair{"b.test", "CN = b"}, {"www.a.test", "CN = a"}}) {
      const char *name = p.first, *cn = p.second;
      auto r =
          command({"openssl", "s_client", "-connect", srv.addr(), "-servername", name, "-alpn", "http/1.1,h2",
                   "-CAfile", pki.ca(), "-verify_return_error", "-verify_hostname", name, "-ign_eof"},
                  "hello gort\n");
      CHECK_MESSAGE(has(r.out, "echo: hello gort"), r.out, r.err);
      CHECK_MESSAGE(has(r.out, std::string("subject=") + cn), r.out);
      CHECK_MESSAGE(has(r.out, "ALPN protocol: h2"), r.out);
      CHECK_MESSAGE(has(r.out, "Verify return code: 0 (ok)"), r.out);
      CHECK(st.server_name == name);
      CHECK(st.negotiated_protocol == "h2");
    }
    srv.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("tls: curl fetches a page from a gort TLS server, and refuses a name the certificate lacks") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  int rc = gort::run([&] {
    TlsServer srv(pki.server({"a", "b"}, {"http/1.1"}), http_handler());
    for (const char* name : {"a.test", "x.a.test", "b.test"}) {
      const std::string url = std::string("https://") + name + ":" + srv.port() + "/";
      auto r = command({"curl", "-sS", "--max-time", "20", "--cacert", pki.ca(), "--resolve",
                        std::string(name) + ":" + srv.port() + ":127.0.0.1", url});
      CHECK_MESSAGE(r.status == 0, name, ": ", r.err);
      CHECK_MESSAGE(r.out == "hello from gort over TLSv1.3\n", name, ": ", r.out);
    }
    // c.test is in no certificate: the server sends its first one, a.test's,
    // and curl's check fails (exit 60: peer certificate cannot be authenticated).
    auto bad = command({"curl", "-sS", "--max-time", "20", "--cacert", pki.ca(), "--resolve",
                        "c.test:" + srv.port() + ":127.0.0.1", "https://c.test:" + srv.port() + "/"});
    CHECK_MESSAGE(bad.status == 60, bad.err);
    srv.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("tls: python's ssl client verifies a gort server by name and by IP address, and trades data") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  const char* script = R"(
import socket, ssl, sys
cafile, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
ctx.set_alpn_protocols(['http/1.1'])
with socket.create_connection(('127.0.0.1', port)) as raw:
    with ctx.wrap_socket(raw, server_hostname=name) as s:
        data = bytes(range(256)) * 400
        s.sendall(data)
        got = b''
        while len(got) < len(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        subject = dict(x[0] for x in s.getpeercert()['subject'])
        print(s.version(), s.selected_alpn_protocol(), subject['commonName'], got == data)
)";
  int rc = gort::run([&] {
    TlsServer named(pki.server({"a", "b"}, {"http/1.1"}), echo_handler());
    auto r = command({"python3", "-c", script, pki.ca(), named.port(), "b.test"});
    CHECK_MESSAGE(r.out == "TLSv1.3 http/1.1 b True\n", r.out, r.err);
    TlsServer by_ip(pki.server({"ip"}, {"http/1.1"}), echo_handler());
    auto ip = command({"python3", "-c", script, pki.ca(), by_ip.port(), "127.0.0.1"});
    CHECK_MESSAGE(ip.out == "TLSv1.3 http/1.1 ip True\n", ip.out, ip.err);
    auto wrong = command({"python3", "-c", script, pki.ca(), by_ip.port(), "a.test"});
    CHECK_MESSAGE(has(wrong.err, "CERTIFICATE_VERIFY_FAILED"), wrong.err);
    named.stop();
    by_ip.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("tls: a gort client verifies openssl s_server and fetches its page, and refuses a wrong name") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  int rc = gort::run([&] {
    // A free port for s_server: bind one, note it, let it go.
    std::string port;
    {
      auto ln = listen_checked("tcp", "127.0.0.1:0");
      port = std::to_string(ln.addr().port());
    }
    auto server = gort::Chan<ChildResult>(1);
    gort::go([&] {
      server.send(command({"openssl", "s_server", "-accept", "127.0.0.1:" + port, "-cert", pki.cert("a"),
                           "-key", pki.key("a"), "-www", "-naccept", "2"}));
    });
    auto ctx = pki.client();
    tls::Conn c;
    std::error_code err;
    for (int i = 0; i < 100; i++) {  // until s_server listens
      auto [raw, derr] = net::dial("tcp", "127.0.0.1:" + port);
      if (!derr) {
        c = tls::client(std::move(raw), ctx, "a.test");
        break;
      }
      gort::sleep_for(50ms);
    }
    c.set_deadline(Clock::now() + 20s);
    err = c.handshake();
    CHECK_MESSAGE(!err, err.message(), ": ", c.error_detail());
    CHECK(c.connection_state().peer_subject.find("CN=a") != std::string::npos);
    c.write("GET / HTTP/1.0\r\n\r\n");
    std::string page;
    tls_read_all(c, &page);
    CHECK_MESSAGE(has(page, "HTTP/1.0 200 ok"), page);
    c.close();
    // The same server under another name: the client's check fails.
    auto [raw, derr] = net::dial("tcp", "127.0.0.1:" + port);
    REQUIRE_FALSE(derr);
    tls::Conn wrong = tls::client(std::move(raw), ctx, "b.test");
    wrong.set_deadline(Clock::now() + 20s);
    CHECK(wrong.handshake() == gort::tls_errc::bad_certificate);
    CHECK_MESSAGE(has(wrong.error_detail(), "hostname mismatch"), wrong.error_detail());
    wrong.close();
    auto s = server.recv().value;  // s_server exits after its two connections
    CHECK_MESSAGE(s.status == 0, s.out, s.err);
  });
  CHECK(rc == 0);
}
