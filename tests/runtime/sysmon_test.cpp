// Tests of runtime/sysmon.cpp: sysmon takes the P of an M stuck in a fiber
// (a CPU loop, a blocking system call) and hands its work to another M.
#include "gort_test.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "m.hpp"  // white box: did the fiber's M lose its P?

using gort_test::for_each_procs;
using gort_test::run_child;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// spin_for burns the CPU for d without entering the runtime.
void spin_for(Clock::duration d) {
  const auto end = Clock::now() + d;
  volatile unsigned x = 0;
  while (Clock::now() < end) x = x + 1;
}

// wait_idle_ps waits until every P but the caller's is idle; false after
// 2 s. It polls without parking: each wake-up of the caller would start a
// spinning M on an idle P (wakep), which takes a moment to give it back.
bool wait_idle_ps(int procs) {
  const auto end = Clock::now() + 2s;
  while (Clock::now() < end) {
    if (gort::stats().idle_ps == procs - 1) return true;
    std::this_thread::yield();  // the OS thread, not the fiber: let the spinner run
  }
  return false;
}

// hog_with_ticker: one fiber spins for `hog` while a 10 ms ticker shares
// its P; returns the ticks received while it spun.
int hog_with_ticker(Clock::duration hog) {
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  int during = -1;
  gort::WaitGroup wg;
  wg.add(2);
  gort::go([&] {
    gort::Ticker t(10ms);
    while (!stop.load()) {
      t.c.recv();
      ticks++;
    }
    wg.done();
  });
  gort::go([&] {  // spawned last: runs next, before the ticker, on this P
    int before = ticks.load();
    spin_for(hog);
    during = ticks.load() - before;
    stop = true;
    wg.done();
  });
  wg.wait();
  return during;
}

}  // namespace

TEST_CASE("sysmon: with GORT_MAXPROCS=1, a fiber spinning for 1 s does not stall a ticker on its P") {
  auto r = run_child([] {
    setenv("GORT_MAXPROCS", "1", 1);
    unsetenv("GORT_DEBUG");  // quiet, whatever the test runner's environment
    int during = 0, procs = 0;
    gort::run([&] {
      procs = gort::stats().procs;
      during = hog_with_ticker(1s);
    });
    std::printf("procs=%d ticks=%d\n", procs, during);
    return procs == 1 && during >= 20 ? 0 : 1;
  });
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.status == 0);  // about 100 ticks; 0 without sysmon
  CHECK(r.err.empty());  // no report without GORT_DEBUG (nor from a sanitizer)
}

TEST_CASE("sysmon: with every P held by a spinning fiber, a ticker still ticks") {
  for_each_procs([](int procs) {
    std::atomic<int> ticks{0};
    std::atomic<bool> stop{false};
    gort::WaitGroup ticker, hogs;
    ticker.add(1);
    gort::go([&] {
      gort::Ticker t(10ms);
      while (!stop.load()) {
        t.c.recv();
        ticks++;
      }
      ticker.done();
    });
    gort::sleep_for(20ms);
    hogs.add(procs);
    std::atomic<int> during{0};
    for (int i = 0; i < procs; i++) {
      gort::go([&] {
        int before = ticks.load();
        spin_for(500ms);
        during.fetch_add(ticks.load() - before);
        hogs.done();
      });
    }
    hogs.wait();
    stop = true;
    ticker.wait();
    CHECK(during.load() >= 10 * procs);  // about 50 per hog
  });
}

TEST_CASE("sysmon: a fiber in a blocking ::usleep without gort::blocking does not stop other fibers") {
  for_each_procs([](int) {
    std::atomic<int> ticks{0};
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      while (!stop.load()) {
        gort::sleep_for(10ms);
        ticks++;
      }
      wg.done();
    });
    gort::sleep_for(20ms);
    int before = ticks.load();
    ::usleep(500'000);  // holds this M; sysmon hands the P on
    int during = ticks.load() - before;
    stop = true;
    wg.wait();
    CHECK(during >= 20);  // about 45
  });
}

TEST_CASE(
    "sysmon: after a hog the runtime works normally (spawn, channels, yield, timers) and no P is lost") {
  for_each_procs([](int procs) {
    int ticks = 0;  // about 20 per round: each hog has its P taken
    for (int round = 0; round < 3; round++) ticks += hog_with_ticker(250ms);
    CHECK(ticks >= 6);
    // Spawn, ping-pong, yield, sleep.
    constexpr int kPairs = 100;
    std::atomic<int> sum{0};
    gort::WaitGroup wg;
    wg.add(2 * kPairs);
    for (int i = 0; i < kPairs; i++) {
      gort::Chan<int> c(0);
      gort::go([&wg, c]() mutable {
        for (int k = 0; k < 100; k++) c.send(k);
        c.close();
        wg.done();
      });
      gort::go([&wg, &sum, c]() mutable {
        for (int v : c) {
          sum += v;
          if (v % 10 == 0) gort::yield();
        }
        gort::sleep_for(1ms);
        wg.done();
      });
    }
    wg.wait();
    CHECK(sum == kPairs * 4950);
    CHECK(wait_idle_ps(procs));
    gort::Stats st = gort::stats();
    CHECK(st.fibers_alive == 1);  // main
    CHECK(st.idle_ps == procs - 1);
  });
}

