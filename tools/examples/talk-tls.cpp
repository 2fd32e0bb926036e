// talk-tls: the last stage of Filippo Valsorda's GopherCon 2018 talk
// "Asynchronous Networking Patterns": serve TLS. The connection's
// ClientHello is peeked as in talk-sni (to log the server name before any
// TLS is spoken), and the conn, with the hello put back, is handed to a TLS
// server, which reads the hello again from the front and runs the handshake
// in the connection's own fiber. Then either a greeting and an echo over
// TLS, or, with --upstream, the decrypted bytes proxied to a plain upstream
// (TLS termination, as the talk's prepared.go ends).
//
//   talk-tls [--listen ADDR] [--certs DIR] [--upstream ADDR] [--timeout 30s]
//            (defaults localhost:4242, $GORT_CERTS_DIR or ./certs, echo, 30s)
//   curl --cacert certs/ca.pem https://localhost:4242/   (with --upstream to an HTTP server)
//
// The certificate is a development one, made at start-up with the gort::certs
// library (tools/certs: mkcert's scheme): a local CA, created in DIR once and
// reused, signs DIR/localhost.pem for localhost, 127.0.0.1 and ::1. Clients
// that trust DIR/ca.pem accept it (`gort-certs --help` says how to make
// curl, Python or the system trust it).
//
// The talk's Go (stages/5_cryptotls.go, prepared.go), in outline, and the
// same in gort:
//
//   cert, err := tls.LoadX509KeyPair(              auto cert = gort::tls::load_x509_key_pair(
//       "localhost.pem", "localhost-key.pem")          dir + "/localhost.pem", dir + "/localhost-key.pem");
//   config := &tls.Config{                         gort::tls::Config config;
//       Certificates: []tls.Certificate{cert}}     config.certificates.push_back(cert.value);
//                                                  auto ctx = gort::tls::Context::server(config);
//   ... peek the ClientHello into buf ...          auto peeked = gort::tls::peek_client_hello(...);
//   c := tls.Server(prefixConn{                    gort::tls::Conn tc =
//       Reader: io.MultiReader(&buf, conn),            gort::tls::server(std::move(peeked.conn), ctx);
//       Conn:   conn,
//   }, config)
//   proxyConn(c, "gophercon.com:http")             tc.handshake(); then echo, or proxy to --upstream
//
// What runs underneath: OpenSSL never touches the socket. It works on two
// memory buffers, and the fiber moves ciphertext between them and the conn:
// when OpenSSL wants bytes, the fiber reads the conn (the PrefixConn's
// prefix first, then the socket, parking in the netpoller like any read);
// when OpenSSL has bytes to send, the fiber writes them. So the handshake
// needs no extra fiber or thread, and the conn's deadline bounds it as it
// bounds reads. Proxying from a tls::Conn takes io::copy's buffered path
// (32 KiB through user space: the bytes must be decrypted), not splice.
//
// Every connection logs one line when it ends. SIGINT or SIGTERM ends the
// program (their default action).
#include <gort/client_hello.hpp>
#include <gort/gort.hpp>
#include <gort/io.hpp>
#include <gort/net.hpp>
#include <gort/tls.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "certs.hpp"
#include "examples.hpp"

