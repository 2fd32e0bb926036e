// Tests of runtime/proc.cpp: spawning fibers, their closures, ids and stacks,
// and the fiber-only calls made outside the runtime.
#include "gort_test.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using gort_test::for_each_procs;

TEST_CASE("go: a million fibers are spawned and every one of them completes") {
  static constexpr int kN = gort_test::scaled(1'000'000);
  for_each_procs([](int procs) {
    std::atomic<int> ran{0};
    gort::WaitGroup wg;
    wg.add(kN);
    for (int i = 0; i < kN; i++) {
      gort::go([&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    // The last fibers called done() but may still be on their way out.
    auto st = gort::stats();
    for (int i = 0; i < 1000 && st.fibers_alive > 1; i++) {
      gort::sleep_for(std::chrono::milliseconds(1));
      st = gort::stats();
    }
    CHECK(ran.load() == kN);
    CHECK(st.procs == procs);
    CHECK(st.fibers_alive == 1);  // only main is left
    CHECK(st.fibers_spawned == kN + 1);
  });
}

TEST_CASE("go: a loop of go() calls runs its fibers as it goes, so only a few rings of them wait") {
  // The spawner never parks. Each time a go() fills its P's run queue, go()
  // yields and the queued fibers run. Without that, every spawned fiber
  // would wait (a million of them hold 300 MB) until sysmon took the
  // spawner's P after 10 ms. A P holds at most 256 + 1 queued fibers and
  // the global queue one overflow of 129, so 2 x 256 per P is a safe bound.
  static constexpr int kN = gort_test::scaled(200'000);
  for_each_procs([](int procs) {
    std::atomic<int> finished{0};
    gort::WaitGroup wg;
    wg.add(kN);
    int most_waiting = 0;  // spawned, not yet finished
    for (int i = 0; i < kN; i++) {
      gort::go([&] {
        finished.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
      if (i % 16 == 0) most_waiting = std::max(most_waiting, i + 1 - finished.load());
    }
    wg.wait();
    CAPTURE(most_waiting);
    CHECK(most_waiting > 0);
    CHECK(most_waiting <= 2 * 256 * procs);
  });
}

TEST_CASE("go: a fiber holding a Mutex may spawn many fibers that want it, past a full run queue") {
  // go() yields when the run queue fills; the fibers that then run park on
  // the Mutex the spawner holds, which lets the spawner go on. Once it
  // unlocks, every one of them gets the Mutex in turn.
  static constexpr int kN = gort_test::scaled(5'000);
  for_each_procs([](int) {
    gort::Mutex mu;
    int inside = 0;  // under mu
    gort::WaitGroup wg;
    wg.add(kN);
    mu.lock();
    for (int i = 0; i < kN; i++) {
      gort::go([&] {
        mu.lock();
        inside++;
        mu.unlock();
        wg.done();
      });
    }
    const int before_unlock = inside;
    mu.unlock();
    wg.wait();
    CHECK(before_unlock == 0);
    CHECK(inside == kN);
  });
}

TEST_CASE("go: arguments are copied or moved into the fiber, move-only ones included") {
  for_each_procs([](int) {
    std::atomic<int> sum{0};
    gort::WaitGroup wg;
    wg.add(3);
    auto p = std::make_unique<int>(40);
    gort::go(
        [&](std::unique_ptr<int> v, int extra) {
          sum += *v + extra;
          wg.done();
        },
        std::move(p), 2);
    std::string s = "hello";
    gort::go(
        [&](std::string copy) {
          sum += static_cast<int>(copy.size());
          wg.done();
        },
        s);
    // A closure larger than fits inside the G is built on the fiber's stack.
    std::array<char, 4096> big{};
    big[4095] = 7;
    gort::go([&, big] {
      sum += big[4095];
      wg.done();
    });
    wg.wait();
    CHECK(sum == 42 + 5 + 7);
    CHECK(s == "hello");
    CHECK(p == nullptr);
  });
}

TEST_CASE("go: every fiber has its own id, and fiber_id is 0 outside a fiber") {
  CHECK(gort::fiber_id() == 0);
  for_each_procs([](int) {
    constexpr int kN = 1000;
    std::vector<std::uint64_t> ids(kN);
    gort::WaitGroup wg;
    wg.add(kN);
    for (int i = 0; i < kN; i++) {
      gort::go([&, i] {
        ids[static_cast<std::size_t>(i)] = gort::fiber_id();
        gort::yield();
        // still the same fiber after a switch, whichever thread it is on now
        if (ids[static_cast<std::size_t>(i)] != gort::fiber_id()) ids[static_cast<std::size_t>(i)] = 0;
        wg.done();
      });
    }
    wg.wait();
    std::set<std::uint64_t> unique(ids.begin(), ids.end());
    CHECK(unique.size() == kN);
    CHECK(unique.count(0) == 0);
    CHECK(unique.count(gort::fiber_id()) == 0);
  });
}

TEST_CASE("go: a fiber may ask for a larger stack and use nearly all of it") {
  for_each_procs([](int) {
    std::atomic<int> seen{0};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go(gort::FiberOptions{.stack_size = 4 << 20}, [&] {
      // 3 MiB of locals: far past the 256 KiB default.
      std::vector<char> sink;
      auto use = [&](auto&& self, int depth) -> int {
        volatile char frame[64 * 1024];
        frame[0] = static_cast<char>(depth);
        frame[sizeof frame - 1] = 1;
        return depth == 0 ? frame[0] : self(self, depth - 1) + frame[sizeof frame - 1];
      };
      seen = use(use, 48);
      wg.done();
    });
    wg.wait();
    CHECK(seen == 48);
  });
}

TEST_CASE("go: fibers may be spawned from a thread the runtime does not own") {
  for_each_procs([](int) {
    std::atomic<int> ran{0};
    gort::WaitGroup wg;
    wg.add(100);
    std::thread t([&] {
      for (int i = 0; i < 100; i++)
        gort::go([&] {
          ran++;
          wg.done();
        });
    });
    wg.wait();
    t.join();
    CHECK(ran == 100);
  });
}

TEST_CASE("go: fiber-only calls made outside gort::run throw a clear logic_error") {
  CHECK_THROWS_WITH_AS(gort::yield(), doctest::Contains("gort::yield: not called from a fiber"),
                       std::logic_error);
  CHECK_THROWS_WITH_AS(gort::sleep_for(std::chrono::milliseconds(1)),
                       doctest::Contains("gort::sleep_until: not called from a fiber"), std::logic_error);
  CHECK_THROWS_WITH_AS(gort::go([] {}), doctest::Contains("gort::go: called outside gort::run"),
                       std::logic_error);
  gort::WaitGroup wg;
  wg.add(1);
  CHECK_THROWS_WITH_AS(wg.wait(), doctest::Contains("not called from a fiber"), std::logic_error);
  wg.done();
}

TEST_CASE("go: fiber-only calls made from a foreign thread while gort::run runs throw too") {
  std::string what;
  gort::run([&] {
    std::thread t([&] {
      try {
        gort::yield();
      } catch (const std::logic_error& e) {
        what = e.what();
      }
    });
    t.join();
  });
  CHECK(what.find("not called from a fiber") != std::string::npos);
}
