// gort/tls_errors.hpp: the errors of gort's TLS layer, in the category
// "gort.tls" (library gort::net, so that the ClientHello parser, which needs
// no OpenSSL, and tls::Conn report alike). As <gort/errors.hpp>: returned as
// std::error_code beside a value, never thrown.
//
//   auto [hello, conn, err, reason] = gort::tls::peek_client_hello(std::move(c), deadline);
//   if (err == gort::tls_errc::not_tls) ...      // plain text, an HTTP request, SSLv2
//
// Messages name what went wrong in terms a log reader can act on; the
// details of one failure (which byte, OpenSSL's reason) come beside the
// code where the API has room for them (ParseResult::reason, a tls::Conn's
// error detail).
#pragma once

#include <system_error>
#include <type_traits>

namespace gort {

enum class tls_errc {
  not_tls = 1,              // "not a TLS handshake": the first bytes are no TLS handshake record
  malformed_hello,          // "malformed TLS ClientHello"
  hello_too_large,          // "TLS ClientHello too large": over the 16 KiB cap
  handshake_failed,         // "TLS handshake failed" (the detail says why)
  no_shared_cipher,         // "TLS handshake failed: no shared cipher or version"
  bad_certificate,          // "TLS handshake failed: the peer's certificate was not accepted"
  unknown_server_name,      // "TLS handshake failed: no certificate for the server name"
  no_application_protocol,  // "TLS handshake failed: no shared application protocol (ALPN)"
  protocol_error,           // "TLS protocol error": a bad record after the handshake (the detail says which)
  bad_key_pair,             // "TLS certificate or key not usable": no PEM data, or a key that does not match
  bad_config,               // "TLS configuration not usable": e.g. a server without certificates
};

const std::error_category& tls_category() noexcept;  // name() == "gort.tls"
inline std::error_code make_error_code(tls_errc e) noexcept { return {static_cast<int>(e), tls_category()}; }

}  // namespace gort

template <>
struct std::is_error_code_enum<gort::tls_errc> : std::true_type {};
