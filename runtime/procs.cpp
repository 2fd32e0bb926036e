// procs.cpp: GORT_MAXPROCS, CPU affinity and cgroup quota; GORT_STACK_SIZE.
#include "procs.hpp"

#include <gort/go.hpp>

#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace gort::rt {

namespace {

// parse_positive reads a whole decimal number > 0 with an optional K/M/G
// suffix (powers of 1024); 0 if s is not one.
std::size_t parse_positive(const char* s, bool suffixes) {
  if (!s || !*s) return 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s) return 0;
  if (suffixes && *end) {
    switch (*end++) {
      case 'k':
      case 'K': v <<= 10; break;
      case 'm':
      case 'M': v <<= 20; break;
      case 'g':
      case 'G': v <<= 30; break;
      default: return 0;
    }
  }
  return *end ? 0 : static_cast<std::size_t>(v);
}

// quota_v2 reads "max 100000" or "200000 100000" from a cpu.max file.
int quota_from(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>((quota + period - 1) / period);
}

int cgroup_v2_quota() {
  std::ifstream cg("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cg, line))
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  if (path.empty()) return 0;
  // The tightest limit on the way up to the root applies.
  int best = 0;
  for (;;) {
    std::ifstream f("/sys/fs/cgroup" + path + "/cpu.max");
    std::string q;
    long long period = 0;
    if (f >> q >> period && q != "max") {
      int n = quota_from(std::atoll(q.c_str()), period);
      if (n > 0 && (best == 0 || n < best)) best = n;
    }
    if (path.empty() || path == "/") break;
    auto slash = path.rfind('/');
    path = slash == std::string::npos || slash == 0 ? "" : path.substr(0, slash);
  }
  return best;
}

int cgroup_v1_quota() {
  long long quota = 0, period = 0;
  std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if (!(q >> quota) || !(p >> period)) return 0;
  return quota_from(quota, period);
}

}  // namespace

int cpu_quota() {
  int n = cgroup_v2_quota();
  return n > 0 ? n : cgroup_v1_quota();
}

int default_procs() {
  if (const char* env = std::getenv("GORT_MAXPROCS")) {
    std::size_t n = parse_positive(env, false);
    if (n > 0 && n <= 4096) return static_cast<int>(n);
    std::fprintf(stderr, "gort: ignoring GORT_MAXPROCS=%s (want a number from 1 to 4096)\n", env);
  }
  int n = 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (int q = cpu_quota(); q > 0 && q < n) n = q;
  return n > 0 ? n : 1;
}

std::size_t default_stack_size() {
  if (const char* env = std::getenv("GORT_STACK_SIZE")) {
    std::size_t n = parse_positive(env, true);
    if (n >= 16 * 1024 && n <= (std::size_t(1) << 30)) return n;
    std::fprintf(stderr, "gort: ignoring GORT_STACK_SIZE=%s (want 16K to 1G, e.g. 262144 or 256K)\n", env);
  }
  return gort::kDefaultStackSize;
}

}  // namespace gort::rt
