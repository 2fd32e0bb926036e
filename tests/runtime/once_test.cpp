// Tests of runtime/once.cpp.
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>

using gort_test::for_each_procs;

TEST_CASE("once: 1,000 concurrent callers run the function exactly once and return after it finished") {
  static constexpr int kCallers = 1000;
  for_each_procs([](int) {
    gort::Once once;
    std::atomic<int> calls{0}, early{0};
    std::atomic<bool> finished{false};
    gort::WaitGroup wg;
    wg.add(kCallers);
    for (int c = 0; c < kCallers; c++) {
      gort::go([&] {
        once.run([&] {
          calls++;
          gort::sleep_for(std::chrono::milliseconds(2));  // the others arrive and park meanwhile
          finished = true;
        });
        if (!finished.load()) early++;
        wg.done();
      });
    }
    wg.wait();
    CHECK(calls.load() == 1);
    CHECK(early.load() == 0);
  });
}

TEST_CASE("once: a function that throws counts as done and its exception reaches the caller that ran it") {
  static constexpr int kCallers = 100;
  for_each_procs([](int) {
    gort::Once once;
    std::atomic<int> calls{0}, caught{0};
    gort::WaitGroup wg;
    wg.add(kCallers);
    for (int c = 0; c < kCallers; c++) {
      gort::go([&] {
        try {
          once.run([&] {
            calls++;
            gort::sleep_for(std::chrono::milliseconds(2));
            throw std::runtime_error("boom");
          });
        } catch (const std::runtime_error&) {
          caught++;
        }
        wg.done();
      });
    }
    wg.wait();
    bool ran_again = false;
    once.run([&] { ran_again = true; });
    CHECK(calls.load() == 1);
    CHECK(caught.load() == 1);
    CHECK_FALSE(ran_again);
  });
}

namespace {
int plain_calls = 0;
void plain() { plain_calls++; }
}  // namespace

TEST_CASE("once: takes lambdas, lvalue callables and plain functions, also outside a fiber") {
  gort::Once a, b, c;
  int n = 0;
  auto inc = [&n] { n++; };
  a.run(inc);
  a.run(inc);
  b.run([&n] { n += 10; });
  b.run([&n] { n += 100; });
  c.run(plain);
  c.run(&plain);
  CHECK(n == 11);
  CHECK(plain_calls == 1);
}
