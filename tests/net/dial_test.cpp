// Tests of net/dial.cpp: dial, dial_timeout and Dialer: refusal, timeouts
// against a full backlog, trying addresses in turn, names.
#include "gort_net_test.hpp"

#include <string>
#include <vector>

using namespace gort_test;
namespace net = gort::net;

namespace {

// full_backlog: a listener with a backlog of 1 that never accepts, and the
// connections that fill its queue: the next SYN is dropped, so a dial hangs
// until its deadline. Empty `held` if the queue never filled.
struct FullBacklog {
  net::Listener ln;
  std::vector<net::Conn> held;
};

FullBacklog full_backlog() {
  FullBacklog f;
  auto [ln, err] = net::listen("tcp", "127.0.0.1:0", {.backlog = 1});
  if (err) return f;
  f.ln = std::move(ln);
  for (int i = 0; i < 64; i++) {
    auto [c, derr] = net::dial_timeout("tcp", f.ln.addr().to_string(), 100ms);
    if (derr == gort::io_errc::timeout) return f;  // full
    if (derr) break;
    f.held.push_back(std::move(c));
  }
  f.held.clear();
  return f;
}

}  // namespace

TEST_CASE("net: dial to a closed port fails fast with connection refused") {
  for_each_procs([](int) {
    std::string addr;
    {
      auto [ln, err] = net::listen("tcp", "127.0.0.1:0");
      REQUIRE_FALSE(err);
      addr = ln.addr().to_string();
    }  // closed: nothing listens there now
    auto t0 = Clock::now();
    auto [c, err] = net::dial("tcp", addr);
    CHECK(err == std::errc::connection_refused);
    CHECK(ms(Clock::now() - t0) < 1000);
    CHECK(c.fd() == -1);
  });
}

TEST_CASE("net: dial_timeout times out against a full backlog, and never early") {
  for_each_procs([](int) {
    auto f = full_backlog();
    REQUIRE_FALSE(f.held.empty());
    auto t0 = Clock::now();
    auto [c, err] = net::dial_timeout("tcp", f.ln.addr().to_string(), 200ms);
    auto waited = Clock::now() - t0;
    CHECK(err == gort::io_errc::timeout);
    CHECK(err == std::errc::timed_out);
    CHECK(waited >= 200ms);
    CHECK(ms(waited) < 1500);
  });
}

TEST_CASE("net: a Dialer's deadline bounds the dial, one in the past times out at once") {
  for_each_procs([](int) {
    auto f = full_backlog();
    REQUIRE_FALSE(f.held.empty());
    auto deadline = Clock::now() + 100ms;
    auto [c, err] = net::Dialer{.timeout = 10s, .deadline = deadline}.dial("tcp", f.ln.addr().to_string());
    CHECK(err == gort::io_errc::timeout);
    CHECK(Clock::now() >= deadline);
    auto t0 = Clock::now();
    CHECK(net::Dialer{.deadline = t0 - 1ms}.dial("tcp", f.ln.addr().to_string()).err ==
          gort::io_errc::timeout);
    CHECK(ms(Clock::now() - t0) < 50);
  });
}

TEST_CASE("net: dial tries each address in turn until one connects") {
  for_each_procs([](int) {
    // Only [::1] listens; an empty host on "tcp" is 127.0.0.1 (refused), then ::1.
    net::Listener ln = listen_checked("tcp6", "[::1]:0");
    REQUIRE(ln.fd() >= 0);
    EchoServer server(ln);
    std::string remote;
    CHECK(round_trip("tcp", ":" + std::to_string(ln.addr().port()), "hi", &remote) == "hi");
    CHECK(remote == ln.addr().to_string());
    server.stop();
  });
}

TEST_CASE("net: dial_timeout resolves a host name, and listen takes its IPv4 address") {
  for_each_procs([](int) {
    net::Listener ln = listen_checked("tcp", "localhost:0");
    REQUIRE(ln.fd() >= 0);
    CHECK(ln.addr().to_string().rfind("127.0.0.1:", 0) == 0);  // Go: a name's first IPv4 address
    EchoServer server(ln);
    auto [c, derr] = net::dial_timeout("tcp", "localhost:" + std::to_string(ln.addr().port()), 5s);
    REQUIRE_FALSE(derr);
    CHECK(c.remote_addr().to_string() == ln.addr().to_string());
    c.close();
    server.stop();
  });
}

TEST_CASE("net: dial reports bad addresses as errors") {
  gort::run([] {
    CHECK(net::dial("tcp", "127.0.0.1").err == gort::io_errc::missing_port);
    CHECK(net::dial("sctp", "127.0.0.1:1").err == gort::io_errc::unknown_network);
    CHECK(net::dial("tcp4", "[::1]:80").err == gort::io_errc::no_suitable_address);
    CHECK(net::dial("unix", "/nonexistent/gort.sock").err == std::errc::no_such_file_or_directory);
  });
}
