// Tests of runtime/panic.cpp: Go's fatal failure modes, in child processes.
#include "gort_test.hpp"

#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>

using gort_test::run_child;

namespace {

int throw_in_fiber() {
  return gort::run(gort::Config{.procs = 2}, [] {
    gort::go([] {
      std::printf("id=%llu\n", static_cast<unsigned long long>(gort::fiber_id()));
      std::fflush(stdout);
      throw std::runtime_error("boom");
    });
    gort::sleep_for(std::chrono::seconds(10));
    return 0;
  });
}

int throw_int_in_main() {
  return gort::run([]() -> int { throw 42; });
}

int overflow_in_fiber() {
  return gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go(gort::FiberOptions{.stack_size = 64 * 1024}, [&] {
      std::printf("id=%llu\n", static_cast<unsigned long long>(gort::fiber_id()));
      std::fflush(stdout);
      gort_test::use_stack(1 << 20);  // 1 GiB of frames
      wg.done();
    });
    wg.wait();
    return 0;
  });
}

int null_deref_in_fiber() {
  return gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      volatile int* p = nullptr;
      *p = 1;
      wg.done();
    });
    wg.wait();
    return 0;
  });
}

std::string id_line(const std::string& out) {
  auto at = out.find("id=");
  if (at == std::string::npos) return "?";
  return out.substr(at + 3, out.find('\n', at) - at - 3);
}

}  // namespace

TEST_CASE("panic: an exception escaping a fiber prints panic with its type, what() and fiber id, exit 2") {
  auto r = run_child(throw_in_fiber);
  CHECK(r.status == 2);
  CHECK(r.err.find("panic: std::runtime_error: boom") != std::string::npos);
  CHECK(r.err.find("fiber " + id_line(r.out) + " [running]") != std::string::npos);
}

TEST_CASE("panic: an exception of a non-std type is reported with its type") {
  auto r = run_child(throw_int_in_main);
  CHECK(r.status == 2);
  CHECK(r.err.find("panic: int") != std::string::npos);
  CHECK(r.err.find(" [running]") != std::string::npos);
}

TEST_CASE("panic: a stack overflow in a fiber is reported as such, exit 2") {
  auto r = run_child(overflow_in_fiber);
  CHECK(r.status == 2);
  CHECK(r.err.find("fatal error: stack overflow in fiber " + id_line(r.out)) != std::string::npos);
}

TEST_CASE("panic: a fault that is not a stack overflow is left to the usual handler") {
  auto r = run_child(null_deref_in_fiber);
  CHECK(r.status != 0);
  CHECK(r.status != 2);  // a sanitizer's report exits 1; plain SIGSEGV is 128 + 11
  CHECK(r.err.find("stack overflow") == std::string::npos);
}