TEST_CASE("sysmon: a fiber that keeps spawning past 10 ms waits for a P, so one P means one CPU") {
  // One P. The spawner works 50 us per go(), and each fiber it spawns
  // works 20 us too. After 10 ms sysmon hands the spawner's P (it has a
  // queue) to another M; the spawner's next go() must then wait for a P
  // (Go would preempt it) rather than go on spawning beside that M: two
  // threads running fibers on one P would use two CPUs. (200 fibers in
  // 10 ms do not fill the P's run queue, which would make go() yield.)
  int rc = gort::run(gort::Config{.procs = 1}, [] {
    std::atomic<long> done{0};
    long spawned = 0;
    const std::uint64_t retakes_before = gort::stats().retakes;
    const double cpu0 = gort_test::cpu_seconds();
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < 300ms) {
      spin_for(50us);
      gort::go([&] {
        spin_for(20us);
        done++;
      });
      spawned++;
    }
    while (done.load() < spawned) gort::sleep_for(1ms);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = gort_test::cpu_seconds() - cpu0;
    CHECK(gort::stats().retakes > retakes_before);  // sysmon did take the P
    CHECK_MESSAGE(cpu < 1.3 * wall, "CPU ", cpu, " s in ", wall, " s of wall time with one P");
  });
  CHECK(rc == 0);
}

TEST_CASE("sysmon: fibers that lose their P mid-run keep using the runtime correctly") {
  // Each worker spins past sysmon's 10 ms, so with others waiting its P is
  // handed on; then, likely without a P, it sends, readies, yields, sleeps,
  // makes timers and contexts, locks a mutex and spawns (go() gets a P back
  // first). Every count must come out exact, under every sanitizer.
  for_each_procs([](int procs) {
    constexpr int kWorkers = 6, kRounds = 4;
    std::atomic<int> spawned_ran{0}, received{0};
    const std::uint64_t retakes_before = gort::stats().retakes;
    int locked_sum = 0;
    gort::Mutex mu;
    gort::Chan<int> results(kWorkers * kRounds);
    gort::WaitGroup wg;
    wg.add(kWorkers);
    for (int w = 0; w < kWorkers; w++) {
      gort::go([&] {
        for (int r = 0; r < kRounds; r++) {
          spin_for(25ms);
          results.send(1);  // buffered: never parks
          gort::yield();
          gort::sleep_for(1ms);
          gort::Ticker t(1ms);
          t.c.recv();
          t.stop();
          auto [ctx, cancel] = gort::with_timeout(gort::background(), 1ms);
          ctx.done().recv();
          cancel();
          mu.lock();
          locked_sum += 1;
          mu.unlock();
          gort::go([&] { spawned_ran++; });
        }
        wg.done();
      });
    }
    wg.wait();
    for (int i = 0; i < kWorkers * kRounds; i++) received += results.recv().value;
    while (spawned_ran.load() < kWorkers * kRounds) gort::sleep_for(1ms);
    CHECK(received == kWorkers * kRounds);
    CHECK(locked_sum == kWorkers * kRounds);
    CHECK(gort::stats().retakes > retakes_before);  // sysmon did take Ps
    CHECK(wait_idle_ps(procs));
  });
}

namespace {
int debug_child() {
  setenv("GORT_DEBUG", "sysmon", 1);
  std::uint64_t id = 0;
  gort::run(gort::Config{.procs = 1}, [&] {
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] {
      while (!stop.load()) gort::sleep_for(5ms);
      wg.done();
    });
    gort::go([&] {
      id = gort::fiber_id();
      spin_for(300ms);
      stop = true;
      wg.done();
    });
    wg.wait();
  });
  std::printf("hog=%llu\n", static_cast<unsigned long long>(id));
  return 0;
}
}  // namespace

TEST_CASE("sysmon: GORT_DEBUG reports each hand-off once, naming the fiber, its M and the P") {
  auto r = run_child(debug_child);
  CAPTURE(r.err);
  CHECK(r.status == 0);
  const std::size_t at = r.out.find("hog=");  // after what the parent's stdout buffer held
  REQUIRE(at != std::string::npos);
  const std::string id = r.out.substr(at + 4, r.out.find('\n', at) - at - 4);
  const std::string line = "gort: sysmon: fiber " + id + " has held M ";
  CHECK(r.err.find(line) == 0);
  CHECK(r.err.find(" ms; handing P 0's runnable fibers to another M\n") != std::string::npos);
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = r.err.find("gort: sysmon:", at)) != std::string::npos; at++) lines++;
  CHECK(lines == 1);  // one incident, one line: the P left the hog's M once
}
