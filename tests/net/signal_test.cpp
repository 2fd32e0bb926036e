// Tests of net/signal.cpp (<gort/signal.hpp>): signals reach a waiting
// fiber in order instead of taking their default action, stop() puts the
// old actions back, and a signal has one owner at a time.
#include "gort_net_test.hpp"

#include <gort/signal.hpp>

#include <signal.h>

using namespace gort_test;
namespace os = gort::os;

namespace {

bool is_default(int sig) {
  struct sigaction sa {};
  ::sigaction(sig, nullptr, &sa);
  return sa.sa_handler == SIG_DFL;
}

// handler: sig's handler now (doctest has its own for SIGTERM).
void (*handler(int sig))(int) {
  struct sigaction sa {};
  ::sigaction(sig, nullptr, &sa);
  return sa.sa_handler;
}

}  // namespace

TEST_CASE("signal: SIGHUP, SIGUSR1 and SIGTERM reach a parked fiber instead of ending the process") {
  REQUIRE(is_default(SIGHUP));
  const auto term_before = handler(SIGTERM);
  for_each_procs([](int) {
    auto n = os::Signals::notify({SIGHUP, SIGUSR1, SIGTERM});
    REQUIRE_FALSE(n.err);
    os::Signals& sigs = n.value;  // (not a structured binding: clang 14 cannot capture one)
    auto got = gort::Chan<int>(8);
    gort::go([&] {  // the waiter parks before the signals come
      for (;;) {
        auto [sig, werr] = sigs.wait();
        if (werr) {
          got.send(werr == gort::io_errc::closed ? -1 : -2);
          return;
        }
        got.send(sig);
      }
    });
    gort::sleep_for(20ms);
    for (int sig : {SIGHUP, SIGUSR1, SIGTERM, SIGHUP}) {
      ::kill(::getpid(), sig);  // to the process: any thread may take it
      CHECK(got.recv().value == sig);
    }
    CHECK_FALSE(sigs.stop());
    CHECK(got.recv().value == -1);  // the waiter is woken by stop
    CHECK(sigs.stop() == gort::io_errc::closed);
  });
  CHECK(is_default(SIGHUP));  // stop put the old actions back
  CHECK((handler(SIGTERM) == term_before));
}

TEST_CASE("signal: a signal has one owner at a time, and bad numbers are refused") {
  int rc = gort::run([] {
    auto a = os::Signals::notify({SIGUSR2});
    REQUIRE_FALSE(a.err);
    auto b = os::Signals::notify({SIGHUP, SIGUSR2});
    CHECK(b.err == std::errc::device_or_resource_busy);
    CHECK(is_default(SIGHUP));  // the failed notify left nothing behind
    CHECK(os::Signals::notify({SIGKILL}).err == std::errc::invalid_argument);
    CHECK(os::Signals::notify({0}).err == std::errc::invalid_argument);
    a.value.stop();
    auto c = os::Signals::notify({SIGUSR2});  // free again
    CHECK_FALSE(c.err);
  });
  CHECK(rc == 0);
  CHECK(is_default(SIGUSR2));  // ~Signals stops too
}
