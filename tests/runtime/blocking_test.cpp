// Tests of runtime/blocking.cpp: gort::blocking and its thread pool.
#include "gort_test.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using gort_test::for_each_procs;
using gort_test::run_child;
using namespace std::chrono_literals;

TEST_CASE("blocking: returns fn's value, and rethrows fn's exception in the calling fiber") {
  for_each_procs([](int) {
    static int shared = 1;
    const auto me = std::this_thread::get_id();
    std::thread::id ran_on;
    int v = gort::blocking([&] {
      ran_on = std::this_thread::get_id();
      return 42;
    });
    std::string s = gort::blocking([] { return std::string(1000, 'x'); });
    auto up = gort::blocking([] { return std::make_unique<int>(7); });  // move-only
    int& ref = gort::blocking([]() -> int& { return shared; });
    bool called = false;
    gort::blocking([&] { called = true; });  // void
    std::string what;
    try {
      gort::blocking([]() -> int { throw std::runtime_error("from the pool"); });
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(v == 42);
    CHECK(ran_on != me);  // a pool thread, not the fiber's M
    CHECK(s.size() == 1000);
    CHECK(*up == 7);
    CHECK(&ref == &shared);
    CHECK(called);
    CHECK(what == "from the pool");
  });
}

TEST_CASE("blocking: outside a fiber fn runs in place") {
  const auto me = std::this_thread::get_id();
  CHECK(gort::blocking([&] { return std::this_thread::get_id(); }) == me);
  CHECK_THROWS_AS(gort::blocking([] { throw std::logic_error("x"); }), std::logic_error);
}

TEST_CASE("blocking: a 200 ms call does not stop other fibers, even with one P") {
  for_each_procs([](int) {
    std::atomic<bool> stop{false};
    std::atomic<long> count{0};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      while (!stop.load()) {
        count++;
        gort::yield();
      }
      wg.done();
    });
    gort::sleep_for(5ms);
    long before = count.load();
    gort::blocking([] { std::this_thread::sleep_for(200ms); });
    long during = count.load() - before;
    stop = true;
    wg.wait();
    CHECK(during > 1000);  // millions in practice; zero if the sleep held the P
  });
}

TEST_CASE("blocking: many getaddrinfo calls do not stall other fibers") {
  for_each_procs([](int) {
    constexpr int kCalls = 200;
    std::atomic<int> ok{0};
    std::atomic<bool> stop{false};
    std::atomic<long> ticks{0};
    gort::WaitGroup ticker, callers;
    ticker.add(1);
    gort::go([&] {
      while (!stop.load()) {
        gort::sleep_for(1ms);
        ticks++;
      }
      ticker.done();
    });
    callers.add(kCalls);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; i++) {
      gort::go([&] {
        int rc = gort::blocking([] {
          addrinfo hints{};
          hints.ai_family = AF_UNSPEC;
          hints.ai_socktype = SOCK_STREAM;
          addrinfo* res = nullptr;
          int rc = ::getaddrinfo("localhost", "80", &hints, &res);
          if (rc == 0) ::freeaddrinfo(res);
          return rc;
        });
        if (rc == 0) ok++;
        callers.done();
      });
    }
    callers.wait();
    auto took = std::chrono::steady_clock::now() - t0;
    long n = ticks.load();
    stop = true;
    ticker.wait();
    CHECK(ok == kCalls);
    // The ticker ran throughout: about one tick per ms the calls took.
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    CAPTURE(ms);
    CHECK(n >= std::min<long>(5, ms / 4));
  });
}

