// gort/tls.hpp: TLS for fibers over OpenSSL, Go's crypto/tls in gort's
// form (library gort::tls). A tls::Conn wraps a net::Conn (or a
// net::PrefixConn, whose bytes it reads first) and is itself a Reader and a
// Writer: io::copy works over it (the buffered path: the bytes are
// encrypted in user space).
//
//   // a server: one Context for every conn, a fiber per conn
//   tls::Config cfg;
//   cfg.certificates.push_back(tls::load_x509_key_pair("a.pem", "a-key.pem").value);
//   cfg.next_protos = {"h2", "http/1.1"};
//   auto [ctx, err] = tls::Context::server(cfg);       // checked once, at start-up
//   ...
//   gort::go([&ctx](net::Conn c) {
//     tls::Conn conn = tls::server(std::move(c), ctx);
//     conn.set_deadline(now + 10s);                     // bounds the handshake too
//     auto [n, err] = conn.read(buf);                   // the handshake runs here, in this fiber
//   }, std::move(raw));
//
//   // a client: verifies the server against the system's roots (or ca_file)
//   auto [ctx, err] = tls::Context::client({});
//   auto [conn, derr] = tls::dial("tcp", "example.com:443", ctx);
//
// Like Go's:
//  - The handshake runs in the calling fiber, at the first read or write or
//    at handshake(), with no extra fiber or thread: OpenSSL works on memory
//    buffers and the fiber parks in the conn's own read and write, so the
//    conn's deadlines bound the handshake as they bound reads and writes.
//  - One fiber may read while another writes. A write deadline that passes
//    mid-record breaks the conn for writing (every later write fails, as in
//    Go); a read deadline does not.
//  - The server picks its certificate by the client's server name (SNI),
//    the first one when none matches, and the first of its next_protos the
//    client also offers (ALPN; no overlap fails the handshake, as Go 1.17+).
//  - The client sends the server name and checks the certificate against
//    it, unless insecure_skip_verify.
//  - close() sends close_notify (waiting at most 5 s) and closes the conn;
//    a write in progress makes it skip close_notify and just close.
//    close_write() sends close_notify and then shuts the TCP write side
//    (Go's CloseWrite sends only the alert), so the peer reads EOF either way.
//  - A peer that closes TCP without close_notify ends reads with io_errc::eof
//    between records, io_errc::unexpected_eof inside one.
// Errors: handshake failures are tls_errc values (<gort/tls_errors.hpp>),
// with OpenSSL's reason in error_detail(); I/O errors are the conn's.
#pragma once

#include <gort/errors.hpp>
#include <gort/net.hpp>
#include <gort/prefix_conn.hpp>
#include <gort/tls_errors.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gort::tls {

namespace detail {
struct CertData;
struct Ctx;
struct State;
}  // namespace detail

inline constexpr std::uint16_t kVersionTLS12 = 0x0303;
inline constexpr std::uint16_t kVersionTLS13 = 0x0304;

// Certificate is a certificate chain and its private key, shared (copies are
// cheap and refer to the same keys).
class Certificate {
 public:
  Certificate() noexcept = default;
  // names: the DNS names (and IP addresses, as text) it is for: its
  // subjectAltNames, or its subject CN when it has none.
  const std::vector<std::string>& names() const noexcept;
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  friend struct detail::Ctx;
  friend Result<Certificate> x509_key_pair(std::string_view, std::string_view);
  std::shared_ptr<const detail::CertData> data_;
};

// name_matches: does a certificate name pattern (lower case) cover host
// (lower case)? The exact name, or "*.example.com" for one label in front
// of example.com, neither "example.com" nor "a.b.example.com" (RFC 6125, Go's
// matchHostnames). The server's choice of certificate by SNI uses it, and so
// does gort-proxy's choice of a route.
bool name_matches(std::string_view pattern, std::string_view host) noexcept;

// x509_key_pair parses a PEM certificate chain (leaf first) and its PEM
// private key, and checks that they belong together (Go's tls.X509KeyPair);
// load_x509_key_pair reads them from files (tls.LoadX509KeyPair).
Result<Certificate> x509_key_pair(std::string_view cert_pem, std::string_view key_pem);
Result<Certificate> load_x509_key_pair(const std::string& cert_file, const std::string& key_file);

