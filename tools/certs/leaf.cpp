// leaf.cpp: make_leaf, a certificate for a list of names signed by the CA,
// and its new private key, written as two PEM files.
//
// The subjectAltName is built as GENERAL_NAMEs, not as an openssl.cnf
// string, so that a name is never parsed twice: DNS names and wildcards are
// dNSName, IP literals iPAddress (4 or 16 bytes), in the order given.
#include "internal.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>

#include <filesystem>

namespace gort::certs {

namespace fs = std::filesystem;
using namespace detail;

namespace {

// san_entry is one subjectAltName entry for a checked name.
Ptr<GENERAL_NAME> san_entry(const std::string& name, NameKind kind) {
  Ptr<GENERAL_NAME> gn(GENERAL_NAME_new());
  if (!gn) return nullptr;
  if (kind == NameKind::ipv4 || kind == NameKind::ipv6) {
    unsigned char addr[16];
    int af = kind == NameKind::ipv4 ? AF_INET : AF_INET6;
    Ptr<ASN1_STRING> ip(ASN1_OCTET_STRING_new());
    if (!ip || inet_pton(af, name.c_str(), addr) != 1 ||
        ASN1_OCTET_STRING_set(ip.get(), addr, af == AF_INET ? 4 : 16) != 1) {
      return nullptr;
    }
    GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip.release());
  } else {
    Ptr<ASN1_STRING> dns(ASN1_IA5STRING_new());
    if (!dns || ASN1_STRING_set(dns.get(), name.data(), static_cast<int>(name.size())) != 1) return nullptr;
    GENERAL_NAME_set0_value(gn.get(), GEN_DNS, dns.release());
  }
  return gn;
}

std::error_code add_san(X509* cert, const std::vector<std::string>& names, std::string* detail) {
  Ptr<GENERAL_NAMES> san(sk_GENERAL_NAME_new_null());
  if (!san) return ossl_error(detail, "cannot make the subjectAltName");
  for (const std::string& name : names) {
    NameKind kind = NameKind::dns;
    if (auto err = check_name(name, &kind, detail)) return err;
    Ptr<GENERAL_NAME> gn = san_entry(name, kind);
    if (!gn || sk_GENERAL_NAME_push(san.get(), gn.get()) == 0) {
      return ossl_error(detail, "cannot add \"" + name + "\" to the subjectAltName");
    }
    gn.release();  // the stack owns it now
  }
  // Not critical: the subject is not empty (RFC 5280 4.2.1.6).
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, san.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return ossl_error(detail, "cannot add the subjectAltName");
  }
  return {};
}

// same_file: a and b name one file, existing or not (symbolic links followed
// as far as they exist).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  fs::path ca = fs::weakly_canonical(a, ea), cb = fs::weakly_canonical(b, eb);
  if (!ea && !eb && ca == cb) return true;
  std::error_code ignored;
  return fs::equivalent(a, b, ignored);
}

}  // namespace

std::error_code make_leaf(const CA& ca, const std::vector<std::string>& names, const std::string& cert_path,
                          const std::string& key_path, std::string* detail, const LeafOptions& options,
                          std::string* not_after) {
  ERR_clear_error();
  const CA::Impl* issuer = ca.impl();
  if (issuer == nullptr) {
    set_detail(detail, "no CA loaded (ensure_ca first)");
    return certs_errc::ca_invalid;
  }
  if (auto err = check_names(names, detail)) return err;
  for (const std::string* path : {&cert_path, &key_path}) {
    if (same_file(*path, issuer->cert_path) || same_file(*path, issuer->key_path)) {
      set_detail(detail, "writing " + *path + " would overwrite the CA's own file: choose another file name");
      return certs_errc::would_overwrite;
    }
  }
  if (cert_path.empty() || key_path.empty() || same_file(cert_path, key_path)) {
    set_detail(detail, "the certificate and its key need two different file names");
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (options.days <= 0) {
    set_detail(detail, "a certificate must be valid for at least one day");
    return std::make_error_code(std::errc::invalid_argument);
  }

  std::error_code err;
  Ptr<EVP_PKEY> key = generate_key(options.key_type, detail, &err);
  if (err) return err;
  Ptr<X509> owned(X509_new());
  if (!owned) return ossl_error(detail, "cannot make a certificate");
  X509* cert = owned.get();
  if ((err = start_cert(cert, key.get(), options.days, detail))) return err;

  X509_NAME* name = X509_get_subject_name(cert);
  if ((err = add_name_entry(name, "O", "gort development certificate", detail)) ||
      (err = add_name_entry(name, "OU", user_at_host(), detail))) {
    return err;
  }
  // A CN longer than X.509's 64 characters is left out, not cut: clients
  // match the subjectAltName, and a cut name would be wrong.
  if (names.front().size() <= 64 && (err = add_name_entry(name, "CN", names.front(), detail))) return err;
  if (X509_set_issuer_name(cert, X509_get_subject_name(issuer->cert.get())) != 1) {
    return ossl_error(detail, "cannot set the issuer");
  }

  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer->cert.get(), cert, nullptr, nullptr, 0);
  const bool rsa = EVP_PKEY_is_a(key.get(), "RSA") == 1;
  if ((err = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE", detail)) ||
      (err = add_ext(cert, &ctx, NID_key_usage,
                     rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature",
                     detail)) ||
      (err = add_ext(cert, &ctx, NID_ext_key_usage, options.client ? "serverAuth,clientAuth" : "serverAuth",
                     detail)) ||
      (err = add_ext(cert, &ctx, NID_subject_key_identifier, "hash", detail)) ||
      (err = add_ext(cert, &ctx, NID_authority_key_identifier, "keyid", detail)) ||
      (err = add_san(cert, names, detail))) {
    return err;
  }
  if (X509_sign(cert, issuer->key.get(), EVP_sha256()) <= 0)
    return ossl_error(detail, "cannot sign the certificate");

  std::string cert_text, key_text;
  if ((err = cert_pem(cert, &cert_text, detail)) || (err = key_pem(key.get(), &key_text, detail))) return err;
  Staged key_file, cert_file;
  err = key_file.write(key_path, key_text, 0600, detail);
  OPENSSL_cleanse(key_text.data(), key_text.size());
  if (err || (err = cert_file.write(cert_path, cert_text, 0644, detail)) ||
      (err = key_file.commit(true, detail)) || (err = cert_file.commit(true, detail))) {
    return err;
  }
  if (not_after != nullptr) *not_after = time_text(X509_get0_notAfter(cert));
  return {};
}

}  // namespace gort::certs
