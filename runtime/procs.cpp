// procs.cpp: GORT_MAXPROCS, CPU affinity and cgroup quota; GORT_STACK_SIZE;
// GORT_BLOCKING_THREADS.
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

int quota_from(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>((quota + period - 1) / period);
}

bool exists(const std::string& path) { return std::ifstream(path).good(); }

// tightest walks from the process' cgroup up to the root of a hierarchy
// mounted at `root` and returns the smallest quota read() finds (0 = none).
template <class Read>
int tightest(const std::string& root, std::string path, Read read) {
  int best = 0;
  for (;;) {
    int n = read(root + path);
    if (n > 0 && (best == 0 || n < best)) best = n;
    if (path.empty() || path == "/") break;
    auto slash = path.rfind('/');
    path = slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
  }
  return best;
}

// cgroup v2: "max 100000" or "200000 100000" in cpu.max.
int read_v2(const std::string& dir) {
  std::ifstream f(dir + "/cpu.max");
  std::string q;
  long long period = 0;
  if (!(f >> q >> period) || q == "max") return 0;
  return quota_from(std::atoll(q.c_str()), period);
}

// cgroup v1: cpu.cfs_quota_us (-1 = none) and cpu.cfs_period_us.
int read_v1(const std::string& dir) {
  long long quota = 0, period = 0;
  std::ifstream q(dir + "/cpu.cfs_quota_us"), p(dir + "/cpu.cfs_period_us");
  if (!(q >> quota) || !(p >> period)) return 0;
  return quota_from(quota, period);
}

}  // namespace

int cpu_quota() {
  // /proc/self/cgroup: "0::/path" for v2, "N:cpu,cpuacct:/path" for v1. On
  // hybrid systems both appear, and v2 is mounted at /sys/fs/cgroup/unified.
  std::ifstream cg("/proc/self/cgroup");
  std::string line;
  int best = 0;
  auto take = [&](int n) {
    if (n > 0 && (best == 0 || n < best)) best = n;
  };
  while (std::getline(cg, line)) {
    auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    std::string controllers = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
    if (line.compare(0, c1, "0") == 0 && controllers.empty()) {
      for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
        if (exists(std::string(root) + "/cgroup.controllers")) take(tightest(root, path, read_v2));
      continue;
    }
    std::stringstream list(controllers);
    std::string c;
    bool cpu = false;
    while (std::getline(list, c, ',')) cpu = cpu || c == "cpu";
    if (!cpu) continue;
    for (const char* root :
         {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu"})
      if (exists(std::string(root) + "/cpu.cfs_period_us")) {
        take(tightest(root, path, read_v1));
        break;
      }
  }
  return best;
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

int default_blocking_threads() {
  constexpr int kDefault = 64;
  if (const char* env = std::getenv("GORT_BLOCKING_THREADS")) {
    std::size_t n = parse_positive(env, false);
    if (n > 0 && n <= 4096) return static_cast<int>(n);
    std::fprintf(stderr, "gort: ignoring GORT_BLOCKING_THREADS=%s (want a number from 1 to 4096)\n", env);
  }
  return kDefault;
}

}  // namespace gort::rt
