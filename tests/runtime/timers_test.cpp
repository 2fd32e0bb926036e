// Tests of runtime/timers.cpp: sleeping fibers.
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <random>

using gort_test::for_each_procs;
using namespace std::chrono;
using namespace std::chrono_literals;

TEST_CASE("timers: 100,000 sleeping fibers each wake at or after their time, none early") {
  for_each_procs([](int) {
    constexpr int kN = gort_test::scaled(100'000);
    std::atomic<int> early{0}, woke{0};
    std::atomic<long> worst_late_us{0};
    gort::WaitGroup wg;
    wg.add(kN);
    std::mt19937 rng(42);
    // Every fiber sleeps past `base`, so all of them are asleep at once there.
    const auto base = steady_clock::now() + 1s;
    for (int i = 0; i < kN; i++) {
      auto target = base + microseconds(rng() % 300'000);
      gort::go([&, target] {
        gort::sleep_until(target);
        auto now = steady_clock::now();
        if (now < target) early++;
        long late = duration_cast<microseconds>(now - target).count();
        long w = worst_late_us.load();
        while (late > w && !worst_late_us.compare_exchange_weak(w, late)) {
        }
        woke++;
        wg.done();
      });
    }
    // Wait until every fiber ran up to its sleep.
    auto st = gort::stats();
    while (st.timers < kN && steady_clock::now() < base - 200ms) {
      gort::sleep_for(10ms);
      st = gort::stats();
    }
    // All asleep at once, unless the machine is too slow (a sanitizer build
    // on a loaded machine) to start them all 200 ms before the first wakes.
    if (st.timers >= kN && steady_clock::now() < base) {
      CHECK(st.fibers_alive == kN + 1);
      CHECK(st.timers == kN + 0u);
    } else {
      MESSAGE("machine too slow to check that all sleepers were alive at once (" << st.timers << " asleep)");
    }
    wg.wait();
    CHECK(early == 0);
    CHECK(woke == kN);
    MESSAGE("worst lateness: " << worst_late_us.load() << " us");
  });
}

TEST_CASE("timers: sleep_for with a zero or negative duration returns at once") {
  for_each_procs([](int) {
    auto t0 = steady_clock::now();
    gort::sleep_for(0ms);
    gort::sleep_for(-5s);
    gort::sleep_until(steady_clock::now() - 1h);
    CHECK(steady_clock::now() - t0 < 1s);
  });
}

TEST_CASE("timers: sleep_for sleeps at least as long as asked") {
  for_each_procs([](int) {
    for (auto d : {1ms, 10ms, 50ms}) {
      auto t0 = steady_clock::now();
      gort::sleep_for(d);
      CHECK(steady_clock::now() - t0 >= d);
    }
  });
}

TEST_CASE("timers: a sleeper wakes even when every P is busy yielding") {
  // Timers of a P are run by its own schedule(), so a P that never idles
  // still fires them.
  for_each_procs([](int procs) {
    std::atomic<bool> stop{false};
    gort::WaitGroup hogs;
    hogs.add(procs);
    for (int i = 0; i < procs; i++)
      gort::go([&] {
        while (!stop) gort::yield();
        hogs.done();
      });
    auto t0 = steady_clock::now();
    gort::sleep_for(30ms);
    CHECK(steady_clock::now() - t0 >= 30ms);
    stop = true;
    hogs.wait();
  });
}
