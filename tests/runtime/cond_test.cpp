// Tests of runtime/cond.cpp.
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <stdexcept>

using gort_test::for_each_procs;

namespace {

// settle waits until n reaches want (bounded), then a little longer, so that
// a wake-up too many would show.
int settle(const std::atomic<int>& n, int want) {
  for (int i = 0; i < 2000 && n.load() < want; i++) gort::sleep_for(std::chrono::microseconds(500));
  gort::sleep_for(std::chrono::milliseconds(5));
  return n.load();
}

}  // namespace

TEST_CASE("cond: signal wakes one waiter and broadcast wakes all the others") {
  static constexpr int kWaiters = 10;
  for_each_procs([](int) {
    gort::Mutex mu;
    gort::Cond cond(mu);
    int waiting = 0;  // guarded by mu
    std::atomic<int> woken{0};
    gort::WaitGroup wg;
    wg.add(kWaiters);
    for (int i = 0; i < kWaiters; i++) {
      gort::go([&] {
        std::lock_guard lk(mu);
        waiting++;
        cond.wait();
        woken++;
        wg.done();
      });
    }
    // Once all have counted themselves in under mu, all are on the list:
    // each released mu only inside wait().
    auto all_waiting = [&] {
      std::lock_guard lk(mu);
      return waiting == kWaiters;
    };
    while (!all_waiting()) gort::sleep_for(std::chrono::microseconds(100));
    cond.signal();
    int after_one = settle(woken, 1);
    cond.signal();
    cond.signal();
    int after_three = settle(woken, 3);
    cond.broadcast();
    wg.wait();
    CHECK(after_one == 1);
    CHECK(after_three == 3);
    CHECK(woken.load() == kWaiters);
    cond.signal();  // nobody waits: nothing happens
    cond.broadcast();
  });
}

TEST_CASE("cond: a producer/consumer queue passes every item exactly once") {
  static constexpr int kProducers = 4, kConsumers = 4, kItems = 2000, kCap = 8;
  for_each_procs([](int) {
    gort::Mutex mu;
    gort::Cond not_empty(mu), not_full(mu);
    std::deque<int> q;  // guarded by mu
    int producers_left = kProducers;
    long sum = 0, count = 0;  // guarded by mu
    gort::WaitGroup wg;
    wg.add(kProducers + kConsumers);
    for (int p = 0; p < kProducers; p++) {
      gort::go([&, p] {
        for (int i = 0; i < kItems; i++) {
          std::lock_guard lk(mu);
          not_full.wait([&] { return q.size() < kCap; });
          q.push_back(p * kItems + i);
          not_empty.signal();
        }
        {
          std::lock_guard lk(mu);
          if (--producers_left == 0) not_empty.broadcast();
        }
        wg.done();
      });
    }
    for (int c = 0; c < kConsumers; c++) {
      gort::go([&] {
        for (;;) {
          std::lock_guard lk(mu);
          not_empty.wait([&] { return !q.empty() || producers_left == 0; });
          if (q.empty()) break;
          sum += q.front();
          count++;
          q.pop_front();
          not_full.signal();
        }
        wg.done();
      });
    }
    wg.wait();
    std::lock_guard lk(mu);
    static constexpr long kN = long{kProducers} * kItems;
    CHECK(count == kN);
    CHECK(sum == kN * (kN - 1) / 2);
  });
}

TEST_CASE("cond: wait outside a fiber throws") {
  gort::Mutex mu;
  gort::Cond cond(mu);
  mu.lock();
  CHECK_THROWS_AS(cond.wait(), std::logic_error);
  mu.unlock();  // wait threw before touching the mutex
}

TEST_CASE("cond: wait without the mutex held throws and leaves the cond usable") {
  for_each_procs([](int) {
    gort::Mutex mu;
    gort::Cond cond(mu);
    bool threw = false;
    try {
      cond.wait();
    } catch (const std::logic_error&) {
      threw = true;
    }
    CHECK(threw);
    // The failed waiter left the list: a signal now reaches a real waiter.
    std::atomic<bool> woke{false};
    bool ready = false;  // guarded by mu
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      std::lock_guard lk(mu);
      ready = true;
      cond.wait();
      woke = true;
      wg.done();
    });
    auto is_ready = [&] {
      std::lock_guard lk(mu);
      return ready;
    };
    while (!is_ready()) gort::yield();
    cond.signal();
    wg.wait();
    CHECK(woke.load());
  });
}
