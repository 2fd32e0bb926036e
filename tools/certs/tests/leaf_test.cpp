// leaf_test.cpp: tests of tools/certs/leaf.cpp: make_leaf's certificates
// verify against the CA with OpenSSL's own verifier and carry the promised
// names and extensions; bad input writes nothing; the CA is never touched.
#include "certs.hpp"
#include "test_util.hpp"

#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <vector>

namespace certs = gort::certs;
using certs_test::TempDir;

namespace {

// verify checks leaf against ca with X509_verify_cert, for the SSL server
// purpose, as a TLS client would (without the host name); returns the
// X509_V_* result.
int verify(X509* ca, X509* leaf, int purpose = X509_PURPOSE_SSL_SERVER) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  int result = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return result;
}

// san lists the subjectAltName as "DNS:x" and "IP:a.b.c.d" / "IP:16 bytes".
std::vector<std::string> san(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  REQUIRE(names != nullptr);
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(gn, &type));
    std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                      static_cast<std::size_t>(ASN1_STRING_length(value)));
    out.push_back(type == GEN_DNS ? "DNS:" + bytes : "IP:" + std::to_string(bytes.size()) + " bytes");
  }
  GENERAL_NAMES_free(names);
  return out;
}

struct Fixture {
  TempDir tmp;
  certs::CA ca;
  std::string detail;
  Fixture() { REQUIRE_MESSAGE(!certs::ensure_ca(tmp / "ca", &ca, &detail), detail); }
};

}  // namespace

TEST_CASE("make_leaf: a server certificate that verifies against the CA, for every name given") {
  Fixture f;
  const std::string cert_path = f.tmp / "leaf.pem", key_path = f.tmp / "leaf-key.pem";
  std::string not_after;
  const std::vector<std::string> names = {"example.test", "*.example.test", "localhost", "127.0.0.1", "::1"};
  REQUIRE_MESSAGE(!certs::make_leaf(f.ca, names, cert_path, key_path, &f.detail, {}, &not_after), f.detail);
  CHECK(not_after.ends_with(" UTC"));
  CHECK(certs_test::mode_of(key_path) == 0600);
  CHECK(certs_test::mode_of(cert_path) == 0644);
  CHECK(certs_test::entries(f.tmp.path()) == 3);  // ca/, leaf.pem, leaf-key.pem: no temporary files

  auto ca = certs_test::load_cert(f.ca.cert_path());
  auto cert = certs_test::load_cert(cert_path);
  auto key = certs_test::load_key(key_path);
  CHECK(verify(ca.get(), cert.get()) == X509_V_OK);
  CHECK(verify(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT) != X509_V_OK);  // serverAuth only
  CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
  CHECK(EVP_PKEY_is_a(key.get(), "EC") == 1);
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK(X509_get_key_usage(cert.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_SERVER);
  CHECK(X509_get0_subject_key_id(cert.get()) != nullptr);
  REQUIRE(X509_get0_authority_key_id(cert.get()) != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.get()), X509_get0_subject_key_id(ca.get())) ==
        0);
  CHECK(certs_test::days_valid(cert.get()) == 825);
  CHECK(X509_NAME_cmp(X509_get_issuer_name(cert.get()), X509_get_subject_name(ca.get())) == 0);
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  CHECK(std::string(cn) == "example.test");

  CHECK(san(cert.get()) == std::vector<std::string>{"DNS:example.test", "DNS:*.example.test", "DNS:localhost",
                                                    "IP:4 bytes", "IP:16 bytes"});
  // What a TLS client checks after the chain: the host name or IP address.
  CHECK(X509_check_host(cert.get(), "example.test", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert.get(), "www.example.test", 0, 0, nullptr) == 1);  // the wildcard
  CHECK(X509_check_host(cert.get(), "a.b.example.test", 0, 0, nullptr) == 0);  // one label only
  CHECK(X509_check_host(cert.get(), "other.test", 0, 0, nullptr) == 0);
  CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "127.0.0.2", 0) == 0);
}

