// ssl_error.cpp: OpenSSL's errors turned into gort's (see tls_internal.hpp):
// the reason of the last error on this thread's queue picks a tls_errc, and
// the whole queue, with the certificate check's verdict, becomes the detail.
#include "tls_internal.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

namespace gort::tls::detail {

namespace {

tls_errc classify(int reason) {
  switch (reason) {
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM: return tls_errc::no_shared_cipher;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG: return tls_errc::not_tls;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: return tls_errc::bad_certificate;
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: return tls_errc::no_application_protocol;
    case SSL_R_TLSV1_UNRECOGNIZED_NAME: return tls_errc::unknown_server_name;
    default: return tls_errc::handshake_failed;
  }
}

}  // namespace

std::error_code ssl_error(SSL* ssl, int code, bool in_handshake, std::string* detail) {
  unsigned long last = ERR_peek_last_error();
  std::string d = queue_detail();
  tls_errc e = in_handshake ? tls_errc::handshake_failed : tls_errc::protocol_error;
  if (code == SSL_ERROR_SSL && last != 0) {
    tls_errc c = classify(ERR_GET_REASON(last));
    if (in_handshake || c != tls_errc::handshake_failed) e = c;
  }
  if (long v = SSL_get_verify_result(ssl); e == tls_errc::bad_certificate && v != X509_V_OK)
    d = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v) +
        (d.empty() ? "" : "; " + d);
  if (detail) *detail = d;
  return make_error_code(e);
}

}  // namespace gort::tls::detail
