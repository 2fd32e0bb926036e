// internal.hpp: what the files of gort_certs share and its users do not
// see: owning pointers for OpenSSL's objects, the insides of a CA, and the
// helpers in ossl.cpp (errors as detail text, keys, PEM, files written
// whole, the parts every certificate has).
//
// Conventions: a helper that fails returns the error_code and has written
// *detail (when detail is not null); an OpenSSL failure's detail ends with
// OpenSSL's error queue, which the helper empties.
#pragma once

#include "certs.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <system_error>

namespace gort::certs {

namespace detail {

// Free is the deleter for every OpenSSL type gort_certs owns.
struct Free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
  void operator()(X509* p) const noexcept { X509_free(p); }
  void operator()(BIO* p) const noexcept { BIO_free(p); }
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
  void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
  void operator()(GENERAL_NAME* p) const noexcept { GENERAL_NAME_free(p); }
  void operator()(ASN1_STRING* p) const noexcept { ASN1_STRING_free(p); }
};
template <class T>
using Ptr = std::unique_ptr<T, Free>;

}  // namespace detail

// CA::Impl: a CA's certificate and key, both non-null, and its paths.
struct CA::Impl {
  std::string dir, cert_path, key_path;
  bool created = false;
  detail::Ptr<X509> cert;
  detail::Ptr<EVP_PKEY> key;
};

namespace detail {

// set_detail writes text to *detail when detail is not null.
void set_detail(std::string* detail, std::string text);
// ossl_error: certs_errc::openssl, detail "what: <OpenSSL's error queue>".
std::error_code ossl_error(std::string* detail, const std::string& what);
// ossl_queue empties OpenSSL's error queue into one line ("" when empty).
std::string ossl_queue();
// sys_error: the system error err, detail "what: strerror(err)".
std::error_code sys_error(int err, std::string* detail, const std::string& what);

// generate_key makes a new private key of type, or null (ossl_error's detail).
Ptr<EVP_PKEY> generate_key(KeyType type, std::string* detail, std::error_code* err);

// The PEM text of a certificate, and of a private key (PKCS#8, unencrypted).
std::error_code cert_pem(X509* cert, std::string* pem, std::string* detail);
std::error_code key_pem(EVP_PKEY* key, std::string* pem, std::string* detail);

// start_cert fills what every certificate has: version 3, a random 128-bit
// serial, the public key of key, validity from now for days.
std::error_code start_cert(X509* cert, EVP_PKEY* key, int days, std::string* detail);
// add_name_entry appends field=value (UTF-8) to name, value cut to X.509's
// 64-character bound for the fields used here.
std::error_code add_name_entry(X509_NAME* name, const char* field, const std::string& value,
                               std::string* detail);
// add_ext adds the extension nid, written as in openssl.cnf ("critical,CA:TRUE").
std::error_code add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value, std::string* detail);

// The one-line text of a name ("O=gort development CA, CN=...") and of a
// time ("2035-06-01 12:00:00 UTC").
std::string name_text(const X509_NAME* name);
std::string time_text(const ASN1_TIME* t);
// user_at_host is "<login name>@<host name>", for subjects.
std::string user_at_host();

// read_file reads a whole (small) file.
std::error_code read_file(const std::string& path, std::string* data, std::string* detail);

// Staged is a file written whole to a temporary name beside path and synced,
// then put in place by commit(): rename(2) over whatever is there, or, when
// !replace, link(2), which fails with EEXIST instead of replacing. The
// destructor removes the temporary file when commit() did not happen.
class Staged {
 public:
  Staged() = default;
  ~Staged();
  Staged(const Staged&) = delete;
  Staged& operator=(const Staged&) = delete;

  std::error_code write(const std::string& path, const std::string& data, mode_t mode, std::string* detail);
  std::error_code commit(bool replace, std::string* detail);

 private:
  std::string path_, tmp_;
};

}  // namespace detail

}  // namespace gort::certs