namespace {

struct Server {
  gort::tls::Context ctx;            // the certificate, loaded and checked once
  std::string upstream;              // "": greet and echo
  std::chrono::nanoseconds timeout;  // for the hello and the handshake, then an idle timeout (echo)
};

// echo greets the client over TLS and echoes what it sends until EOF, with
// the deadline moved before every read (the talk's copyToStderr).
void echo(gort::tls::Conn& tc, const std::string& peer, const Server* srv) {
  const gort::tls::ConnectionState st = tc.connection_state();
  std::size_t copied = 0;
  std::error_code err;
  tc.set_deadline(std::chrono::steady_clock::now() + srv->timeout);
  const std::string greeting = "hello " + peer + " over " + st.version + ", SNI \"" + st.server_name + "\"\n";
  if (auto w = tc.write(greeting); w.err) {
    err = w.err;
  } else {
    char buf[4096];
    for (;;) {
      tc.set_deadline(std::chrono::steady_clock::now() + srv->timeout);
      auto [n, rerr] = tc.read(buf);  // decrypts; parks in the conn's read when no record is whole
      if (n > 0) {
        copied += n;
        if (auto w = tc.write(std::string_view(buf, n)); w.err) {
          err = w.err;
          break;
        }
      }
      if (rerr) {
        if (rerr != gort::io_errc::eof) err = rerr;  // eof: the client's close_notify (or its FIN)
        break;
      }
    }
  }
  tc.close();  // close_notify, then the TCP close
  examples::logf("talk-tls: %s: Copied %zu bytes and ended with err = %s.", peer.c_str(), copied,
                 examples::errstr(err).c_str());
}

// proxy is talk-proxy's proxy with a tls::Conn on the client's side: the
// client's bytes are decrypted here and go to the upstream in the clear.
void proxy(gort::tls::Conn& tc, const std::string& peer, const Server* srv) {
  tc.set_deadline({});
  auto [dialed, err] = gort::net::dial_timeout("tcp", srv->upstream, std::chrono::seconds(5));
  if (err) {
    examples::logf("talk-tls: %s: dial tcp %s: %s", peer.c_str(), srv->upstream.c_str(),
                   err.message().c_str());
    return;
  }
  gort::net::Conn upstream = std::move(dialed);  // a variable: clang 14 cannot capture a structured binding

  gort::WaitGroup wg;
  gort::Result<std::uint64_t> up;
  wg.add(1);
  gort::go([&] {
    up = gort::io::copy(upstream, tc);  // decrypted, through a 32 KiB buffer
    upstream.close_write();             // the client's close_notify or FIN becomes the upstream's EOF
    wg.done();
  });
  auto down = gort::io::copy(tc, upstream);  // encrypted on the way to the client
  upstream.close();
  tc.close();  // close_notify; wakes the other copy if it still reads
  wg.wait();

  std::error_code end = down.err && down.err != gort::io_errc::closed ? down.err
                        : up.err && up.err != gort::io_errc::closed   ? up.err
                                                                      : std::error_code{};
  examples::logf("talk-tls: %s: Proxy connection finished with err = %s. (%llu bytes up, %llu down)",
                 peer.c_str(), examples::errstr(end).c_str(), static_cast<unsigned long long>(up.value),
                 static_cast<unsigned long long>(down.value));
}

void serve_conn(gort::net::Conn conn, const Server* srv) {
  const std::string peer = conn.remote_addr().to_string();
  const auto deadline = std::chrono::steady_clock::now() + srv->timeout;

  // 1. Peek at the ClientHello, as talk-sni does.
  gort::tls::PeekResult peeked = gort::tls::peek_client_hello(std::move(conn), deadline);
  if (peeked.err) {
    examples::logf("talk-tls: %s: no ClientHello: %s", peer.c_str(), peeked.err.message().c_str());
    return;
  }
  examples::logf("talk-tls: %s: Received connection for SNI \"%s\"", peer.c_str(),
                 peeked.hello.server_name.c_str());

  // 2. tls.Server over the conn with the hello put back: OpenSSL reads the
  // hello from the PrefixConn's prefix, the rest from the socket.
  gort::tls::Conn tc = gort::tls::server(std::move(peeked.conn), srv->ctx);
  tc.set_deadline(deadline);  // bounds the handshake
  if (std::error_code herr = tc.handshake()) {
    examples::logf("talk-tls: %s: handshake: %s (%s)", peer.c_str(), herr.message().c_str(),
                   tc.error_detail().c_str());
    return;  // tc's destructor closes the connection
  }
  const gort::tls::ConnectionState st = tc.connection_state();
  examples::logf("talk-tls: %s: handshake done: %s, %s", peer.c_str(), st.version.c_str(),
                 st.cipher_suite.c_str());

  if (srv->upstream.empty()) {
    echo(tc, peer, srv);
  } else {
    proxy(tc, peer, srv);
  }
}

// make_cert makes the development certificate: the CA in dir (created the
// first time), and a new localhost leaf signed by it. Blocking file I/O and
// key generation, a few milliseconds: before gort::run.
bool make_cert(const std::string& dir) {
  gort::certs::CA ca;
  std::string detail;
  if (gort::certs::ensure_ca(dir, &ca, &detail)) {
    examples::logf("talk-tls: certificates: %s", detail.c_str());
    return false;
  }
  if (gort::certs::make_leaf(ca, {"localhost", "127.0.0.1", "::1"}, dir + "/localhost.pem",
                             dir + "/localhost-key.pem", &detail)) {
    examples::logf("talk-tls: certificate: %s", detail.c_str());
    return false;
  }
  examples::logf("talk-tls: serving %s/localhost.pem, signed by %s (%s)", dir.c_str(), ca.cert_path().c_str(),
                 ca.created() ? "a new CA" : "the existing CA");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  examples::Args args(argc, argv, {"listen", "certs", "upstream", "timeout"},
                      "usage: talk-tls [--listen ADDR] [--certs DIR] [--upstream ADDR] [--timeout DURATION]\n"
                      "       (defaults localhost:4242, $GORT_CERTS_DIR or ./certs, none: echo, 30s)");
  const std::string addr = args.get("listen", "localhost:4242");
  const std::string dir = args.get("certs", gort::certs::default_dir());
  const std::string upstream = args.get("upstream", "");
  const auto timeout = args.duration("timeout", std::chrono::seconds(30));
  if (!make_cert(dir)) return 1;
  return gort::run([&] {
    auto cert = gort::tls::load_x509_key_pair(dir + "/localhost.pem", dir + "/localhost-key.pem");
    if (cert.err) {
      examples::logf("talk-tls: %s/localhost.pem: %s", dir.c_str(), cert.err.message().c_str());
      return 1;
    }
    gort::tls::Config config;
    config.certificates.push_back(cert.value);
    auto ctx = gort::tls::Context::server(config);  // checked once, shared by every conn
    if (ctx.err) {
      examples::logf("talk-tls: %s", ctx.err.message().c_str());
      return 1;
    }
    const Server srv{ctx.value, upstream, timeout};

    auto [ln, err] = gort::net::listen("tcp", addr);
    if (err) {
      examples::logf("talk-tls: listen %s: %s", addr.c_str(), err.message().c_str());
      return 1;
    }
    examples::announce(ln);
    for (;;) {
      auto [conn, err] = ln.accept();
      if (err) {
        examples::logf("talk-tls: accept: %s", err.message().c_str());
        return 1;
      }
      gort::go(serve_conn, std::move(conn), &srv);  // the peek and the handshake happen in the fiber
    }
  });
}
