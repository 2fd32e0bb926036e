// Tests of proxy/names.cpp: server names are normalized or refused, and a
// wildcard covers exactly one label.
#include "gort_test.hpp"

#include "names.hpp"

#include <gort/tls.hpp>

using gort::proxy::normalize_name;
using gort::tls::name_matches;  // the rule routes share with certificates

TEST_CASE("names: a name is lower-cased and loses one trailing dot, a malformed one is refused") {
  CHECK(normalize_name("API.Example.COM.") == "api.example.com");
  CHECK(normalize_name("a-b_c.test") == "a-b_c.test");
  for (const char* bad : {"", ".", "a..b", ".a", "a b", "a/b", "*.example.com", "a.*.com", "héllo.test"})
    CHECK_MESSAGE(normalize_name(bad).empty(), bad);
  CHECK(normalize_name(std::string(64, 'a') + ".test").empty());  // a label over 63 bytes
  CHECK(normalize_name(std::string(300, 'a')).empty());
  CHECK(normalize_name("*.Example.com", true) == "*.example.com");
  CHECK(normalize_name("*", true).empty());
  CHECK(normalize_name("a*.example.com", true).empty());
}

TEST_CASE("names: a wildcard covers one label in front of its name, an exact name only itself") {
  CHECK(name_matches("a.test", "a.test"));
  CHECK_FALSE(name_matches("a.test", "b.test"));
  CHECK(name_matches("*.example.com", "api.example.com"));
  CHECK_FALSE(name_matches("*.example.com", "example.com"));
  CHECK_FALSE(name_matches("*.example.com", "a.b.example.com"));
  CHECK_FALSE(name_matches("*.example.com", "xexample.com"));
  CHECK_FALSE(name_matches("*.example.com", ".example.com"));
}
