// Tests of runtime/schedule.cpp: fairness, the global queue, idle Ms.
#include "gort_test.hpp"

#include <atomic>
#include <thread>

using gort_test::for_each_procs;

using gort_test::cpu_seconds;

TEST_CASE("schedule: a fiber looping on yield does not starve the others") {
  for_each_procs([](int procs) {
    std::atomic<bool> stop{false};
    std::atomic<long> spins{0};
    gort::WaitGroup hogs_done;
    // One hog per P, each yielding in a loop forever.
    hogs_done.add(procs);
    for (int i = 0; i < procs; i++) {
      gort::go([&] {
        while (!stop.load()) {
          spins++;
          gort::yield();
        }
        hogs_done.done();
      });
    }
    // Workers that also only make progress by being scheduled.
    constexpr int kWorkers = 50;
    std::atomic<int> finished{0};
    gort::WaitGroup wg;
    wg.add(kWorkers);
    for (int i = 0; i < kWorkers; i++) {
      gort::go([&] {
        for (int k = 0; k < 100; k++) gort::yield();
        finished++;
        wg.done();
      });
    }
    wg.wait();
    stop = true;
    hogs_done.wait();
    CHECK(finished == kWorkers);
    CHECK(spins > 0);
  });
}

TEST_CASE("schedule: fibers on the global run queue run while local ones keep yielding") {
  // Fibers spawned from a foreign thread land on the global queue; a P busy
  // with yielding fibers must still look there (every 61st schedule).
  for_each_procs([](int procs) {
    std::atomic<bool> stop{false};
    gort::WaitGroup hogs;
    hogs.add(procs * 4);
    for (int i = 0; i < procs * 4; i++) {
      gort::go([&] {
        while (!stop) gort::yield();
        hogs.done();
      });
    }
    std::atomic<int> ran{0};
    gort::WaitGroup wg;
    wg.add(200);
    std::thread t([&] {
      for (int i = 0; i < 200; i++)
        gort::go([&] {
          ran++;
          wg.done();
        });
    });
    wg.wait();
    t.join();
    stop = true;
    hogs.wait();
    CHECK(ran == 200);
  });
}

TEST_CASE("schedule: an idle runtime uses no CPU") {
  // Idle Ms sleep in the kernel (futex), and the M waiting for the next
  // timer sleeps until then: no spinning. A spinning M would burn about one
  // CPU-second per second; the bound is generous for noisy machines.
  for_each_procs([](int) {
    gort::WaitGroup wg;
    wg.add(1000);
    for (int i = 0; i < 1000; i++) {
      gort::go([&] {
        gort::sleep_for(std::chrono::milliseconds(900));
        wg.done();
      });
    }
    gort::sleep_for(std::chrono::milliseconds(50));  // let every sleeper park
    double before = cpu_seconds();
    gort::sleep_for(std::chrono::milliseconds(600));
    double used = cpu_seconds() - before;
    wg.wait();
    CHECK(used < 0.15);
  });
}