TEST_CASE("make_leaf: --client adds clientAuth, and RSA keys get keyEncipherment") {
  Fixture f;
  certs::LeafOptions options;
  options.client = true;
  options.key_type = certs::KeyType::rsa_2048;
  options.days = 30;
  REQUIRE(!certs::make_leaf(f.ca, {"client.test"}, f.tmp / "c.pem", f.tmp / "c-key.pem", &f.detail, options));
  auto ca = certs_test::load_cert(f.ca.cert_path());
  auto cert = certs_test::load_cert(f.tmp / "c.pem");
  auto key = certs_test::load_key(f.tmp / "c-key.pem");
  CHECK(verify(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
  CHECK(verify(ca.get(), cert.get(), X509_PURPOSE_SSL_SERVER) == X509_V_OK);
  CHECK(X509_get_extended_key_usage(cert.get()) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  CHECK(X509_get_key_usage(cert.get()) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  CHECK(EVP_PKEY_is_a(key.get(), "RSA") == 1);
  CHECK(EVP_PKEY_get_bits(key.get()) == 2048);
  CHECK(certs_test::days_valid(cert.get()) == 30);
}

TEST_CASE("make_leaf: a first name over 64 characters is in the SAN but not the CN") {
  Fixture f;
  const std::string longname = std::string(60, 'a') + "." + std::string(60, 'b') + ".test";
  REQUIRE(!certs::make_leaf(f.ca, {longname}, f.tmp / "l.pem", f.tmp / "l-key.pem", &f.detail));
  auto cert = certs_test::load_cert(f.tmp / "l.pem");
  CHECK(X509_NAME_get_index_by_NID(X509_get_subject_name(cert.get()), NID_commonName, -1) < 0);
  CHECK(san(cert.get()) == std::vector<std::string>{"DNS:" + longname});
  CHECK(X509_check_host(cert.get(), longname.c_str(), 0, 0, nullptr) == 1);
}

TEST_CASE("make_leaf: existing leaf files are replaced by a new key and certificate") {
  Fixture f;
  const std::string cert_path = f.tmp / "r.pem", key_path = f.tmp / "r-key.pem";
  REQUIRE(!certs::make_leaf(f.ca, {"r.test"}, cert_path, key_path, &f.detail));
  const std::string old_cert = certs_test::slurp(cert_path), old_key = certs_test::slurp(key_path);
  REQUIRE(!certs::make_leaf(f.ca, {"r.test", "s.test"}, cert_path, key_path, &f.detail));
  CHECK(certs_test::slurp(cert_path) != old_cert);
  CHECK(certs_test::slurp(key_path) != old_key);
  CHECK(X509_check_private_key(certs_test::load_cert(cert_path).get(),
                               certs_test::load_key(key_path).get()) == 1);
}

TEST_CASE("make_leaf: paths onto the CA's own files are would_overwrite, and the CA is untouched") {
  Fixture f;
  const std::string cert = certs_test::slurp(f.ca.cert_path()), key = certs_test::slurp(f.ca.key_path());
  const std::vector<std::pair<std::string, std::string>> paths = {
      {f.ca.cert_path(), f.tmp / "k.pem"},
      {f.tmp / "c.pem", f.ca.key_path()},
      {f.tmp / "ca/./ca.pem", f.tmp / "k.pem"},
      {f.tmp / "c.pem", f.tmp / "ca/../ca/ca-key.pem"},
  };
  for (const auto& pair : paths) {
    const std::string &c = pair.first, &k = pair.second;  // not a structured binding: INFO captures them
    INFO(c << " " << k);
    CHECK(certs::make_leaf(f.ca, {"ca"}, c, k, &f.detail) == certs::certs_errc::would_overwrite);
    CHECK(f.detail.find("would overwrite the CA") != std::string::npos);
  }
  CHECK(certs_test::slurp(f.ca.cert_path()) == cert);
  CHECK(certs_test::slurp(f.ca.key_path()) == key);
  CHECK(certs_test::entries(f.tmp.path()) == 1);
}

TEST_CASE("make_leaf: bad names, bad paths and an empty CA write nothing") {
  Fixture f;
  const std::string c = f.tmp / "c.pem", k = f.tmp / "k.pem";
  CHECK(certs::make_leaf(f.ca, {}, c, k, &f.detail) == certs::certs_errc::no_names);
  CHECK(certs::make_leaf(f.ca, {"ok.test", "1.2.3.256"}, c, k, &f.detail) == certs::certs_errc::invalid_name);
  CHECK(f.detail.find("1.2.3.256") != std::string::npos);
  CHECK(certs::make_leaf(f.ca, {"ok.test"}, c, c, &f.detail) == std::errc::invalid_argument);
  certs::LeafOptions zero_days;
  zero_days.days = 0;
  CHECK(certs::make_leaf(f.ca, {"ok.test"}, c, k, &f.detail, zero_days) == std::errc::invalid_argument);
  certs::CA empty;
  CHECK(certs::make_leaf(empty, {"ok.test"}, c, k, &f.detail) == certs::certs_errc::ca_invalid);
  CHECK(certs_test::entries(f.tmp.path()) == 1);

  auto err = certs::make_leaf(f.ca, {"ok.test"}, f.tmp / "missing/c.pem", f.tmp / "missing/k.pem", &f.detail);
  CHECK(err == std::errc::no_such_file_or_directory);
  CHECK(f.detail.find("cannot create " + f.tmp / "missing/") == 0);
  CHECK(certs_test::entries(f.tmp.path()) == 1);
}

TEST_CASE("trust_instructions: absolute paths to the CA, for curl, OpenSSL, Python and Debian") {
  Fixture f;
  const std::string text = certs::trust_instructions(f.ca);
  const std::string abs = std::filesystem::absolute(f.ca.cert_path()).lexically_normal().string();
  CHECK(text.find("curl --cacert " + abs) != std::string::npos);
  CHECK(text.find("openssl s_client -CAfile " + abs) != std::string::npos);
  CHECK(text.find("ssl.create_default_context(cafile=\"" + abs + "\")") != std::string::npos);
  CHECK(text.find("SSL_CERT_FILE=" + abs) != std::string::npos);
  CHECK(text.find("/usr/local/share/ca-certificates/gort-dev-ca.crt && update-ca-certificates") !=
        std::string::npos);
  CHECK(text.back() == '\n');
}
