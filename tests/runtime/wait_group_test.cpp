// Tests of runtime/wait_group.cpp.
#include "gort_test.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>

using gort_test::for_each_procs;
using gort_test::run_child;

TEST_CASE("WaitGroup: wait returns only after every fiber called done") {
  for_each_procs([](int) {
    constexpr int kN = 1000;
    std::atomic<int> done{0};
    gort::WaitGroup wg;
    wg.add(kN);
    for (int i = 0; i < kN; i++)
      gort::go([&, i] {
        gort::sleep_for(std::chrono::microseconds(i % 50));
        done++;
        wg.done();
      });
    wg.wait();
    CHECK(done == kN);
  });
}

TEST_CASE("WaitGroup: several fibers may wait on one group") {
  for_each_procs([](int) {
    gort::WaitGroup start, waiters;
    start.add(1);
    std::atomic<int> released{0};
    waiters.add(10);
    for (int i = 0; i < 10; i++)
      gort::go([&] {
        start.wait();
        released++;
        waiters.done();
      });
    gort::sleep_for(std::chrono::milliseconds(5));
    CHECK(released == 0);
    start.done();
    waiters.wait();
    CHECK(released == 10);
  });
}

TEST_CASE("WaitGroup: wait on a zero counter returns at once") {
  for_each_procs([](int) {
    gort::WaitGroup wg;
    wg.wait();
    wg.add(2);
    wg.add(-2);
    wg.wait();
  });
}

TEST_CASE("WaitGroup: done from a thread outside the runtime wakes the waiter") {
  for_each_procs([](int) {
    gort::WaitGroup wg;
    wg.add(1);
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      wg.done();
    });
    wg.wait();
    t.join();
  });
}

TEST_CASE("WaitGroup: a negative counter is a panic") {
  auto r = run_child([] {
    return gort::run([] {
      gort::WaitGroup wg;
      wg.done();
    });
  });
  CHECK(r.status == 2);
  CHECK(r.err.find("panic: std::logic_error: sync: negative WaitGroup counter") != std::string::npos);
}

TEST_CASE("WaitGroup: the waiter may destroy the group as soon as wait returns, while done is still returning") {
  // The common shape: a WaitGroup local to the waiting fiber. Its last
  // done() runs on another M; the waiter may see the zero counter without
  // parking and free the group before done() has returned. With the group
  // on the heap, ASan reports any touch after the delete, TSan the race.
  for_each_procs([](int) {
    for (int i = 0; i < 20000; i++) {
      auto* wg = new gort::WaitGroup;
      wg->add(1);
      gort::go([wg] { wg->done(); });
      if (i % 2) gort::yield();  // both orders: wait first, or done first
      wg->wait();
      delete wg;
    }
  });
}
