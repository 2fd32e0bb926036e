// gort_test.hpp: helpers shared by gort's tests.
//
// Assertions: doctest keeps some state in thread_locals, and fibers move
// between threads, so tests collect results inside fibers and assert after
// gort::run returns, on the test's own thread.
#pragma once

#include <gort/gort.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace gort_test {

// scaled(n): a fiber count for tests that hold many fibers alive at once.
// Under TSan every live fiber costs a shadow stack and a trace (~0.75 MiB of
// mappings and some of it touched), so those tests run a tenth as many.
#if defined(__SANITIZE_THREAD__)
#define GORT_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORT_TEST_TSAN 1
#endif
#endif
constexpr int scaled(int n) {
#ifdef GORT_TEST_TSAN
  return n / 10;
#else
  return n;
#endif
}

// kProcs: every scheduler test runs once with each of these P counts.
inline constexpr std::initializer_list<int> kProcs = {1, 2, 4};

// for_each_procs runs body(procs) as the main fiber of a fresh gort::run for
// each P count, and checks that run returned 0.
template <class F>
void for_each_procs(F&& body) {
  for (int procs : kProcs) {
    CAPTURE(procs);
    int rc = gort::run(gort::Config{.procs = procs}, [&] { body(procs); });
    CHECK(rc == 0);
  }
}

// cpu_seconds is the CPU time (user + system) this process has used so far:
// tests that check something stays idle compare it with the wall time.
double cpu_seconds();

// use_stack uses about `kib` KiB of stack, in 1 KiB frames. Each frame is
// read after the recursive call, so no compiler can turn it into a loop.
int use_stack(int kib);

// check_exactly_once checks that every counter in seen is 1: each value
// was taken exactly once (none lost, none duplicated).
template <class Counters>
void check_exactly_once(const Counters& seen) {
  int missing = 0, twice = 0;
  for (auto& s : seen) {
    missing += s.load() == 0;
    twice += s.load() > 1;
  }
  CHECK(missing == 0);
  CHECK(twice == 0);
}

struct ChildResult {
  int status = -1;       // exit status, or 128 + signal number
  std::string out, err;  // what the child wrote to stdout and stderr
};

// run_child forks, runs f in the child (its return value is the exit
// status), and collects what it printed. The runtime must not be running in
// the parent.
ChildResult run_child(int (*f)());

// run_command runs argv (a program looked up in PATH) with input on its
// stdin, collects its output, and kills it after timeout (subprocess.cpp).
// It blocks the calling thread: from a fiber, call it through
// gort::blocking. status is -1 if it could not start (err says why).
ChildResult run_command(const std::vector<std::string>& argv, std::string_view input = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace gort_test
