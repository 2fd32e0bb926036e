// Tests of runtime/stack.cpp: pooled, guarded stacks.
#include "gort_test.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

using gort_test::for_each_procs;
using gort_test::run_child;

TEST_CASE("stack: stacks are pooled and reused, not mapped per spawn") {
  for_each_procs([](int) {
    // 100,000 fibers, at most 100 alive at a time. (The pool outlives runs:
    // count only what this run maps.)
    const auto mapped_before = gort::stats().stacks_mapped;
    for (int round = 0; round < 1000; round++) {
      gort::WaitGroup wg;
      wg.add(100);
      for (int i = 0; i < 100; i++)
        gort::go([&] {
          gort::yield();
          wg.done();
        });
      wg.wait();
    }
    auto st = gort::stats();
    CHECK(st.fibers_spawned == 100'001);
    CHECK(st.stacks_mapped - mapped_before < 2'000);
  });
}

namespace {
// Park fibers until go() fails, with stacks guarded by mprotect (two VMAs
// each): vm.max_map_count must stop us, with an error that names it.
int spawn_until_map_count() {
  setenv("GORT_STACK_GUARD", "mprotect", 1);
  return gort::run([] {
    gort::WaitGroup forever;
    forever.add(1);
    for (long i = 0; i < 10'000'000; i++) {
      try {
        gort::go([&] { forever.wait(); });
      } catch (const std::system_error& e) {
        std::printf("after %ld fibers: %s\n", i, e.what());
        return 0;
      }
    }
    std::printf("no error after 10M fibers\n");
    return 1;
  });
}
}  // namespace

#ifdef GORT_TEST_TSAN
// TSan maps a shadow stack per fiber too, and dies itself on the limit first.
constexpr bool kSkipMapCount = true;
#else
constexpr bool kSkipMapCount = false;
#endif

TEST_CASE("stack: reaching vm.max_map_count is a clear error from go that names the sysctl" *
          doctest::skip(kSkipMapCount)) {
  auto r = run_child(spawn_until_map_count);
  CHECK(r.status == 0);
  CHECK(r.out.find("vm.max_map_count") != std::string::npos);
  MESSAGE(r.out);
}
