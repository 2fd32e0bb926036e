// Tests of runtime/trace.cpp and trace_json.cpp: the execution tracer.
// Each test traces a small program (ping-pong over an unbuffered channel, a
// sleep, a burst of fibers for 2 Ps to share, a blocking call), reads the
// JSON back with the small reader below, and checks what must hold whatever
// the timing: slices of one fiber, and of one M, never overlap; a block is
// followed by an unblock of the same fiber before it runs again; every flow
// end has its start earlier; a fiber is created before it first runs. The
// GORT_TRACE runs, and the panic, are child processes (run_child).
#include "gort_test.hpp"

#include <gort/trace.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "trace.hpp"  // white box: trace_on, trace_max_chunks

using gort_test::run_child;
using namespace std::chrono_literals;

namespace {

// --- a small JSON reader (enough for the tracer's output) ---

struct Json {
  enum Kind { Null, Bool, Num, Str, Arr, Obj } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::string> keys;  // an object: keys[i] names vals[i] (a pair would
  std::vector<Json> vals;         // need Json complete: clang rejects it here)

  const Json* get(const std::string& k) const {
    for (std::size_t i = 0; i < keys.size(); i++)
      if (keys[i] == k) return &vals[i];
    return nullptr;
  }
  std::string s(const std::string& k) const {
    const Json* v = get(k);
    return v && v->kind == Str ? v->str : "";
  }
  // i: a number field; times (microseconds with 3 decimals) come back in ns with ns().
  std::int64_t i(const std::string& k, std::int64_t def = -1) const {
    const Json* v = get(k);
    return v && v->kind == Num ? static_cast<std::int64_t>(std::llround(v->num)) : def;
  }
  std::int64_t ns(const std::string& k) const {
    const Json* v = get(k);
    return v && v->kind == Num ? static_cast<std::int64_t>(std::llround(v->num * 1000)) : -1;
  }
};

struct Reader {
  const std::string& t;
  std::size_t p = 0;
  bool ok = true;

  explicit Reader(const std::string& text) : t(text) {}

