// Tests of runtime/steal.cpp: idle Ps take work from busy ones.
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

TEST_CASE("steal: CPU-bound fibers spawned from one fiber run on every M") {
  for (int procs : {2, 4}) {
    CAPTURE(procs);
    std::set<std::thread::id> threads;
    gort::Stats st;
    gort::run(gort::Config{.procs = procs}, [&] {
      std::mutex mu;  // never held across a park
      constexpr int kN = 32;
      gort::WaitGroup wg;
      wg.add(kN);
      for (int i = 0; i < kN; i++) {
        gort::go([&] {
          {
            std::lock_guard lk(mu);
            threads.insert(std::this_thread::get_id());
          }
          // ~20 ms of work that never yields
          auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
          volatile unsigned x = 0;
          while (std::chrono::steady_clock::now() < end) x = x + 1;
          wg.done();
        });
      }
      wg.wait();
      st = gort::stats();
    });
    CHECK(threads.size() >= static_cast<std::size_t>(procs));
    CHECK(st.steals > 0);
    CHECK(st.stolen_fibers > 0);
  }
}
