// ca_test.cpp: tests of tools/certs/ca.cpp: ensure_ca creates a CA with the
// promised properties, reuses it byte for byte, never overwrites a CA file,
// reports a broken or mismatched pair, and creates one CA when racing.
#include "certs.hpp"
#include "test_util.hpp"

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <thread>
#include <vector>

namespace certs = gort::certs;
using certs_test::TempDir;

namespace {

// write_other_ca writes dir/ca.pem and dir/ca-key.pem made here, not by
// ensure_ca: self-signed, with basicConstraints CA:TRUE or not, expiring
// after expires_in seconds (negative: already expired), the key encrypted
// with password when it is not null.
void write_other_ca(const std::string& dir, bool is_ca, long expires_in, const char* password = nullptr) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* cert = X509_new();
  REQUIRE((key != nullptr && cert != nullptr));
  X509_set_version(cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -7200);
  X509_gmtime_adj(X509_getm_notAfter(cert), expires_in);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("other"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      X509V3_EXT_nconf_nid(nullptr, &ctx, NID_basic_constraints, is_ca ? "CA:TRUE" : "CA:FALSE");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
  BIO* out = BIO_new_file((dir + "/ca.pem").c_str(), "w");
  PEM_write_bio_X509(out, cert);
  BIO_free(out);
  out = BIO_new_file((dir + "/ca-key.pem").c_str(), "w");
  const EVP_CIPHER* cipher = password != nullptr ? EVP_aes_256_cbc() : nullptr;
  PEM_write_bio_PrivateKey(out, key, cipher, reinterpret_cast<const unsigned char*>(password),
                           password != nullptr ? static_cast<int>(std::strlen(password)) : 0, nullptr,
                           nullptr);
  BIO_free(out);
  X509_free(cert);
  EVP_PKEY_free(key);
}

}  // namespace

TEST_CASE("ensure_ca: the first call creates ca.pem (0644) and ca-key.pem (0600), a P-256 CA") {
  TempDir tmp;
  const std::string dir = tmp / "a/b";  // parents are created too
  certs::CA ca;
  std::string detail;
  REQUIRE_MESSAGE(!certs::ensure_ca(dir, &ca, &detail), detail);
  CHECK(ca.loaded());
  CHECK(ca.created());
  CHECK(ca.dir() == dir);
  CHECK(ca.cert_path() == dir + "/ca.pem");
  CHECK(ca.key_path() == dir + "/ca-key.pem");
  CHECK(certs_test::mode_of(ca.cert_path()) == 0644);
  CHECK(certs_test::mode_of(ca.key_path()) == 0600);
  CHECK(certs_test::entries(dir) == 2);
  CHECK(ca.subject().find("O=gort development CA, OU=") == 0);
  CHECK(ca.subject().find(", CN=gort dev CA ") != std::string::npos);
  CHECK(ca.not_after().ends_with(" UTC"));

  auto cert = certs_test::load_cert(ca.cert_path());
  auto key = certs_test::load_key(ca.key_path());
  CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
  CHECK(EVP_PKEY_is_a(key.get(), "EC") == 1);
  CHECK(EVP_PKEY_get_bits(key.get()) == 256);
  CHECK(X509_get_version(cert.get()) == X509_VERSION_3);
  CHECK(X509_check_ca(cert.get()) == 1);  // basicConstraints CA:TRUE
  CHECK(X509_get_pathlen(cert.get()) == 0);
  CHECK(X509_get_key_usage(cert.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(X509_get0_subject_key_id(cert.get()) != nullptr);
  CHECK(X509_check_issued(cert.get(), cert.get()) == X509_V_OK);  // self-signed
  CHECK(X509_verify(cert.get(), key.get()) == 1);
  int crit = 0;
  auto* bc =
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert.get(), NID_basic_constraints, &crit, nullptr));
  REQUIRE(bc != nullptr);
  CHECK(crit == 1);
  BASIC_CONSTRAINTS_free(bc);
  CHECK(certs_test::days_valid(cert.get()) == 3650);
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr);
  CHECK(BN_num_bits(serial) == 128);
  BN_free(serial);
}

TEST_CASE("ensure_ca: a second call loads the same CA and changes no byte") {
  TempDir tmp;
  certs::CA first, second;
  std::string detail;
  REQUIRE(!certs::ensure_ca(tmp.path(), &first, &detail));
  const std::string cert = certs_test::slurp(first.cert_path()), key = certs_test::slurp(first.key_path());
  REQUIRE(!certs::ensure_ca(tmp.path(), &second, &detail));
  CHECK_FALSE(second.created());
  CHECK(second.subject() == first.subject());
  CHECK(certs_test::slurp(second.cert_path()) == cert);
  CHECK(certs_test::slurp(second.key_path()) == key);
  CHECK(certs_test::mode_of(second.key_path()) == 0600);

  certs::CA moved = std::move(second);  // move-only; the moved-from CA is empty
  CHECK(moved.loaded());
  CHECK_FALSE(second.loaded());
  CHECK(second.cert_path().empty());
}

