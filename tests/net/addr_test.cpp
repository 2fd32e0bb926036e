// Tests of net/addr.cpp: host:port splitting (Go's SplitHostPort table),
// address resolution for each network, and Addr's strings.
#include "gort_net_test.hpp"

#include <netinet/in.h>

#include <cstring>
#include <string>

using namespace gort_test;
namespace net = gort::net;

TEST_CASE("net: split_host_port splits Go's forms") {
  struct Case {
    const char *in, *host, *port;
  } cases[] = {
      {":8080", "", "8080"},
      {"localhost:0", "localhost", "0"},
      {"127.0.0.1:80", "127.0.0.1", "80"},
      {"[::1]:443", "::1", "443"},
      {"[fe80::1%eth0]:80", "fe80::1%eth0", "80"},
      {"example.com:", "example.com", ""},
      {"[::]:0", "::", "0"},
      {":", "", ""},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.in));
    auto [hp, err] = net::split_host_port(c.in);
    CHECK_FALSE(err);
    CHECK(hp.host == c.host);
    CHECK(hp.port == c.port);
  }
}

TEST_CASE("net: split_host_port rejects malformed addresses with Go's messages") {
  struct Case {
    const char* in;
    gort::io_errc err;
    const char* message;
  } cases[] = {
      // Go's splitFailureTests (net/ip_test.go), and a few more.
      {"www.google.com", gort::io_errc::missing_port, "missing port in address"},
      {"", gort::io_errc::missing_port, "missing port in address"},
      {"::1", gort::io_errc::too_many_colons, "too many colons in address"},
      {"[::1]", gort::io_errc::missing_port, "missing port in address"},
      {"[fe80::1%lo0]", gort::io_errc::missing_port, "missing port in address"},
      {"fe80::1%lo0:80", gort::io_errc::too_many_colons, "too many colons in address"},
      {"[foo:bar]baz", gort::io_errc::missing_port, "missing port in address"},
      {"[foo]bar:baz", gort::io_errc::missing_port, "missing port in address"},
      {"[foo]:[bar]:baz", gort::io_errc::too_many_colons, "too many colons in address"},
      {"[foo]:[bar]baz", gort::io_errc::unexpected_lbracket, "unexpected '[' in address"},
      {"foo[bar]:baz", gort::io_errc::unexpected_lbracket, "unexpected '[' in address"},
      {"foo]bar:baz", gort::io_errc::unexpected_rbracket, "unexpected ']' in address"},
      {"[::1:80", gort::io_errc::missing_bracket, "missing ']' in address"},
      {"[::1]:80:90", gort::io_errc::too_many_colons, "too many colons in address"},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.in));
    auto [hp, err] = net::split_host_port(c.in);
    CHECK(err == c.err);
    CHECK(err.message() == c.message);
  }
}

TEST_CASE("net: join_host_port brackets hosts with colons") {
  CHECK(net::join_host_port("127.0.0.1", "80") == "127.0.0.1:80");
  CHECK(net::join_host_port("::1", "443") == "[::1]:443");
  CHECK(net::join_host_port("", "8080") == ":8080");
}

TEST_CASE("net: resolve_addr gives Go's address strings") {
  struct Case {
    const char *network, *in, *out;
  } cases[] = {
      {"tcp", "127.0.0.1:80", "127.0.0.1:80"},
      {"tcp4", "10.1.2.3:65535", "10.1.2.3:65535"},
      {"tcp", "[::1]:443", "[::1]:443"},
      {"tcp6", "[2001:db8::7]:0", "[2001:db8::7]:0"},
      {"tcp", "[::ffff:127.0.0.1]:9", "127.0.0.1:9"},  // IPv4-mapped: printed as IPv4
      {"tcp", "[fe80::1%lo]:80", "[fe80::1%lo]:80"},
      {"tcp", "[fe80::1%1]:80", "[fe80::1%lo]:80"},  // a numeric zone: lo is interface 1
      {"tcp", "127.0.0.1:", "127.0.0.1:0"},          // an empty port is 0
      {"tcp4", ":80", "127.0.0.1:80"},               // dialing an empty host: the local system
      {"unix", "/tmp/x.sock", "/tmp/x.sock"},
      {"unix", "@abstract", "@abstract"},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.network));
    CAPTURE(std::string(c.in));
    auto [a, err] = net::resolve_addr(c.network, c.in);
    CHECK_FALSE(err);
    CHECK(a.to_string() == c.out);
    CHECK(a.network() == (std::string(c.network) == "unix" ? "unix" : "tcp"));
  }
}

TEST_CASE("net: resolve_addr rejects bad networks, ports and families") {
  struct Case {
    const char *network, *in;
    std::error_code err;
  } cases[] = {
      {"udp", "127.0.0.1:80", gort::io_errc::unknown_network},
      {"", "127.0.0.1:80", gort::io_errc::unknown_network},
      {"tcp", "127.0.0.1:65536", gort::io_errc::invalid_port},
      {"tcp", "127.0.0.1:99999999999", gort::io_errc::invalid_port},
      {"tcp", "127.0.0.1:http", gort::io_errc::unknown_port},
      {"tcp", "127.0.0.1:-1", gort::io_errc::unknown_port},
      {"tcp4", "[::1]:80", gort::io_errc::no_suitable_address},
      {"tcp6", "127.0.0.1:80", gort::io_errc::no_suitable_address},
      {"tcp", "127.0.0.1", gort::io_errc::missing_port},
      {"unix", "", gort::io_errc::missing_address},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.network));
    CAPTURE(std::string(c.in));
    CHECK(net::resolve_addr(c.network, c.in).err == c.err);
  }
  // A path longer than sun_path holds: EINVAL, as Go.
  CHECK(net::resolve_addr("unix", "/tmp/" + std::string(120, 'p')).err == std::errc::invalid_argument);
}

TEST_CASE("net: an empty Addr and sockaddr round trips") {
  net::Addr empty;
  CHECK(empty.empty());
  CHECK(empty.network() == "");
  CHECK(empty.to_string() == "");
  CHECK(empty.port() == 0);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(8080);
  sa.sin6_addr = in6addr_any;
  net::Addr a(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  CHECK(a.to_string() == "[::]:8080");
  CHECK(a.port() == 8080);
  CHECK(a.size() == sizeof sa);
  CHECK(std::memcmp(a.sockaddr(), &sa, sizeof sa) == 0);
}
