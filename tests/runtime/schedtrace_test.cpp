// Tests of runtime/schedtrace.cpp: GORT_DEBUG's key=value list, and the
// scheduler trace it turns on (Go's GODEBUG=schedtrace=N,scheddetail=1).
// The trace goes to stderr from sysmon, so each run is a child process
// (run_child) with GORT_DEBUG set, whose stderr the test parses.
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "schedtrace.hpp"  // white box: parse_debug

using gort_test::run_child;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// after_key: the value printed after `key` on the child's stdout (which may
// start with what the parent's stdout buffer held at the fork).
std::string after_key(const std::string& out, const std::string& key) {
  const std::size_t at = out.find(key);
  if (at == std::string::npos) return "";
  const std::size_t from = at + key.size();
  return out.substr(from, out.find('\n', from) - from);
}

// run_traced: the child of the trace tests. With GORT_MAXPROCS=2 and
// GORT_DEBUG=debug, main parks one fiber on a channel for good and, with
// spin, starts one that computes without switching; then sleeps 300 ms.
// Prints the two fibers' ids on stdout.
int run_traced(const char* debug, bool spin) {
  setenv("GORT_MAXPROCS", "2", 1);
  setenv("GORT_DEBUG", debug, 1);
  std::uint64_t blocked = 0, spinner = 0;
  int rc = gort::run([&] {
    gort::Chan<int> never(0);
    std::atomic<std::uint64_t> id{0};
    gort::go([never, &id]() mutable {
      id = gort::fiber_id();
      never.recv();  // nobody sends: blocked until the run ends
    });
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> sid{0};
    gort::WaitGroup wg;
    if (spin) {
      wg.add(1);
      gort::go([&] {
        sid = gort::fiber_id();
        volatile unsigned x = 0;
        while (!stop.load(std::memory_order_relaxed)) x = x + 1;
        wg.done();
      });
    }
    gort::sleep_for(300ms);
    stop = true;
    wg.wait();
    blocked = id.load();
    spinner = sid.load();
  });
  std::printf("blocked=%llu\nspinner=%llu\n", static_cast<unsigned long long>(blocked),
              static_cast<unsigned long long>(spinner));
  return rc;
}

int schedtrace_child() { return run_traced("schedtrace=50", false); }
int scheddetail_child() { return run_traced("schedtrace=50,scheddetail=1", true); }

}  // namespace

TEST_CASE("schedtrace: GORT_DEBUG parses as Go's GODEBUG, a comma-separated list of key=value") {
  using gort::rt::parse_debug;
  for (const char* off : {static_cast<const char*>(nullptr), "", "0"}) {
    CAPTURE(off ? off : "(unset)");
    auto d = parse_debug(off);
    CHECK_FALSE(d.reports);
    CHECK(d.schedtrace_ms == 0);
    CHECK_FALSE(d.scheddetail);
  }
  for (const char* word : {"sysmon", "1", "yes"}) {  // as before keys: any value turns the reports on
    CAPTURE(word);
    auto d = parse_debug(word);
    CHECK(d.reports);
    CHECK(d.schedtrace_ms == 0);
    CHECK_FALSE(d.scheddetail);
  }
  auto d = parse_debug("schedtrace=1000");
  CHECK(d.reports);
  CHECK(d.schedtrace_ms == 1000);
  CHECK_FALSE(d.scheddetail);
  d = parse_debug("schedtrace=50,scheddetail=1");
  CHECK(d.schedtrace_ms == 50);
  CHECK(d.scheddetail);
  d = parse_debug("sysmon,gctrace=1,scheddetail=1,schedtrace=7");  // any order, unknown keys skipped
  CHECK(d.reports);
  CHECK(d.schedtrace_ms == 7);
  CHECK(d.scheddetail);
  d = parse_debug("schedtrace=0,scheddetail=0");
  CHECK(d.schedtrace_ms == 0);
  CHECK_FALSE(d.scheddetail);
}

TEST_CASE("schedtrace: a bad schedtrace value is ignored with a warning on stderr") {
  auto r = run_child([] {
    auto d = gort::rt::parse_debug("schedtrace=fast,scheddetail=1");
    return d.schedtrace_ms == 0 && d.scheddetail ? 0 : 1;
  });
  CHECK(r.status == 0);
  CHECK(r.err.find("gort: ignoring GORT_DEBUG's schedtrace=fast") == 0);
}