TEST_CASE("ensure_ca: one file of the pair without the other is ca_incomplete, and nothing is written") {
  TempDir tmp;
  certs::CA ca;
  std::string detail;
  REQUIRE(!certs::ensure_ca(tmp / "ca", &ca, &detail));
  for (const char* keep : {"ca.pem", "ca-key.pem"}) {
    TempDir other;
    std::filesystem::copy_file(tmp / ("ca/" + std::string(keep)), other / keep);
    const std::string before = certs_test::slurp(other / keep);
    certs::CA half;
    CHECK(certs::ensure_ca(other.path(), &half, &detail) == certs::certs_errc::ca_incomplete);
    CHECK(detail.find(other / keep) == 0);
    CHECK(detail.find("does not") != std::string::npos);
    CHECK_FALSE(half.loaded());
    CHECK(certs_test::entries(other.path()) == 1);
    CHECK(certs_test::slurp(other / keep) == before);
  }
}

TEST_CASE("ensure_ca: a CA file that is not PEM is ca_invalid, naming the file, and it is left alone") {
  TempDir tmp;
  certs::CA ca;
  std::string detail;
  REQUIRE(!certs::ensure_ca(tmp.path(), &ca, &detail));
  const std::string key = certs_test::slurp(ca.key_path());
  certs_test::spit(ca.cert_path(), "not a certificate\n");
  certs::CA again;
  CHECK(certs::ensure_ca(tmp.path(), &again, &detail) == certs::certs_errc::ca_invalid);
  CHECK(detail.find(ca.cert_path() + " is not a PEM certificate") == 0);
  CHECK(detail.find("remove") != std::string::npos);
  CHECK(certs_test::slurp(ca.cert_path()) == "not a certificate\n");
  CHECK(certs_test::slurp(ca.key_path()) == key);

  TempDir tmp2;
  REQUIRE(!certs::ensure_ca(tmp2.path(), &ca, &detail));
  certs_test::spit(ca.key_path(), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  CHECK(certs::ensure_ca(tmp2.path(), &again, &detail) == certs::certs_errc::ca_invalid);
  CHECK(detail.find(ca.key_path() + " is not an unencrypted PEM private key") == 0);
}

TEST_CASE("ensure_ca: a pair that loads but is expired, not a CA or encrypted is ca_invalid") {
  struct Case {
    bool is_ca;
    long expires_in;
    const char* password;
    std::string why;
  };
  const Case cases[] = {
      {true, 3600, nullptr, ""},  // the control: loads
      {true, -3600, nullptr, " expired on "},
      {false, 3600, nullptr, " is not a CA certificate"},
      {true, 3600, "secret", " is not an unencrypted PEM private key"},  // and no prompt on the terminal
  };
  for (const Case& c : cases) {
    TempDir tmp;
    write_other_ca(tmp.path(), c.is_ca, c.expires_in, c.password);
    const std::string before = certs_test::slurp(tmp / "ca.pem");
    certs::CA ca;
    std::string detail;
    auto err = certs::ensure_ca(tmp.path(), &ca, &detail);
    INFO(c.why << ": " << detail);
    if (c.why.empty()) {
      CHECK_FALSE(err);
      CHECK_FALSE(ca.created());
      CHECK(ca.subject() == "CN=other");
    } else {
      CHECK(err == certs::certs_errc::ca_invalid);
      CHECK(detail.find(c.why) != std::string::npos);
      CHECK(detail.find("remove") != std::string::npos);
    }
    CHECK(certs_test::slurp(tmp / "ca.pem") == before);
  }
}

TEST_CASE("ensure_ca: a key that is not the certificate's is ca_mismatch") {
  TempDir a, b;
  certs::CA ca_a, ca_b;
  std::string detail;
  REQUIRE(!certs::ensure_ca(a.path(), &ca_a, &detail));
  REQUIRE(!certs::ensure_ca(b.path(), &ca_b, &detail));
  std::filesystem::copy_file(ca_b.key_path(), ca_a.key_path(),
                             std::filesystem::copy_options::overwrite_existing);
  certs::CA again;
  CHECK(certs::ensure_ca(a.path(), &again, &detail) == certs::certs_errc::ca_mismatch);
  CHECK(detail.find(ca_a.key_path() + " is not the private key of " + ca_a.cert_path()) == 0);
}

TEST_CASE("ensure_ca: a directory that cannot be made is a system error naming it, and none is invalid") {
  TempDir tmp;
  certs_test::spit(tmp / "file", "x");
  certs::CA ca;
  std::string detail;
  auto err = certs::ensure_ca(tmp / "file/sub", &ca, &detail);
  CHECK(err == std::errc::not_a_directory);
  CHECK(detail.find("cannot create directory " + tmp / "file/sub") == 0);
  CHECK_FALSE(ca.loaded());
  CHECK(certs::ensure_ca("", &ca, &detail) == std::errc::invalid_argument);
}

TEST_CASE("ensure_ca: four threads racing on a new directory make one CA, and all load it") {
  TempDir tmp;
  const std::string dir = tmp / "race";
  std::vector<certs::CA> cas(4);
  std::vector<std::error_code> errs(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { errs[i] = certs::ensure_ca(dir, &cas[i], nullptr); });
  }
  for (auto& t : threads) t.join();
  int created = 0;
  for (int i = 0; i < 4; ++i) {
    CHECK_FALSE(errs[i]);
    created += cas[i].created() ? 1 : 0;
    CHECK(cas[i].subject() == cas[0].subject());
  }
  CHECK(created == 1);
  CHECK(certs_test::entries(dir) == 2);
}