  void ws() {
    while (p < t.size() && (t[p] == ' ' || t[p] == '\n' || t[p] == '\r' || t[p] == '\t')) p++;
  }
  bool eat(char c) {
    ws();
    if (p < t.size() && t[p] == c) {
      p++;
      return true;
    }
    return false;
  }
  std::string string() {
    std::string out;
    if (!eat('"')) {
      ok = false;
      return out;
    }
    while (p < t.size() && t[p] != '"') {
      if (t[p] == '\\' && p + 1 < t.size()) {
        p++;
        if (t[p] == 'u') {
          out += '?';
          p += 4;
        } else {
          out += t[p] == 'n' ? '\n' : t[p];
        }
        p++;
      } else {
        out += t[p++];
      }
    }
    if (p >= t.size()) {
      ok = false;
      return out;
    }
    p++;
    return out;
  }
  Json value(int depth = 0) {
    Json v;
    ws();
    if (p >= t.size() || depth > 32) {
      ok = false;
      return v;
    }
    const char c = t[p];
    if (c == '{') {
      p++;
      v.kind = Json::Obj;
      if (eat('}')) return v;
      do {
        std::string k = string();
        if (!eat(':')) {
          ok = false;
          return v;
        }
        v.keys.push_back(std::move(k));
        v.vals.push_back(value(depth + 1));
      } while (ok && eat(','));
      if (!eat('}')) ok = false;
    } else if (c == '[') {
      p++;
      v.kind = Json::Arr;
      if (eat(']')) return v;
      do v.arr.push_back(value(depth + 1));
      while (ok && eat(','));
      if (!eat(']')) ok = false;
    } else if (c == '"') {
      v.kind = Json::Str;
      v.str = string();
    } else if (t.compare(p, 4, "true") == 0 || t.compare(p, 5, "false") == 0) {
      v.kind = Json::Bool;
      v.b = t[p] == 't';
      p += v.b ? 4 : 5;
    } else if (t.compare(p, 4, "null") == 0) {
      p += 4;
    } else {
      char* end = nullptr;
      v.kind = Json::Num;
      v.num = std::strtod(t.c_str() + p, &end);
      if (end == t.c_str() + p) ok = false;
      p = static_cast<std::size_t>(end - t.c_str());
    }
    return v;
  }
};

struct Trace {
  bool ok = false;  // read and parsed
  Json root;
  std::vector<const Json*> ev;  // traceEvents
};

Trace read_trace(const std::string& path) {
  Trace tr;
  std::ifstream in(path);
  if (!in) return tr;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  Reader r(text);
  tr.root = r.value();
  r.ws();
  tr.ok = r.ok && r.p == text.size() && tr.root.kind == Json::Obj;
  if (const Json* evs = tr.root.get("traceEvents"); tr.ok && evs && evs->kind == Json::Arr) {
    for (const Json& e : evs->arr) tr.ev.push_back(&e);
  } else {
    tr.ok = false;
  }
  return tr;
}

struct Slice {
  std::int64_t ts, end, tid;
  std::uint64_t g;
  std::string why, reason;
};

std::uint64_t g_of(const Json* e) {
  const Json* a = e->get("args");
  return a ? static_cast<std::uint64_t>(a->i("g", 0)) : 0;
}

// slices_by: the X events, grouped by fiber or by lane, each sorted by time.
std::map<std::int64_t, std::vector<Slice>> slices_by(const Trace& tr, bool by_fiber) {
  std::map<std::int64_t, std::vector<Slice>> out;
  for (const Json* e : tr.ev) {
    if (e->s("ph") != "X") continue;
    const Json* a = e->get("args");
    Slice s{e->ns("ts"), e->ns("ts") + e->ns("dur"), e->i("tid"),
            g_of(e),     a ? a->s("end") : "",       a ? a->s("reason") : ""};
    out[by_fiber ? static_cast<std::int64_t>(s.g) : s.tid].push_back(s);
  }
  for (auto& [k, v] : out)
    std::sort(v.begin(), v.end(), [](const Slice& x, const Slice& y) { return x.ts < y.ts; });
  return out;
}

// instants: the "i" events named name, by the fiber in args.g, times sorted.
std::map<std::uint64_t, std::vector<std::int64_t>> instants(const Trace& tr, const std::string& name) {
  std::map<std::uint64_t, std::vector<std::int64_t>> out;
  for (const Json* e : tr.ev)
    if (e->s("ph") == "i" && e->s("name") == name) out[g_of(e)].push_back(e->ns("ts"));
  for (auto& [g, v] : out) std::sort(v.begin(), v.end());
  return out;
}

// check_consistent: what every trace must satisfy. With lost events (a
// full buffer) only the lanes' rules are checked.
void check_consistent(const Trace& tr, bool complete = true) {
  REQUIRE(tr.ok);
  CHECK(tr.root.s("displayTimeUnit") == "ns");
  std::set<std::int64_t> named;
  for (const Json* e : tr.ev) {
    CHECK(e->i("pid") == 1);
    if (e->s("ph") == "M" && e->s("name") == "thread_name") named.insert(e->i("tid"));
  }
  for (bool by_fiber : {true, false}) {
    if (by_fiber && !complete) continue;  // a dropped stop leaves a slice open on its old lane
    // (No structured bindings: doctest's CAPTURE is a lambda, and clang 14
    // cannot capture them.)
    for (const auto& kv : slices_by(tr, by_fiber)) {
      const std::int64_t key = kv.first;
      const std::vector<Slice>& v = kv.second;
      CAPTURE(by_fiber);
      CAPTURE(key);
      for (std::size_t i = 0; i + 1 < v.size(); i++) {
        CAPTURE(v[i].ts);
        CHECK(v[i].end <= v[i + 1].ts);  // no overlap
      }
      if (!by_fiber) CHECK(named.count(key) == 1);  // every lane has a name
    }
  }
  // Flows: each end ("f") has its start ("s") with the same id, not later.
  std::map<std::int64_t, std::int64_t> starts;
  for (const Json* e : tr.ev)
    if (e->s("ph") == "s") starts[e->i("id")] = e->ns("ts");
  for (const Json* e : tr.ev) {
    if (e->s("ph") != "f") continue;
    CAPTURE(e->i("id"));
    auto it = starts.find(e->i("id"));
    REQUIRE(it != starts.end());
    CHECK(it->second <= e->ns("ts"));
    CHECK(e->s("bp") == "e");
  }
  if (!complete) return;
  auto unblocks = instants(tr, "unblock");
  auto creates = instants(tr, "create");
  for (const auto& kv : slices_by(tr, true)) {
    const std::int64_t g = kv.first;
    const std::vector<Slice>& v = kv.second;
    CAPTURE(g);
    // Created (if within the trace) before it first ran.
    if (auto c = creates.find(static_cast<std::uint64_t>(g)); c != creates.end())
      CHECK(c->second.front() <= v.front().ts);
    // A block is followed by an unblock before the fiber runs again.
    const auto& u = unblocks[static_cast<std::uint64_t>(g)];
    for (std::size_t i = 0; i + 1 < v.size(); i++) {
      if (v[i].why != "block") continue;
      const std::int64_t lo = v[i].end, hi = v[i + 1].ts;
      CAPTURE(lo);
      CHECK(std::any_of(u.begin(), u.end(), [&](std::int64_t t) { return t >= lo && t <= hi; }));
    }
    // Only the last slice of a fiber may end otherwise than block, yield, preempted.
    for (std::size_t i = 0; i + 1 < v.size(); i++)
      CHECK((v[i].why == "block" || v[i].why == "yield" || v[i].why == "preempted"));
  }
}

std::string temp_path(const char* tag) {
  return "/tmp/gort-trace-test-" + std::to_string(getpid()) + "-" + tag + ".json";
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The traced program: ping-pong, a sleep, a burst of short fibers spawned
// by one fiber (the other P steals some), a blocking call. Returns the ids
// of the ping-pong pair and the fiber that made the blocking call.
struct Ids {
  std::uint64_t main = 0, a = 0, b = 0, blocker = 0;
};

Ids traced_program() {
  Ids ids;
  ids.main = gort::fiber_id();
  std::atomic<std::uint64_t> a{0}, b{0}, blocker{0};
  gort::Chan<int> ping(0), pong(0);
  gort::WaitGroup wg;
  wg.add(2);
  gort::go([&] {
    a = gort::fiber_id();
    for (int i = 0; i < 50; i++) {
      ping.send(i);
      pong.recv();
    }
    wg.done();
  });
  gort::go([&] {
    b = gort::fiber_id();
    for (int i = 0; i < 50; i++) {
      ping.recv();
      pong.send(i);
    }
    wg.done();
  });
  wg.wait();
  gort::sleep_for(2ms);
  wg.add(1);
  gort::go([&] {
    gort::WaitGroup burst;
    burst.add(64);
    for (int i = 0; i < 64; i++) {
      gort::go([&] {
        volatile unsigned x = 0;
        for (int k = 0; k < 20000; k++) x = x + 1;
        gort::yield();
        burst.done();
      });
    }
    burst.wait();
    wg.done();
  });
  wg.wait();
  wg.add(1);
  gort::go([&] {
    blocker = gort::fiber_id();
    gort::blocking([] { usleep(1000); });
    wg.done();
  });
  wg.wait();
  ids.a = a;
  ids.b = b;
  ids.blocker = blocker;
  return ids;
}

// check_program: what the program's trace must show of its fibers.
void check_program(const Trace& tr, const Ids& ids) {
  auto by_g = slices_by(tr, true);
  // Each of the 100 rendezvous parks whichever of the pair comes first (an
  // unbuffered channel), for a chan reason; which one depends on timing.
  int blocks = 0;
  for (std::uint64_t g : {ids.a, ids.b}) {
    CAPTURE(g);
    const auto& v = by_g[static_cast<std::int64_t>(g)];
    for (const Slice& s : v) {
      if (s.why != "block") continue;
      blocks++;
      CHECK((s.reason == "chan send" || s.reason == "chan receive"));
    }
    REQUIRE(!v.empty());
    CHECK(v.back().why == "exit");
  }
  CHECK(blocks >= 100);
  // main slept: a block for "sleep", woken by nobody (a timer: by 0).
  bool slept = false;
  for (const Slice& s : by_g[static_cast<std::int64_t>(ids.main)]) slept = slept || s.reason == "sleep";
  CHECK(slept);
  bool timer_wake = false;
  for (const Json* e : tr.ev)
    if (e->s("name") == "unblock" && g_of(e) == ids.main && e->get("args")->i("by") == 0) timer_wake = true;
  CHECK(timer_wake);
  // The pair was created by main, and woke each other (each rendezvous:
  // the second comer readies the first).
  auto creates = instants(tr, "create");
  CHECK(creates.count(ids.a) == 1);
  CHECK(creates.count(ids.b) == 1);
  int cross = 0;
  for (const Json* e : tr.ev) {
    if (e->s("name") == "create" && (g_of(e) == ids.a || g_of(e) == ids.b))
      CHECK(static_cast<std::uint64_t>(e->get("args")->i("parent")) == ids.main);
    if (e->s("name") != "unblock") continue;
    const auto by = static_cast<std::uint64_t>(e->get("args")->i("by"));
    if ((g_of(e) == ids.a && by == ids.b) || (g_of(e) == ids.b && by == ids.a)) cross++;
  }
  CHECK(cross >= 100);
  // The blocking call: its fiber blocked for "blocking", between enter and leave.
  CHECK(instants(tr, "blocking enter").count(ids.blocker) == 1);
  CHECK(instants(tr, "blocking leave").count(ids.blocker) == 1);
  bool blocked = false;
  for (const Slice& s : by_g[static_cast<std::int64_t>(ids.blocker)])
    blocked = blocked || s.reason == "blocking";
  CHECK(blocked);
  // Steals, if any happened (timing): name two different Ps.
  for (const Json* e : tr.ev) {
    if (e->s("ph") != "i" || e->s("name") != "steal") continue;  // (the arrows are named steal too)
    const Json* a = e->get("args");
    CHECK(a->i("thief") != a->i("victim"));
    CHECK(a->i("n") >= 1);
  }
}

// python_parses: python3's json module reads the file (as Perfetto's
// importer would); true if python3 is missing.
bool python_parses(const std::string& path) {
  auto r = gort_test::run_command({"python3", "-c", "import json,sys; json.load(open(sys.argv[1]))", path});
  if (r.status == -1) return true;
  INFO(r.err);
  return r.status == 0;
}

std::string child_path;  // for the children (run_child takes a plain function)

}  // namespace

TEST_CASE("trace: ping-pong, a sleep, a stealing burst and a blocking call traced from a fiber") {
  const std::string path = temp_path("api");
  std::remove(path.c_str());
  Ids ids;
  bool started = false, again = false, stopped = false, stopped_twice = true;
  int again_errno = 0;
  int rc = gort::run(gort::Config{.procs = 2}, [&] {
    started = gort::trace::start(path);
    again = gort::trace::start(path + ".second");
    again_errno = errno;
    ids = traced_program();
    stopped = gort::trace::stop();
    stopped_twice = gort::trace::stop();
  });
  CHECK(rc == 0);
  CHECK(started);
  CHECK_FALSE(again);  // one trace at a time
  CHECK(again_errno == EBUSY);
  CHECK_FALSE(exists(path + ".second"));
  CHECK(stopped);
  CHECK_FALSE(stopped_twice);
  Trace tr = read_trace(path);
  check_consistent(tr);
  check_program(tr, ids);
  CHECK(tr.root.get("otherData")->i("lost_events") == 0);
  // main called start: its slice began with the trace; it was still running at the stop.
  auto by_g = slices_by(tr, true);
  REQUIRE(!by_g[static_cast<std::int64_t>(ids.main)].empty());
  CHECK(by_g[static_cast<std::int64_t>(ids.main)].back().why == "running");
  CHECK(python_parses(path));
  std::remove(path.c_str());
}

TEST_CASE("trace: GORT_TRACE traces the whole run and writes the file when run returns") {
  child_path = temp_path("env");
  std::remove(child_path.c_str());
  auto r = run_child([] {
    setenv("GORT_TRACE", child_path.c_str(), 1);
    setenv("GORT_MAXPROCS", "2", 1);
    Ids ids;
    int rc = gort::run([&] { ids = traced_program(); });
    std::printf("ids=%llu %llu %llu %llu\n", static_cast<unsigned long long>(ids.main),
                static_cast<unsigned long long>(ids.a), static_cast<unsigned long long>(ids.b),
                static_cast<unsigned long long>(ids.blocker));
    return rc;
  });
  CHECK(r.status == 0);
  INFO(r.err);
  Ids ids;
  unsigned long long m = 0, a = 0, b = 0, bl = 0;
  const std::size_t at = r.out.find("ids=");
  REQUIRE(at != std::string::npos);
  REQUIRE(std::sscanf(r.out.c_str() + at, "ids=%llu %llu %llu %llu", &m, &a, &b, &bl) == 4);
  ids = {m, a, b, bl};
  Trace tr = read_trace(child_path);
  check_consistent(tr);
  check_program(tr, ids);
  // The whole run: main's creation (by no fiber) and its exit; lanes named M<id>.
  bool main_created = false, m0 = false;
  for (const Json* e : tr.ev) {
    if (e->s("name") == "create" && g_of(e) == ids.main) main_created = e->get("args")->i("parent") == 0;
    if (e->s("name") == "thread_name" && e->get("args")->s("name") == "M0") m0 = true;
  }
  CHECK(main_created);
  CHECK(m0);
  auto by_g = slices_by(tr, true);
  REQUIRE(!by_g[static_cast<std::int64_t>(ids.main)].empty());
  CHECK(by_g[static_cast<std::int64_t>(ids.main)].back().why == "exit");
  CHECK(python_parses(child_path));
  std::remove(child_path.c_str());
}

TEST_CASE("trace: with tracing off no file is created and the sites record nothing") {
  const std::string path = temp_path("off");
  std::remove(path.c_str());
  errno = 0;
  CHECK_FALSE(gort::trace::start(path));  // outside a run
  CHECK(errno == EINVAL);
  CHECK_FALSE(exists(path));
  bool on = true;
  int rc = gort::run(gort::Config{.procs = 2}, [&] {
    gort::Chan<int> c(0);
    gort::go([c]() mutable { c.send(1); });
    c.recv();
    on = gort::rt::tracing();
  });
  CHECK(rc == 0);
  CHECK_FALSE(on);
  CHECK_FALSE(gort::trace::stop());
  CHECK_FALSE(exists(path));
  CHECK(gort::trace::start("/nonexistent-dir/x.json") == false);  // no run: refused before the open
}

TEST_CASE("trace: a full buffer drops events and counts them in lost_events") {
  const std::string path = temp_path("lost");
  std::remove(path.c_str());
  struct Cap {  // 64 KiB per buffer (about 1170 events) for this test only
    std::uint32_t old = gort::rt::trace_max_chunks.exchange(1);
    ~Cap() { gort::rt::trace_max_chunks.store(old); }
  } cap;
  bool started = false;
  int rc = gort::run(gort::Config{.procs = 1}, [&] {
    started = gort::trace::start(path);
    gort::WaitGroup wg;
    wg.add(2);
    for (int f = 0; f < 2; f++) {
      gort::go([&] {
        for (int i = 0; i < 5000; i++) gort::yield();  // 10,000 yields: two events each
        wg.done();
      });
    }
    wg.wait();
    gort::trace::stop();
  });
  CHECK(rc == 0);
  CHECK(started);
  Trace tr = read_trace(path);
  check_consistent(tr, false);
  CHECK(tr.root.get("otherData")->i("lost_events") > 0);
  std::remove(path.c_str());
}

TEST_CASE("trace: a panic writes the trace before the process exits") {
  child_path = temp_path("panic");
  std::remove(child_path.c_str());
  auto r = run_child([] {
    setenv("GORT_TRACE", child_path.c_str(), 1);
    return gort::run([] {
      gort::sleep_for(1ms);
      gort::go([] { throw std::runtime_error("boom"); });
      gort::sleep_for(10s);  // the panic ends the process first
    });
  });
  CHECK(r.status == 2);
  CHECK(r.err.find("panic: std::runtime_error: boom") != std::string::npos);
  Trace tr = read_trace(child_path);
  check_consistent(tr);
  bool slept = false;
  for (const Json* e : tr.ev) slept = slept || (e->s("ph") == "X" && e->get("args")->s("reason") == "sleep");
  CHECK(slept);
  std::remove(child_path.c_str());
}
