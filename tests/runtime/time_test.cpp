// Tests of runtime/time.cpp: timers as channels.
#include "gort_test.hpp"

#include <atomic>

using gort_test::for_each_procs;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("after: the channel receives the time once, no earlier than asked") {
  for_each_procs([](int) {
    auto t0 = Clock::now();
    auto c = gort::after(20ms);
    auto r = c.recv();
    CHECK(r.ok);
    CHECK(r.value - t0 >= 20ms);
    CHECK(Clock::now() - t0 >= 20ms);
    CHECK(c.len() == 0);
  });
}

TEST_CASE("after: as a select case it times out a receive that never comes") {
  for_each_procs([](int) {
    gort::Chan<int> never(0);
    bool timed_out = false;
    auto t0 = Clock::now();
    gort::select(gort::on_recv(never), gort::on_recv(gort::after(10ms), [&] { timed_out = true; }));
    CHECK(timed_out);
    CHECK(Clock::now() - t0 >= 10ms);
  });
}

TEST_CASE("ticker: ticks at its period, then stops when stopped") {
  for_each_procs([](int) {
    auto t0 = Clock::now();
    gort::Ticker tick(5ms);
    Clock::time_point last{};
    for (int i = 1; i <= 5; i++) {
      auto r = tick.c.recv();
      CHECK(r.ok);
      CHECK(r.value - t0 >= i * 5ms);
      CHECK(r.value > last);
      last = r.value;
    }
    tick.stop();
    gort::sleep_for(10ms);  // a tick already in the buffer may remain
    tick.c.len() == 1 ? (void)tick.c.recv() : (void)0;
    gort::sleep_for(20ms);
    CHECK(tick.c.len() == 0);
  });
}

TEST_CASE("ticker: a slow receiver gets fewer ticks, not a backlog") {
  for_each_procs([](int) {
    gort::Ticker tick(1ms);
    gort::sleep_for(30ms);     // ~30 ticks come and go
    CHECK(tick.c.len() == 1);  // the buffer holds one; the rest were dropped
  });
}

TEST_CASE("ticker: many tickers stopped while firing on several Ms leak nothing and crash nothing") {
  for_each_procs([](int) {
    gort::WaitGroup wg;
    wg.add(200);
    for (int i = 0; i < 200; i++) {
      gort::go([&] {
        gort::Ticker t(std::chrono::microseconds(50));
        t.c.recv();
        gort::sleep_for(std::chrono::microseconds(120));
        t.stop();
        wg.done();
      });
    }
    wg.wait();
  });
}
