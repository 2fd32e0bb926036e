// Tests of runtime/run.cpp: starting, ending and restarting the runtime.
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using gort_test::run_child;
using namespace std::chrono_literals;

TEST_CASE("run: returns the exit status main returns, and 0 for a void main") {
  CHECK(gort::run([] { return 7; }) == 7);
  CHECK(gort::run([] {}) == 0);
  CHECK(gort::run(gort::Config{.procs = 3}, [] { return gort::stats().procs; }) == 3);
}

TEST_CASE("run: main runs in a fiber, with an id") {
  std::uint64_t id = 0;
  gort::run([&] { id = gort::fiber_id(); });
  CHECK(id != 0);
}

TEST_CASE("run: fibers still alive when main returns are abandoned and run returns promptly") {
  auto t0 = std::chrono::steady_clock::now();
  int rc = gort::run(gort::Config{.procs = 2}, [] {
    static gort::WaitGroup never;  // outlives the run: abandoned fibers keep pointing at it
    never.add(1);
    for (int i = 0; i < 100; i++) gort::go([] { never.wait(); });
    for (int i = 0; i < 100; i++) gort::go([] { gort::sleep_for(1h); });
    for (int i = 0; i < 100; i++)
      gort::go([] {
        for (;;) gort::yield();
      });
    gort::sleep_for(10ms);
    return 3;
  });
  CHECK(rc == 3);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  // And the runtime starts again afterwards.
  CHECK(gort::run([] { return 4; }) == 4);
}

TEST_CASE("run: nesting run inside a fiber is a clear error") {
  std::string what;
  gort::run([&] {
    try {
      gort::run([] {});
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  });
  CHECK(what.find("already running") != std::string::npos);
}

namespace {
int abandon_with_heap_memory() {
  int rc = gort::run(gort::Config{.procs = 2}, [] {
    static gort::WaitGroup never;
    never.add(1);
    for (int i = 0; i < 100; i++) {
      gort::go([] {
        auto held = std::make_unique<std::vector<int>>(1000, 1);  // only this fiber's stack points to it
        never.wait();
        (void)held;
      });
    }
    gort::sleep_for(10ms);
    // And fibers that never get to run: their closures own memory too.
    for (int i = 0; i < 100; i++) {
      gort::go([held = std::make_unique<std::vector<int>>(1000, 2)] { (void)held; });
    }
    return 0;
  });
  std::exit(rc);  // a normal exit: atexit handlers and leak checks run
}
}  // namespace

TEST_CASE("run: a process whose main returns with fibers still parked exits cleanly") {
  auto r = run_child(abandon_with_heap_memory);
  CHECK(r.status == 0);
  CHECK(r.err == "");  // no crash, no leak report
}
