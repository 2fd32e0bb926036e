// bench_common.hpp: flags, timing, RSS and JSON output shared by the gort
// runtime benchmarks (bench_*.cpp: spawn, yield, mem, chan_sync,
// chan_prod_cons, select4, mutex).
//
// Output: one JSON line per process, with the same keys as the Go anchor
// harness (/work/shared/bench/goruntime/main.go and tools/bench/go/main.go),
// so one summarizer reads both:
//   {"test","n","value","unit","samples","per_sec","procs","gomaxprocs",
//    "impl","go", ...test-specific extras}
// "gomaxprocs" mirrors "procs" and "go" names the runtime ("gort"), so that
// /work/shared/bench/goruntime/summarize.py can read gort lines unchanged.
//
// Flags (Go flag-package style: -n 5, -n=5, --n 5 all work):
//   -n N         operations / fibers (default per benchmark)
//   -procs P     gort Ps (default: 0 = runtime default, i.e. $GORT_MAXPROCS or CPUs)
//   -iters K     measured iterations (default 5)
//   -warmup B    run one unmeasured warm-up iteration (default true)
//   -stack S     fiber stack size in bytes (default 0 = runtime default)
#pragma once

#include <gort/gort.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>
#include <vector>

namespace gortbench {

struct Flags {
  std::string test;
  long long n = 1'000'000;
  int procs = 0;
  int iters = 5;
  bool warmup = true;
  std::size_t stack = 0;
};

[[noreturn]] inline void usage(const char* prog, const char* msg) {
  std::fprintf(stderr, "%s: %s\nusage: %s [-n N] [-procs P] [-iters K] [-warmup=true|false] [-stack BYTES]\n",
               prog, msg, prog);
  std::exit(2);
}

inline bool parse_bool(std::string_view v) { return !(v == "false" || v == "0" || v == "no"); }

inline long long parse_int(const char* prog, std::string_view name, const std::string& v) {
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < 0) usage(prog, ("bad value for -" + std::string(name) + ": " + v).c_str());
  return x;
}

inline Flags parse_flags(int argc, char** argv, std::string test, long long default_n) {
  Flags f;
  f.test = std::move(test);
  f.n = default_n;
  const char* prog = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.size() < 2 || a[0] != '-') usage(prog, ("unexpected argument: " + std::string(a)).c_str());
    a.remove_prefix(a[1] == '-' ? 2 : 1);
    std::string name(a), value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string_view::npos) {
      name = std::string(a.substr(0, eq));
      value = std::string(a.substr(eq + 1));
      has_value = true;
    }
    if (name == "h" || name == "help") usage(prog, "help");
    if (name == "warmup") {
      f.warmup = has_value ? parse_bool(value) : true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) usage(prog, ("missing value for -" + name).c_str());
      value = argv[++i];
    }
    if (name == "n") f.n = parse_int(prog, name, value);
    else if (name == "procs") f.procs = static_cast<int>(parse_int(prog, name, value));
    else if (name == "iters") f.iters = static_cast<int>(parse_int(prog, name, value));
    else if (name == "stack") f.stack = static_cast<std::size_t>(parse_int(prog, name, value));
    else usage(prog, ("unknown flag -" + name).c_str());
  }
  if (f.iters < 1) f.iters = 1;
  return f;
}

// Hard bound on the whole process, whatever the parameters (as the Go harness).
inline void start_watchdog(unsigned seconds = 120) {
  std::signal(SIGALRM, [](int) {
    static const char msg[] = "watchdog\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(3);
  });
  ::alarm(seconds);
}

inline double median(std::vector<double> xs) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];  // same convention as the Go harness (upper median)
}

// Resident set size in bytes, from /proc/self/statm (2nd field, in pages).
inline long long rss_bytes() {
  std::FILE* fp = std::fopen("/proc/self/statm", "r");
  if (!fp) return -1;
  long long size = 0, resident = -1;
  if (std::fscanf(fp, "%lld %lld", &size, &resident) != 2) resident = -1;
  std::fclose(fp);
  return resident < 0 ? -1 : resident * ::sysconf(_SC_PAGESIZE);
}

// A field of /proc/self/status in bytes (e.g. "VmPTE": page tables, which
// RSS does not count), or -1.
inline long long status_bytes(const char* field) {
  std::FILE* fp = std::fopen("/proc/self/status", "r");
  if (!fp) return -1;
  char line[256];
  long long kb = -1;
  const std::size_t len = std::strlen(field);
  while (std::fgets(line, sizeof line, fp)) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      kb = std::atoll(line + len + 1);
      break;
    }
  }
  std::fclose(fp);
  return kb < 0 ? -1 : kb * 1024;
}

inline double now_ns() {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Minimal JSON object writer (numbers, strings, number arrays).
class Json {
 public:
  Json& num(const char* k, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return raw(k, buf);
  }
  Json& integer(const char* k, long long v) { return raw(k, std::to_string(v)); }
  Json& str(const char* k, const std::string& v) {
    std::string q = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return raw(k, q + "\"");
  }
  Json& nums(const char* k, const std::vector<double>& vs) {
    std::string s = "[";
    char buf[64];
    for (std::size_t i = 0; i < vs.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%.10g", i ? "," : "", vs[i]);
      s += buf;
    }
    return raw(k, s + "]");
  }
  void print() const { std::printf("{%s}\n", body_.c_str()), std::fflush(stdout); }

 private:
  Json& raw(const char* k, const std::string& v) {
    if (!body_.empty()) body_ += ',';
    body_ += '"';
    body_ += k;
    body_ += "\":";
    body_ += v;
    return *this;
  }
  std::string body_;
};

// Common keys of every line.
inline Json header(const Flags& f, int procs) {
  Json j;
  j.str("test", f.test).str("impl", "gort").str("go", "gort").integer("procs", procs).integer("gomaxprocs", procs);
  return j;
}

// Scheduler counters worth recording next to a result.
inline void add_stats(Json& j, const gort::Stats& s0, const gort::Stats& s1, double per) {
  j.integer("ms", s1.ms);
  j.integer("stacks_mapped", static_cast<long long>(s1.stacks_mapped));
  j.num("switches_per_op", static_cast<double>(s1.switches - s0.switches) / per);
  j.num("steals_per_op", static_cast<double>(s1.steals - s0.steals) / per);
  j.num("stolen_per_op", static_cast<double>(s1.stolen_fibers - s0.stolen_fibers) / per);
}

// measure runs f (which performs f.n operations) after an optional warm-up,
// f.iters times, and prints ns/op: the Go harness's measure().
inline void measure(const Flags& fl, const char* unit, const std::function<void()>& f) {
  if (fl.warmup) f();
  std::vector<double> samples;
  gort::Stats s0 = gort::stats();
  for (int i = 0; i < fl.iters; ++i) {
    double t0 = now_ns();
    f();
    samples.push_back((now_ns() - t0) / static_cast<double>(fl.n ? fl.n : 1));
  }
  gort::Stats s1 = gort::stats();
  double med = median(samples);
  Json j = header(fl, s1.procs);
  j.integer("n", fl.n).num("value", med).str("unit", unit).nums("samples", samples).num("per_sec", med > 0 ? 1e9 / med : 0);
  add_stats(j, s0, s1, static_cast<double>(fl.n ? fl.n : 1) * fl.iters);
  j.print();
}

}  // namespace gortbench
