// tls_internal.hpp: what the files of gort::tls share (internal to
// net/tls/): the certificate data, the context (an SSL_CTX and what its
// callbacks need), and OpenSSL's errors turned into gort's.
//
// Invariant: every OpenSSL object here is owned by exactly one holder (a
// unique_ptr with its free function, or a shared CertData or Ctx), and is
// immutable once the Context or Certificate that holds it is returned.
#pragma once

#include <gort/tls.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace gort::tls::detail {

struct SslCtxFree {
  void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
};
struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct ChainFree {
  void operator()(STACK_OF(X509) * p) const noexcept { sk_X509_pop_free(p, X509_free); }
};

// CertData: a Certificate's leaf, chain (intermediates), key and names.
struct CertData {
  std::unique_ptr<X509, X509Free> leaf;
  std::unique_ptr<STACK_OF(X509), ChainFree> chain;
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  std::vector<std::string> names;  // lower case; "*.example.com" for wildcards
};

// Ctx: a Context's SSL_CTX and what its callbacks read (a server's
// certificates, ALPN list in wire form, strict_sni; a client's name).
struct Ctx {
  std::unique_ptr<SSL_CTX, SslCtxFree> ssl_ctx;
  bool is_server = false;
  Config cfg;
  std::string alpn_wire;  // next_protos as ALPN wants them: length-prefixed

  // pick: the certificate for server name sni (exact, then a wildcard for
  // its first label), the first one if none matches and !strict_sni, or
  // null.
  const CertData* pick(std::string_view sni) const;
  static const CertData* data(const Certificate& c) noexcept { return c.data_.get(); }
};

// ssl_error: the error for a failed SSL call (its SSL_get_error code
// `code`), from OpenSSL's error queue of this thread, which it empties;
// *detail gets OpenSSL's words. in_handshake: a failure is a tls_errc
// handshake error, else protocol_error (unless an alert names it). The
// caller must not have parked since the call (the queue is per thread).
std::error_code ssl_error(SSL* ssl, int code, bool in_handshake, std::string* detail);
// queue_detail: OpenSSL's error queue as text, emptied (for set-up errors).
std::string queue_detail();

}  // namespace gort::tls::detail