TEST_CASE("schedtrace: GORT_DEBUG=schedtrace=50 prints a SCHED line every 50 ms, idle or not, as Go's") {
  auto r = run_child(schedtrace_child);
  CAPTURE(r.err);
  REQUIRE(r.status == 0);
  const std::regex sched(
      R"(SCHED (\d+)ms: gomaxprocs=(\d+) idleprocs=(\d+) threads=(\d+) spinningthreads=(\d+) )"
      R"(idlethreads=(\d+) runqueue=(\d+) \[(\d+(?: \d+)*)\])");
  int n = 0;
  long last_ms = -1;
  for (const std::string& line : lines_of(r.err)) {
    CAPTURE(line);
    std::smatch m;
    REQUIRE(std::regex_match(line, m, sched));  // nothing else on stderr
    const long ms = std::stol(m[1]), procs = std::stol(m[2]), idleprocs = std::stol(m[3]);
    const long threads = std::stol(m[4]), spinning = std::stol(m[5]), idlethreads = std::stol(m[6]);
    CHECK(ms >= last_ms);
    CHECK(procs == 2);  // GORT_MAXPROCS
    CHECK(idleprocs <= procs);
    CHECK(threads >= 1);
    CHECK(spinning <= threads);
    CHECK(idlethreads <= threads);
    CHECK(std::stol(m[7]) >= 0);
    std::istringstream runqs(m[8].str());
    int entries = 0;
    for (long len; runqs >> len;) entries++;
    CHECK(entries == procs);  // one run queue length per P
    last_ms = ms;
    n++;
  }
  CHECK(n >= 4);          // about 7 in 300 ms: at 0 ms, then every 50 ms
  CHECK(last_ms >= 200);  // main sleeps: every P idle, and the trace goes on
}

TEST_CASE("schedtrace: scheddetail=1 adds a line per P, per M and per fiber, with a channel wait's reason") {
  auto r = run_child(scheddetail_child);
  CAPTURE(r.err);
  REQUIRE(r.status == 0);
  const std::string blocked = after_key(r.out, "blocked="), spinner = after_key(r.out, "spinner=");
  REQUIRE(!blocked.empty());
  REQUIRE(spinner != "0");
  CHECK(r.err.find("SCHED ") == 0);
  const std::regex sched(R"(SCHED \d+ms: gomaxprocs=2 idleprocs=\d+ threads=\d+ spinningthreads=\d+ )"
                         R"(idlethreads=\d+ runqueue=\d+)");
  const std::regex p_line(
      R"(  P(\d+): status=(idle|running) schedtick=\d+ m=(-1|\d+) runqsize=\d+ timerslen=\d+)");
  const std::regex m_line(R"(  M(\d+): p=(-1|\d+) curg=(-1|\d+) spinning=(true|false) blocked=(true|false))");
  const std::regex g_line(R"(  G(\d+): status=(runnable|running|waiting)\(([^)]*)\) m=(-1|\d+))");
  int scheds = 0, ps = 0, ms = 0;
  bool saw_blocked = false, saw_spinner_on_m = false;
  std::string spinner_m;  // the M a G line says the spinner runs on, in this snapshot
  for (const std::string& line : lines_of(r.err)) {
    CAPTURE(line);
    std::smatch m;
    // The runtime's other reports: sysmon's hand-off (GORT_DEBUG is set), and on a
    // loaded machine, run's note that the spinner's M had not left its fiber.
    if (line.rfind("gort: ", 0) == 0) continue;
    if (std::regex_match(line, m, sched)) {
      scheds++;
      spinner_m.clear();
    } else if (std::regex_match(line, m, p_line)) {
      CHECK(std::stol(m[1]) < 2);
      ps++;
    } else if (std::regex_match(line, m, m_line)) {
      ms++;
      // The M lines come before the fiber lines: remember who runs the spinner.
      if (m[3] == spinner) spinner_m = m[1];
    } else if (std::regex_match(line, m, g_line)) {
      if (m[1] == blocked && m[2] == "waiting") {  // runnable until it first runs and parks
        CHECK(m[3] == "chan receive");
        CHECK(m[4] == "-1");
        saw_blocked = true;
      }
      if (m[1] == spinner && m[2] == "running" && !spinner_m.empty()) {
        CHECK(m[4] == spinner_m);  // the fiber line and the M line agree
        saw_spinner_on_m = true;
      }
    } else {
      FAIL("not a line of the trace");  // e.g. a bracket after runqueue: Go drops it in detail mode
    }
  }
  CHECK(scheds >= 2);       // about 7; the spinner holds a CPU, and sysmon may get little on a loaded machine
  CHECK(ps == 2 * scheds);  // one per P in every snapshot
  CHECK(ms >= scheds);      // at least one M in every snapshot
  CHECK(saw_blocked);
  CHECK(saw_spinner_on_m);
}

TEST_CASE("schedtrace: GORT_DEBUG=sysmon still turns on the hand-off reports alone, with no SCHED line") {
  auto r = run_child([] {
    setenv("GORT_DEBUG", "sysmon", 1);
    if (!gort::rt::parse_debug(std::getenv("GORT_DEBUG")).reports) return 3;
    return gort::run(gort::Config{.procs = 2}, [] { gort::sleep_for(200ms); });
  });
  CHECK(r.status == 0);
  CHECK(r.err.find("SCHED") == std::string::npos);
  CHECK(r.err.empty());
}
