// Tests of runtime/procs.cpp: GORT_MAXPROCS, CPU affinity, GORT_STACK_SIZE.
#include "gort_test.hpp"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

using gort_test::run_child;

TEST_CASE("procs: GORT_MAXPROCS sets the number of Ps") {
  auto r = run_child([] {
    setenv("GORT_MAXPROCS", "3", 1);
    return gort::run([] { return gort::stats().procs; });
  });
  CHECK(r.status == 3);
}

TEST_CASE("procs: a bad GORT_MAXPROCS is ignored with a warning") {
  auto r = run_child([] {
    setenv("GORT_MAXPROCS", "lots", 1);
    return gort::run([] { return gort::stats().procs; });
  });
  CHECK(r.status >= 1);
  CHECK(r.err.find("ignoring GORT_MAXPROCS=lots") != std::string::npos);
}

TEST_CASE("procs: by default there is one P per CPU the process may run on") {
  auto r = run_child([] {
    unsetenv("GORT_MAXPROCS");
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return 99;
    return gort::run([] { return gort::stats().procs; });
  });
  CHECK(r.status == 1);
}

namespace {
// 600 KiB of frames in a fiber with the default stack size.
int deep_fiber() {
  return gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      gort_test::use_stack(600);
      wg.done();
    });
    wg.wait();
    return 0;
  });
}
}  // namespace

TEST_CASE("procs: GORT_STACK_SIZE sets the default fiber stack size") {
  // 600 KiB of frames: overflows the 256 KiB default, fits in 1 MiB.
  auto r = run_child([] {
    setenv("GORT_STACK_SIZE", "1M", 1);
    return deep_fiber();
  });
  CHECK(r.status == 0);
  auto small = run_child([] {
    setenv("GORT_STACK_SIZE", "128K", 1);
    return deep_fiber();
  });
  CHECK(small.status == 2);
  CHECK(small.err.find("stack overflow") != std::string::npos);
}

namespace {

bool write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  bool ok = std::fputs(text.c_str(), f) >= 0;
  return std::fclose(f) == 0 && ok;
}

// In a child: make a cgroup limited to one CPU, join it, and report the
// default number of Ps (99: no cgroup could be made here).
int procs_under_one_cpu_quota() {
  unsetenv("GORT_MAXPROCS");
  const std::string name = "/gort-test-" + std::to_string(getpid());
  const std::string pid = std::to_string(getpid());
  // cgroup v2 (with the cpu controller enabled below the root), else v1.
  std::string dir, parent;
  if (std::ifstream("/sys/fs/cgroup/cgroup.subtree_control").good() &&
      write_file("/sys/fs/cgroup/cgroup.subtree_control", "+cpu") &&
      mkdir(("/sys/fs/cgroup" + name).c_str(), 0755) == 0) {
    dir = "/sys/fs/cgroup" + name;
    parent = "/sys/fs/cgroup";
    if (!write_file(dir + "/cpu.max", "100000 100000")) return 98;
  } else if (mkdir(("/sys/fs/cgroup/cpu" + name).c_str(), 0755) == 0) {
    dir = "/sys/fs/cgroup/cpu" + name;
    parent = "/sys/fs/cgroup/cpu";
    if (!write_file(dir + "/cpu.cfs_period_us", "100000") || !write_file(dir + "/cpu.cfs_quota_us", "100000"))
      return 98;
  } else {
    return 99;
  }
  if (!write_file(dir + "/cgroup.procs", pid)) return 98;
  int procs = gort::run([] { return gort::stats().procs; });
  write_file(parent + "/cgroup.procs", pid);  // leave, so that the cgroup can go
  rmdir(dir.c_str());
  return procs;
}

}  // namespace

TEST_CASE("procs: a cgroup CPU quota caps the default number of Ps") {
  auto r = run_child(procs_under_one_cpu_quota);
  if (r.status == 99) {
    MESSAGE("no cgroup can be made here (not root, or no cpu controller): not checked");
    return;
  }
  CHECK(r.status == 1);
}
