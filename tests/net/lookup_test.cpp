// Tests of net/lookup.cpp: IP literals, and host names looked up with
// getaddrinfo on the blocking pool while other fibers run.
#include "gort_net_test.hpp"

#include <netdb.h>

#include <atomic>
#include <string>

using namespace gort_test;
namespace net = gort::net;

TEST_CASE("net: IP literals are parsed without a lookup, outside any fiber") {
  // No gort::run here: literals need neither the blocking pool nor a fiber.
  CHECK(net::resolve_addr("tcp", "192.168.1.1:1").value.to_string() == "192.168.1.1:1");
  CHECK(net::resolve_addr("tcp", "[::]:1").value.to_string() == "[::]:1");
  CHECK(net::resolve_addr("tcp", "[fe80::1%lo]:1").value.to_string() == "[fe80::1%lo]:1");
}

TEST_CASE("net: localhost resolves on the blocking pool while other fibers run") {
  // One P: the spinner can run only while the main fiber is parked, so it
  // counts spins only if the lookup parks the fiber and not its M.
  std::atomic<long> spins{0};
  std::string got;
  std::error_code err;
  int rc = gort::run(gort::Config{.procs = 1}, [&] {
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      while (!stop) {
        spins++;
        gort::yield();
      }
      wg.done();
    });
    auto r = net::resolve_addr("tcp", "localhost:80");
    stop = true;
    got = r.value.to_string();
    err = r.err;
    wg.wait();
  });
  CHECK(rc == 0);
  CHECK_FALSE(err);
  CHECK(got == "127.0.0.1:80");
  CHECK(spins > 0);
}

TEST_CASE("net: an unknown host is an error, not an exception") {
  gort::run([] {
    auto [a, err] = net::resolve_addr("tcp", "no-such-host.invalid:80");
    CHECK(err);
    // Offline, the resolver may say "temporary failure" instead of "no such host".
    CHECK((err == gort::io_errc::no_such_host || err.category() == gort::addrinfo_category()));
    CHECK(a.empty());
  });
}

TEST_CASE("net: a host name lookup gives up at the dial deadline") {
  gort::run([] {
    // A deadline already past: the lookup is not even started.
    auto t0 = Clock::now();
    auto [c, err] = net::Dialer{.deadline = t0 - 1ms}.dial("tcp", "localhost:80");
    CHECK(err == gort::io_errc::timeout);
    CHECK(ms(Clock::now() - t0) < 50);
  });
}
