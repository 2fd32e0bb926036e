// Tests of net/tls/context.cpp: key pairs load or say why not, a Context
// checks its Config once, and the server's certificate names are read from
// the subjectAltNames.
#include "gort_tls_test.hpp"

using namespace gort_test;
namespace tls = gort::tls;

TEST_CASE("tls: a key pair loads with its names, and bad ones say why") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  auto a = tls::load_x509_key_pair(pki.cert("a"), pki.key("a"));
  REQUIRE_FALSE(a.err);
  CHECK(a.value.names() == std::vector<std::string>{"a.test", "*.a.test"});
  auto ip = tls::load_x509_key_pair(pki.cert("ip"), pki.key("ip"));
  REQUIRE_FALSE(ip.err);
  CHECK(ip.value.names() == std::vector<std::string>{"127.0.0.1"});
  // A key that belongs to another certificate.
  CHECK(tls::load_x509_key_pair(pki.cert("a"), pki.key("b")).err == gort::tls_errc::bad_key_pair);
  // A file that is not PEM, and one that is not there.
  CHECK(tls::load_x509_key_pair(pki.path("openssl.log"), pki.key("a")).err == gort::tls_errc::bad_key_pair);
  CHECK(tls::load_x509_key_pair(pki.path("missing.pem"), pki.key("a")).err ==
        std::errc::no_such_file_or_directory);
  CHECK(tls::x509_key_pair("", "").err == gort::tls_errc::bad_key_pair);
}

TEST_CASE("tls: a Context is checked when it is made: certificates, roots and ALPN names") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  CHECK(tls::Context::server({}).err == gort::tls_errc::bad_config);  // a server needs a certificate
  tls::Config bad_alpn;
  bad_alpn.certificates.push_back(pki.certificate("a"));
  bad_alpn.next_protos = {"h2", ""};
  CHECK(tls::Context::server(bad_alpn).err == gort::tls_errc::bad_config);
  tls::Config missing_ca;
  missing_ca.ca_file = pki.path("no-such-ca.pem");
  CHECK(tls::Context::client(missing_ca).err == gort::tls_errc::bad_config);
  tls::Config versions;
  versions.min_version = 0x0999;
  CHECK(tls::Context::client(versions).err == gort::tls_errc::bad_config);
  CHECK(tls::Context::client({}).value);  // the system's roots
  CHECK(static_cast<bool>(pki.server({"a", "b"})));
}