namespace {
// bound_child: 32 calls of 20 ms with GORT_BLOCKING_THREADS=4. Prints the
// most calls seen at once and the threads used; exit 0 if all completed.
int bound_child() {
  setenv("GORT_BLOCKING_THREADS", "4", 1);
  std::atomic<int> inflight{0}, most{0}, done{0};
  std::mutex mu;
  std::set<std::thread::id> threads;
  long ms = 0;
  gort::run(gort::Config{.procs = 2}, [&] {
    constexpr int kCalls = 32;
    gort::WaitGroup wg;
    wg.add(kCalls);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; i++) {
      gort::go([&] {
        gort::blocking([&] {
          int now = ++inflight;
          int m = most.load();
          while (now > m && !most.compare_exchange_weak(m, now)) {
          }
          {
            std::lock_guard lk(mu);
            threads.insert(std::this_thread::get_id());
          }
          std::this_thread::sleep_for(20ms);
          inflight--;
        });
        done++;
        wg.done();
      });
    }
    wg.wait();
    ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  });
  std::printf("most=%d threads=%zu done=%d ms=%ld\n", most.load(), threads.size(), done.load(), ms);
  return done == 32 ? 0 : 1;
}
}  // namespace

TEST_CASE("blocking: the pool bound holds: more calls than threads wait in line, and all complete") {
  auto r = run_child(bound_child);
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.status == 0);
  int most = 0, done = 0;
  std::size_t threads = 0;
  long ms = 0;
  const std::size_t at = r.out.find("most=");  // after what the parent's stdout buffer held
  REQUIRE(at != std::string::npos);
  CHECK(std::sscanf(r.out.c_str() + at, "most=%d threads=%zu done=%d ms=%ld", &most, &threads, &done, &ms) ==
        4);
  CHECK(r.err.empty());
  CHECK(most == 4);  // 8 waves of 4: never more than the bound, and the bound is used
  CHECK(threads <= 4);
  CHECK(done == 32);
  CHECK(ms >= 8 * 20);
}

TEST_CASE("blocking: a bad GORT_BLOCKING_THREADS is ignored with a warning") {
  auto r = run_child([] {
    setenv("GORT_BLOCKING_THREADS", "none", 1);
    return gort::run([] { return gort::blocking([] { return 3; }); });
  });
  CHECK(r.status == 3);
  CHECK(r.err.find("ignoring GORT_BLOCKING_THREADS=none") != std::string::npos);
}

TEST_CASE("blocking: a fiber waiting on a blocking call is not reported as a deadlock") {
  // The deadlock check looks twice, half a second apart: 2.5 s gives it
  // several chances to misfire while main is the only fiber and it waits.
  auto r = run_child([] {
    return gort::run(gort::Config{.procs = 1}, [] {
      int v = gort::blocking([] {
        std::this_thread::sleep_for(2500ms);
        return 5;
      });
      return v == 5 ? 0 : 1;
    });
  });
  CAPTURE(r.err);
  CHECK(r.status == 0);
  CHECK(r.err.empty());  // in particular, no "fatal error: all fibers are asleep - deadlock!"
}

TEST_CASE("blocking: run returns while a call is in flight, and the pool serves the next run") {
  std::atomic<bool> finished{false};
  auto t0 = std::chrono::steady_clock::now();
  int rc = gort::run(gort::Config{.procs = 2}, [&] {
    gort::go([&] {
      gort::blocking([&] {
        std::this_thread::sleep_for(300ms);
        finished = true;
      });
    });
    gort::go([] { gort::blocking([] { std::this_thread::sleep_for(1ms); }); });  // an idle thread at exit
    gort::sleep_for(50ms);
    return 3;
  });
  CHECK(rc == 3);
  CHECK(std::chrono::steady_clock::now() - t0 < 250ms);  // did not wait for the call
  // The next run's pool works, while the orphaned call is still sleeping.
  CHECK(gort::run([] { return gort::blocking([] { return 4; }); }) == 4);
  // The orphan ends on its own, touching nothing of the finished run.
  for (int i = 0; i < 100 && !finished; i++) std::this_thread::sleep_for(10ms);
  CHECK(finished);
  std::this_thread::sleep_for(20ms);  // let it exit before the process does
}