// Config: what a Context is made of (a subset of Go's tls.Config).
struct Config {
  // Server: the certificates to choose from by SNI (the first is the
  // default); at least one.
  std::vector<Certificate> certificates;
  // Server: a server name that matches no certificate fails the handshake
  // with an unrecognized_name alert (tls_errc::unknown_server_name) instead
  // of getting the first certificate.
  bool strict_sni = false;
  // ALPN protocols: the server's, in its order of preference; the client's
  // offer. Empty: no ALPN.
  std::vector<std::string> next_protos;
  // Client: the name sent as SNI and checked in the server's certificate
  // (per conn: tls::client's argument, or dial's host). An IP address is
  // checked against IP subjectAltNames and not sent as SNI.
  std::string server_name;
  // Client: trusted roots, a PEM file; empty: the system's store.
  std::string ca_file;
  // Client: accept any certificate (tests and diagnosis only).
  bool insecure_skip_verify = false;
  std::uint16_t min_version = kVersionTLS12;  // Go's default minimum
  std::uint16_t max_version = 0;              // 0: the newest OpenSSL has (TLS 1.3)
};

// Context is a Config made ready (an OpenSSL SSL_CTX): certificates and
// roots loaded, checked once. Immutable and shared: copies are cheap, and
// any number of conns on any threads use it at once. To reload, make a new
// Context; conns keep the one they started with.
class Conn;

class Context {
 public:
  Context() noexcept = default;
  static Result<Context> server(const Config& cfg);
  static Result<Context> client(const Config& cfg);
  explicit operator bool() const noexcept { return ctx_ != nullptr; }

 private:
  friend Conn server(net::PrefixConn, const Context&);
  friend Conn client(net::PrefixConn, const Context&, std::string_view);
  friend Result<Conn> dial(std::string_view, std::string_view, const Context&, net::Deadline);
  std::shared_ptr<const detail::Ctx> ctx_;
};

// ConnectionState: what the handshake agreed (Go's tls.ConnectionState).
struct ConnectionState {
  bool handshake_complete = false;
  std::string version;              // "TLSv1.3", "TLSv1.2"
  std::string cipher_suite;         // OpenSSL's name, e.g. "TLS_AES_128_GCM_SHA256"
  std::string negotiated_protocol;  // ALPN, "" if none
  std::string server_name;          // SNI: sent (client) or received (server)
  std::string peer_subject;         // the peer certificate's subject, "" if none
};

// Conn is a TLS connection over a net::PrefixConn (a plain net::Conn becomes
// one with no prefix). Move-only; destroying it closes it (without
// close_notify). Every call on a default or moved-from Conn fails (EINVAL).
class Conn {
 public:
  Conn() noexcept;
  Conn(Conn&&) noexcept;
  Conn& operator=(Conn&&) noexcept;
  ~Conn();

  // handshake runs the handshake if it has not run yet, and returns its
  // result (the same error every time after a failure).
  std::error_code handshake();

  // read: at least one byte of plaintext, or an error: io_errc::eof at
  // close_notify (or at a TCP EOF between records).
  Result<std::size_t> read(std::span<std::byte> buf);
  Result<std::size_t> read(std::span<char> buf) { return read(std::as_writable_bytes(buf)); }
  // write: all of buf, or the bytes sent before the error.
  Result<std::size_t> write(std::span<const std::byte> buf);
  Result<std::size_t> write(std::string_view s) { return write(std::as_bytes(std::span(s))); }

  std::error_code close();
  std::error_code close_write();
  std::error_code set_deadline(net::Deadline t);
  std::error_code set_read_deadline(net::Deadline t);
  std::error_code set_write_deadline(net::Deadline t);
  const net::Addr& local_addr() const noexcept;
  const net::Addr& remote_addr() const noexcept;

  ConnectionState connection_state() const;
  // error_detail: OpenSSL's account of the last handshake or record error
  // (e.g. "certificate verify failed: hostname mismatch"), "" if none.
  std::string error_detail() const;
  // net_conn: the conn underneath (Go's NetConn); do not read or write it.
  net::PrefixConn& net_conn() noexcept;

 private:
  friend Conn server(net::PrefixConn, const Context&);
  friend Conn client(net::PrefixConn, const Context&, std::string_view);
  std::unique_ptr<detail::State> s_;
};

// server and client make a Conn over c; the handshake runs later (Go's
// tls.Server and tls.Client). client's server_name, if given, replaces the
// Context's for this conn.
Conn server(net::PrefixConn c, const Context& ctx);
inline Conn server(net::Conn c, const Context& ctx) {
  return server(net::PrefixConn(std::move(c), std::vector<std::byte>{}), ctx);
}
Conn client(net::PrefixConn c, const Context& ctx, std::string_view server_name = {});
inline Conn client(net::Conn c, const Context& ctx, std::string_view server_name = {}) {
  return client(net::PrefixConn(std::move(c), std::vector<std::byte>{}), ctx, server_name);
}

// dial connects to address and runs the client handshake before returning
// (Go's tls.Dial); the server name is the Context's, else address's host.
// A deadline bounds the connect and the handshake together. A failed
// handshake returns the closed Conn beside the error, for error_detail().
Result<Conn> dial(std::string_view network, std::string_view address, const Context& ctx,
                  net::Deadline deadline = {});

}  // namespace gort::tls
