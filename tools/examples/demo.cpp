// gort-demo: a tour of the runtime through its public API only.
//
//   gort-demo [sleepers]     (default 10000)
//
// 1. fibers: spawn a few with arguments, wait for them with a WaitGroup;
// 2. ping-pong: two fibers hand a ball back and forth, parking on WaitGroups;
// 3. yield: two fibers interleave by giving the processor away;
// 4. sleepers: thousands of fibers sleep at once, on a handful of OS threads;
// 5. a fiber with a bigger stack (FiberOptions);
// then prints gort::stats(). Every step checks its result; the exit status is
// 0 only when all of them hold, so CTest runs the demo as a smoke test.
#include <gort/gort.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int failures = 0;  // only the main fiber touches it

void check(bool ok, const char* what) {
  std::printf("  %-52s %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Step 1: `go f(x)` with arguments, copied into the new fiber.
void spawn_with_args() {
  std::puts("1. spawning fibers");
  gort::WaitGroup wg;
  std::atomic<int> sum{0};
  wg.add(10);
  for (int i = 1; i <= 10; ++i) {
    gort::go(
        [&](int n, std::string name) {
          if (n == 1) std::printf("  hello from %s, fiber %" PRIu64 "\n", name.c_str(), gort::fiber_id());
          sum.fetch_add(n);
          wg.done();
        },
        i, "fiber #" + std::to_string(i));
  }
  wg.wait();
  check(sum.load() == 55, "ten fibers ran, sum of their arguments is 55");
}

// Step 2: one WaitGroup per hand-over. A WaitGroup may be reused only after
// its wait() returned, so each round gets fresh ones.
void ping_pong() {
  constexpr int kRounds = 6;
  std::puts("2. ping-pong");
  std::array<gort::WaitGroup, kRounds> at_pong, at_ping;
  for (int i = 0; i < kRounds; ++i) {
    at_pong[i].add(1);
    at_ping[i].add(1);
  }
  std::mutex mu;  // guards threads and order; never held across a park
  std::set<std::thread::id> threads;
  std::string order;
  auto hit = [&](const char* who, int i) {
    std::printf("  %s %d\n", who, i);
    std::lock_guard lock(mu);
    threads.insert(std::this_thread::get_id());
    order += who[1];  // 'i' for ping, 'o' for pong
  };
  gort::WaitGroup finished;
  finished.add(2);
  gort::go([&] {
    for (int i = 0; i < kRounds; ++i) {
      hit("ping", i);
      at_pong[i].done();  // hand the ball over
      at_ping[i].wait();  // park until it comes back
    }
    finished.done();
  });
  gort::go([&] {
    for (int i = 0; i < kRounds; ++i) {
      at_pong[i].wait();
      hit("pong", i);
      gort::sleep_for(milliseconds(1));
      at_ping[i].done();
    }
    finished.done();
  });
  finished.wait();
  std::printf("  the two fibers ran on %zu OS thread(s)\n", threads.size());
  std::string want;
  for (int i = 0; i < kRounds; ++i) want += "io";
  check(order == want, "ping and pong alternated six times");
}

// Step 3: yield() sends the caller to the back of the run queue.
void interleave() {
  std::puts("3. yield");
  std::atomic<int> turns{0};
  gort::WaitGroup wg;
  wg.add(2);
  for (int f = 0; f < 2; ++f) {
    gort::go([&] {
      for (int i = 0; i < 1000; ++i) {
        turns.fetch_add(1);
        gort::yield();
      }
      wg.done();
    });
  }
  wg.wait();
  check(turns.load() == 2000, "two fibers yielded 1000 times each");
}

// Step 4: a sleeping fiber costs a timer and a mostly untouched stack, not a
// thread. The fibers first gather at a barrier (two WaitGroups, Go's idiom),
// so that all of them sleep at once and the step takes about one delay.
void sleepers(int n) {
  const auto delay = milliseconds(100);
  std::printf("4. %d sleeping fibers\n", n);
  gort::WaitGroup ready, start, finished;
  std::atomic<int> early{0};
  ready.add(n);
  start.add(1);
  finished.add(n);
  for (int i = 0; i < n; ++i) {
    gort::go([&] {
      ready.done();
      start.wait();
      const auto t = Clock::now();
      gort::sleep_for(delay);
      if (Clock::now() - t < delay) early.fetch_add(1);
      finished.done();
    });
  }
  ready.wait();
  const auto t0 = Clock::now();
  start.done();  // release them all
  gort::sleep_for(delay / 2);
  gort::Stats mid = gort::stats();
  std::printf("  while they sleep: %" PRIu64 " fibers alive, %" PRIu64 " timers pending, %d OS threads\n",
              mid.fibers_alive, mid.timers, mid.ms);
  finished.wait();
  std::printf("  all woke %.1f ms after the release (one sleep is %lld ms)\n", ms_since(t0),
              static_cast<long long>(delay.count()));
  check(early.load() == 0, "no fiber woke before its time");

  const auto deadline = Clock::now() + milliseconds(30);
  gort::sleep_until(deadline);
  check(Clock::now() >= deadline, "sleep_until returned at or after its deadline");
}

// Step 5: FiberOptions sets one fiber's stack size; this one needs more than
// the default 256 KiB.
std::size_t touch_stack(int depth) {
  volatile char frame[16 * 1024];  // volatile: the compiler must keep the frame
  for (std::size_t i = 0; i < sizeof frame; i += 512) frame[i] = static_cast<char>(depth);
  return depth == 0 ? 0 : frame[512] + touch_stack(depth - 1);
}

void big_stack() {
  std::puts("5. a fiber with a 2 MiB stack");
  gort::WaitGroup wg;
  std::size_t result = 0;
  wg.add(1);
  gort::go(gort::FiberOptions{.stack_size = 2 << 20}, [&] {
    result = touch_stack(63);  // 64 frames of 16 KiB: 1 MiB of stack
    wg.done();
  });
  wg.wait();
  check(result == 63 * 64 / 2, "recursed through 1 MiB of stack");
}

void print_stats() {
  gort::Stats s = gort::stats();
  std::puts("gort::stats()");
  std::printf("  procs %d, Ms %d (spinning %d, idle %d), idle Ps %d\n", s.procs, s.ms, s.spinning_ms,
              s.idle_ms, s.idle_ps);
  std::printf("  fibers: %" PRIu64 " spawned, %" PRIu64 " alive; %" PRIu64 " switches\n", s.fibers_spawned,
              s.fibers_alive, s.switches);
  std::printf("  steals: %" PRIu64 ", moving %" PRIu64 " fibers\n", s.steals, s.stolen_fibers);
  std::printf("  stacks mapped: %" PRIu64 "; timers pending: %" PRIu64 "\n", s.stacks_mapped, s.timers);
  std::printf("  run queues: global %" PRIu64 ", per P:", s.global_runq);
  for (std::uint32_t n : s.runq) std::printf(" %u", n);
  std::puts("");
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  if (n < 1) {
    std::fprintf(stderr, "usage: gort-demo [sleepers]   (sleepers >= 1, default 10000)\n");
    return 2;
  }
  std::printf("outside gort::run, fiber_id() is %" PRIu64 "\n", gort::fiber_id());
  int status = gort::run([n] {
    std::printf("main fiber %" PRIu64 " on %d P(s)\n", gort::fiber_id(), gort::stats().procs);
    spawn_with_args();
    ping_pong();
    interleave();
    sleepers(n);
    big_stack();
    print_stats();
    return failures == 0 ? 0 : 1;
  });
  std::puts(status == 0 ? "gort-demo: ok" : "gort-demo: FAILED");
  return status;
}
