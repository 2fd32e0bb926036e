// tls_errors.cpp: the "gort.tls" error category (see <gort/tls_errors.hpp>).
#include <gort/tls_errors.hpp>

#include <string>

namespace gort {

namespace {

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gort.tls"; }
  std::string message(int e) const override {
    switch (static_cast<tls_errc>(e)) {
      case tls_errc::not_tls: return "not a TLS handshake";
      case tls_errc::malformed_hello: return "malformed TLS ClientHello";
      case tls_errc::hello_too_large: return "TLS ClientHello too large";
      case tls_errc::handshake_failed: return "TLS handshake failed";
      case tls_errc::no_shared_cipher: return "TLS handshake failed: no shared cipher or version";
      case tls_errc::bad_certificate: return "TLS handshake failed: the peer's certificate was not accepted";
      case tls_errc::unknown_server_name: return "TLS handshake failed: no certificate for the server name";
      case tls_errc::no_application_protocol:
        return "TLS handshake failed: no shared application protocol (ALPN)";
      case tls_errc::protocol_error: return "TLS protocol error";
      case tls_errc::bad_key_pair: return "TLS certificate or key not usable";
      case tls_errc::bad_config: return "TLS configuration not usable";
    }
    return "unknown gort.tls error " + std::to_string(e);
  }
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

}  // namespace gort
