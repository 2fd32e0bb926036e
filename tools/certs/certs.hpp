// certs.hpp: development certificates in the spirit of mkcert, as a library
// (the gort_certs target, gort::certs) and a command (gort-certs.cpp).
//
// A local certificate authority lives in one directory, created once and
// reused: DIR/ca.pem (the CA certificate, mode 0644) and DIR/ca-key.pem (its
// private key, PKCS#8, mode 0600). Leaf certificates are signed by it for a
// list of names (DNS names, wildcards, IPv4 and IPv6 literals), written as
// PEM, the key mode 0600. A client that trusts ca.pem (curl --cacert, Python's
// ssl cafile, SSL_CERT_FILE; trust_instructions()) accepts them.
//
//   gort::certs::CA ca;
//   std::string detail;
//   if (auto err = gort::certs::ensure_ca(gort::certs::default_dir(), &ca, &detail)) die(detail);
//   if (auto err = gort::certs::make_leaf(ca, {"localhost", "127.0.0.1", "::1"},
//                                         "leaf.pem", "leaf-key.pem", &detail)) die(detail);
//
// What is made (chosen to be what mkcert makes and what browsers, curl,
// Python and Go accept):
//  - Keys are ECDSA P-256 by default, everywhere accepted and generated in
//    microseconds; a leaf may instead be RSA 2048 (LeafOptions::key_type) for
//    clients without ECDSA. An existing CA with an RSA key is used as it is.
//    Signatures are SHA-256.
//  - The CA: subject "O=gort development CA, OU=<user>@<host>, CN=gort dev CA
//    <user>@<host>", valid 10 years, basicConstraints critical CA:TRUE
//    pathlen:0 (it signs leaves only), keyUsage critical keyCertSign,cRLSign,
//    subjectKeyIdentifier.
//  - A leaf: subject "O=gort development certificate, OU=<user>@<host>,
//    CN=<first name>" (no CN when the first name is longer than X.509's 64
//    characters), valid 825 days (Apple's limit for TLS server certificates),
//    subjectAltName with every name (IP literals as IP addresses),
//    basicConstraints critical CA:FALSE, keyUsage critical digitalSignature
//    (and keyEncipherment for RSA), extendedKeyUsage serverAuth (and
//    clientAuth with LeafOptions::client), subject and authority key
//    identifiers.
//  - Every serial number is 128 random bits.
//
// Errors are a std::error_code (certs_errc in the category "gort.certs", or
// a system error from a file operation) and, in *detail when it is not null,
// one line for a person: what failed, on which file, and what to do. No
// function throws except std::bad_alloc. The functions block the calling
// thread on file I/O and key generation (milliseconds; RSA up to a second):
// call them at start-up, or from a fiber through gort::blocking.
#pragma once

#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

namespace gort::certs {

enum class certs_errc {
  no_names = 1,     // "no names given": a leaf needs at least one name
  invalid_name,     // "invalid name": not a DNS name, wildcard or IP literal (*detail says which)
  ca_incomplete,    // "CA incomplete": one of ca.pem and ca-key.pem exists, not the other
  ca_invalid,       // "CA invalid": ca.pem or ca-key.pem unreadable as PEM, not a CA, or expired
  ca_mismatch,      // "CA key mismatch": ca-key.pem is not the key of ca.pem
  would_overwrite,  // "would overwrite the CA": a leaf path is ca.pem or ca-key.pem
  openssl,          // "OpenSSL error": the library failed (*detail has its error queue)
};

const std::error_category& certs_category() noexcept;  // name() == "gort.certs"
inline std::error_code make_error_code(certs_errc e) noexcept {
  return {static_cast<int>(e), certs_category()};
}

enum class KeyType {
  ecdsa_p256,  // the default: ECDSA on NIST P-256
  rsa_2048,    // RSA, 2048 bits (the key also gets keyEncipherment)
};

// CA is a loaded certificate authority: its certificate and private key, and
// where they are. Move-only; an empty CA (default-constructed or moved from)
// signs nothing: make_leaf returns certs_errc::ca_invalid.
class CA {
 public:
  CA();
  ~CA();
  CA(CA&&) noexcept;
  CA& operator=(CA&&) noexcept;

