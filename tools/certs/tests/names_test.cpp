// names_test.cpp: tests of tools/certs/names.cpp: which names a leaf may
// carry (check_name, check_names), mkcert's file names (leaf_basename),
// default_dir and the "gort.certs" error category.
#include <doctest/doctest.h>

#include "certs.hpp"

#include <cstdlib>
#include <string>
#include <vector>

namespace certs = gort::certs;

namespace {

certs::NameKind kind_of(const std::string& name) {
  certs::NameKind kind = certs::NameKind::dns;
  std::string detail;
  auto err = certs::check_name(name, &kind, &detail);
  INFO(name << ": " << detail);
  CHECK_FALSE(err);
  return kind;
}

}  // namespace

TEST_CASE("check_name: DNS names, wildcards and IP literals are accepted and told apart") {
  CHECK(kind_of("localhost") == certs::NameKind::dns);
  CHECK(kind_of("example.test") == certs::NameKind::dns);
  CHECK(kind_of("Under_Score-ok.example.test") == certs::NameKind::dns);
  CHECK(kind_of("xn--bcher-kva.example") == certs::NameKind::dns);
  CHECK(kind_of(std::string(63, 'a') + ".test") == certs::NameKind::dns);
  CHECK(kind_of("*.example.test") == certs::NameKind::wildcard);
  CHECK(kind_of("*.localhost") == certs::NameKind::wildcard);
  CHECK(kind_of("127.0.0.1") == certs::NameKind::ipv4);
  CHECK(kind_of("0.0.0.0") == certs::NameKind::ipv4);
  CHECK(kind_of("::1") == certs::NameKind::ipv6);
  CHECK(kind_of("2001:db8::10") == certs::NameKind::ipv6);
  CHECK(kind_of("::ffff:192.0.2.1") == certs::NameKind::ipv6);
}

TEST_CASE("check_name: anything else is invalid_name, with a reason naming the name") {
  const std::vector<std::string> bad = {
      "",                    // empty
      "1.2.3.256",           // looks like IPv4, is not
      "1.2.3",               // ditto (inet_pton wants four parts)
      "127.1",               //
      "1",                   //
      "::g",                 // looks like IPv6, is not
      "[::1]",               // brackets
      "fe80::1%eth0",        // zone
      "127.0.0.1:443",       // port
      "a*.example.test",     // '*' not a whole label
      "www.*.example.test",  // '*' not first
      "*",                   //
      "*.",                  //
      "**.example.test",     //
      "example..test",       // empty label
      ".example.test",       //
      "example.test.",       // trailing dot
      "-foo.test",           // leading '-'
      "foo-.test",           // trailing '-'
      "a b.test",            // space
      "b\xc3\xbc"
      "cher.example",                  // not ASCII
      "user@example.test",             // email
      "https://example.test/",         // URI
      std::string(64, 'a') + ".test",  // label over 63
      std::string(250, 'a').replace(60, 1, ".").replace(120, 1, ".").replace(180, 1, ".") +
          ".test",  // over 253
  };
  for (const std::string& name : bad) {
    std::string detail;
    auto err = certs::check_name(name, nullptr, &detail);
    INFO("name: \"" << name << "\" detail: " << detail);
    CHECK(err == certs::certs_errc::invalid_name);
    CHECK(detail.find("invalid name \"" + name + "\"") == 0);
  }
}

TEST_CASE("check_names: an empty list is no_names, one bad name fails the list") {
  std::string detail;
  CHECK(certs::check_names({}, &detail) == certs::certs_errc::no_names);
  CHECK(detail.find("no names") != std::string::npos);
  CHECK(certs::check_names({"a.test", "300.1.1.1"}, &detail) == certs::certs_errc::invalid_name);
  CHECK(detail.find("300.1.1.1") != std::string::npos);
  CHECK_FALSE(certs::check_names({"a.test", "*.a.test", "10.0.0.1", "::1"}, nullptr));
}

TEST_CASE("leaf_basename: mkcert's names: the first name, _wildcard, +N, -client") {
  CHECK(certs::leaf_basename({"example.test"}, false) == "example.test");
  CHECK(certs::leaf_basename({"example.test", "localhost", "127.0.0.1"}, false) == "example.test+2");
  CHECK(certs::leaf_basename({"*.example.test", "example.test"}, false) == "_wildcard.example.test+1");
  CHECK(certs::leaf_basename({"::1"}, false) == "__1");
  CHECK(certs::leaf_basename({"example.test"}, true) == "example.test-client");
  CHECK(certs::leaf_basename({"a.test", "b.test"}, true) == "a.test+1-client");
}

TEST_CASE("default_dir: $GORT_CERTS_DIR when set and not empty, else certs") {
  const char* saved = std::getenv("GORT_CERTS_DIR");
  std::string old = saved != nullptr ? saved : "";
  unsetenv("GORT_CERTS_DIR");
  CHECK(certs::default_dir() == "certs");
  setenv("GORT_CERTS_DIR", "", 1);
  CHECK(certs::default_dir() == "certs");
  setenv("GORT_CERTS_DIR", "/tmp/somewhere", 1);
  CHECK(certs::default_dir() == "/tmp/somewhere");
  if (saved != nullptr) {
    setenv("GORT_CERTS_DIR", old.c_str(), 1);
  } else {
    unsetenv("GORT_CERTS_DIR");
  }
}

TEST_CASE("certs_category: named gort.certs, one message per code") {
  std::error_code err = certs::certs_errc::ca_mismatch;
  CHECK(std::string(err.category().name()) == "gort.certs");
  CHECK(err.message() == "CA key mismatch");
  CHECK(std::error_code(certs::certs_errc::would_overwrite).message() == "would overwrite the CA");
  CHECK(std::error_code(99, certs::certs_category()).message() == "unknown gort.certs error 99");
}