  bool loaded() const noexcept { return impl_ != nullptr; }
  const std::string& dir() const noexcept;        // as given to ensure_ca
  const std::string& cert_path() const noexcept;  // dir + "/ca.pem"
  const std::string& key_path() const noexcept;   // dir + "/ca-key.pem"
  bool created() const noexcept;                  // ensure_ca made it (not loaded it)
  std::string subject() const;                    // "O=gort development CA, OU=..., CN=..."
  std::string not_after() const;                  // "2035-06-01 12:00:00 UTC"

  struct Impl;  // the OpenSSL objects (internal.hpp), for the library's own files
  const Impl* impl() const noexcept { return impl_.get(); }

 private:
  friend std::error_code ensure_ca(const std::string&, CA*, std::string*);
  std::unique_ptr<Impl> impl_;
};

// ensure_ca loads the CA in dir, or creates it there when neither ca.pem nor
// ca-key.pem exists (creating dir and its parents, mode 0755, if needed). It
// never overwrites: one file without the other is certs_errc::ca_incomplete,
// a pair that does not parse, is not a CA or has expired is ca_invalid, a
// key that is not the certificate's is ca_mismatch; the message names the
// file and suggests removing both to start again. Creation holds an
// exclusive flock(2) on dir, so two processes racing to create it make one
// CA, not two halves. On success *out holds the CA.
std::error_code ensure_ca(const std::string& dir, CA* out, std::string* detail);

struct LeafOptions {
  bool client = false;  // extendedKeyUsage clientAuth beside serverAuth
  KeyType key_type = KeyType::ecdsa_p256;
  int days = 825;  // validity from now
};

// make_leaf writes a new key and a certificate signed by ca for names
// (check_names' rules; the first is the CN) to cert_path (mode 0644) and
// key_path (mode 0600), replacing those files if they exist: each is written
// to a temporary file in the same directory and renamed, so a reader sees
// the old file or the new one, never half of one. The directories must
// exist. A path naming the CA's own files is certs_errc::would_overwrite.
// On success, when not_after is not null it gets the leaf's expiry
// ("2028-09-03 12:00:00 UTC").
std::error_code make_leaf(const CA& ca, const std::vector<std::string>& names, const std::string& cert_path,
                          const std::string& key_path, std::string* detail, const LeafOptions& options = {},
                          std::string* not_after = nullptr);

// NameKind is what check_name made of a name.
enum class NameKind { dns, wildcard, ipv4, ipv6 };

// check_name classifies one name, or returns certs_errc::invalid_name:
//  - an IPv4 literal (inet_pton: "127.0.0.1") or IPv6 literal ("::1",
//    without brackets or zone) goes into the certificate as an IP address;
//    anything made of digits and dots, or holding a ':', that does not parse
//    as one is invalid ("1.2.3.256"), not taken for a DNS name;
//  - a DNS name: labels of letters, digits, '-' and '_' (as mkcert), 1 to 63
//    characters, not starting or ending with '-', 253 characters at most,
//    no trailing dot; "localhost" and other single labels are fine;
//  - a wildcard: "*." and then a DNS name ("*.example.test"); '*' anywhere
//    else is invalid. Email addresses and URIs are not supported.
std::error_code check_name(const std::string& name, NameKind* kind, std::string* detail);

// check_names checks each name (check_name) and that there is at least one.
std::error_code check_names(const std::vector<std::string>& names, std::string* detail);

// leaf_basename is mkcert's file name for a leaf of names: the first name,
// '*' spelled "_wildcard" and ':' '_', then "+N" for N more names, then
// "-client" for a client certificate: "_wildcard.example.test+2". The files
// are <basename>.pem and <basename>-key.pem.
std::string leaf_basename(const std::vector<std::string>& names, bool client);

// default_dir is $GORT_CERTS_DIR when set and not empty, else "certs"
// (relative to the working directory).
std::string default_dir();

// trust_instructions is the text gort-certs prints after its work: how to
// make curl, OpenSSL-based programs, Python, `openssl s_client` and Debian's
// system store trust ca (commands to run, none run here). Lines end in '\n'.
std::string trust_instructions(const CA& ca);

}  // namespace gort::certs

template <>
struct std::is_error_code_enum<gort::certs::certs_errc> : std::true_type {};
