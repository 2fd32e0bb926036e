// trace_json.cpp: the tracer's records as Chrome trace-event JSON (the
// format Perfetto and chrome://tracing read), written once the trace
// stopped, off the scheduler's paths.
//
// The records of every buffer are sorted by time (then lane and order of
// making), and replayed with a little state per lane and per fiber:
//  - a lane's open slice: GoStart opens it; the fiber's next stop record
//    on that lane (GoBlock, GoYield, GoPreempt, GoExit) closes it as one
//    complete event ("ph":"X"). A stop on a lane that has had no slice yet
//    is a fiber that was running when the trace began: its slice starts at
//    the trace's begin. A slice still open at the end closes there with
//    "end":"running". A GoStart, or another fiber's stop, finding a slice
//    open (its stop was dropped at a full buffer) closes it with
//    "end":"unknown"; a stop whose start was dropped is left out.
//  - a wake-up arrow: GoUnblock emits the flow's start ("ph":"s", cat
//    "wake") on the readier's lane and remembers the id for the fiber; its
//    next GoStart emits the end ("ph":"f", "bp":"e"). A steal does the same
//    with cat "steal", from the lane of the M that last ran the victim P
//    (P::runm at the steal) to the stolen fiber's start.
// Times are microseconds since the trace began, printed from integer
// nanoseconds ("12.345"), so nothing is lost to floating point.
// Invariant: every "f" follows its "s" in the sort order, so its time is
// not earlier.
#include "trace.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>
#include <tuple>
#include <unordered_map>

namespace gort::rt {

namespace {

struct Writer {
  std::FILE* f;
  std::int64_t begin;
  bool first = true;

  Writer(std::FILE* f, std::int64_t begin) : f(f), begin(begin) {}

  // ts prints a time (nanotime) as microseconds since begin.
  void ts(const char* key, std::int64_t t) {
    std::int64_t d = t - begin;
    if (d < 0) d = 0;
    std::fprintf(f, "\"%s\":%" PRId64 ".%03" PRId64, key, d / 1000, d % 1000);
  }
  void dur(std::int64_t d) {
    if (d < 0) d = 0;
    std::fprintf(f, "\"dur\":%" PRId64 ".%03" PRId64, d / 1000, d % 1000);
  }
  void open() {
    std::fputs(first ? "\n" : ",\n", f);
    first = false;
  }
  // str prints s as a JSON string (wait reasons are plain text; escape anyway).
  void str(const char* s) {
    std::fputc('"', f);
    for (; *s; s++) {
      const unsigned char c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        std::fputc('\\', f);
        std::fputc(c, f);
      } else if (c < 0x20) {
        std::fprintf(f, "\\u%04x", c);
      } else {
        std::fputc(c, f);
      }
    }
    std::fputc('"', f);
  }
  // instant: {"ph":"i",...,"args":{ then the caller prints the args and "}}".
  void instant(const char* cat, const char* name, std::int64_t t, std::int32_t lane) {
    open();
    std::fprintf(f, "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"%s\",\"name\":\"%s\",", cat, name);
    ts("ts", t);
    std::fprintf(f, ",\"pid\":1,\"tid\":%" PRId32 ",\"args\":{", lane);
  }
  void flow(const char* ph, const char* cat, std::uint64_t id, std::int64_t t, std::int32_t lane) {
    open();
    std::fprintf(f,
                 "{\"ph\":\"%s\",%s\"id\":%" PRIu64
                 ",\"cat\":\"%s\",\"name\":\"%s\",\"pid\":1,\"tid\":%" PRId32 ",",
                 ph, ph[0] == 'f' ? "\"bp\":\"e\"," : "", id, cat, cat, lane);
    ts("ts", t);
    std::fputc('}', f);
  }
  void slice(std::uint64_t g, std::int32_t p, std::int32_t lane, std::int64_t from, std::int64_t to,
             const char* end, const char* reason) {
    open();
    std::fprintf(f, "{\"ph\":\"X\",\"name\":\"G%" PRIu64 "\",\"cat\":\"fiber\",", g);
    ts("ts", from);
    std::fputc(',', f);
    dur(to - from);
    std::fprintf(
        f, ",\"pid\":1,\"tid\":%" PRId32 ",\"args\":{\"g\":%" PRIu64 ",\"p\":%" PRId32 ",\"end\":\"%s\"",
        lane, g, p, end);
    if (reason) {
      std::fputs(",\"reason\":", f);
      str(reason);
    }
    std::fputs("}}", f);
  }
  void meta(const char* name, std::int32_t lane, const char* key, const char* sval, std::int64_t ival) {
    open();
    std::fprintf(f, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":1,", name);
    if (lane >= 0) std::fprintf(f, "\"tid\":%" PRId32 ",", lane);
    if (sval) {
      std::fprintf(f, "\"args\":{\"%s\":", key);
      str(sval);
      std::fputs("}}", f);
    } else {
      std::fprintf(f, "\"args\":{\"%s\":%" PRId64 "}}", key, ival);
    }
  }
};

struct Open {
  bool open = false;
  bool any = false;  // the lane has had a slice
  std::uint64_t g = 0;
  std::int64_t ts = 0;
  std::int32_t p = -1;
};

const char* end_name(TraceEv ev) {
  switch (ev) {
    case TraceEv::GoBlock: return "block";
    case TraceEv::GoYield: return "yield";
    case TraceEv::GoPreempt: return "preempted";
    case TraceEv::GoExit: return "exit";
    default: return "unknown";
  }
}

}  // namespace

bool trace_write_json(std::FILE* f, TraceRec* recs, std::size_t n, std::int64_t begin, std::int64_t end,
                      std::uint64_t lost) {
  std::sort(recs, recs + n, [](const TraceRec& x, const TraceRec& y) {
    return std::tie(x.ts, x.lane, x.seq) < std::tie(y.ts, y.lane, y.seq);
  });
  static char buf[1 << 20];  // one write at a time: trace.cpp's session_mu
  std::setvbuf(f, buf, _IOFBF, sizeof buf);
  std::fprintf(
      f,
      "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"gort\",\"clock\":\"CLOCK_MONOTONIC\","
      "\"lost_events\":%" PRIu64 "},\"traceEvents\":[",
      lost);
  Writer w(f, begin);
  std::unordered_map<std::int32_t, Open> lanes;
  std::unordered_map<std::uint64_t, std::uint64_t> wake, steal;  // fiber -> flow id at its next start
  std::uint64_t flows = 0;
  std::set<std::int32_t> seen;
  for (std::size_t i = 0; i < n; i++) {
    const TraceRec& r = recs[i];
    if (r.ts < begin) continue;  // a late record of an earlier trace
    seen.insert(r.lane);
    Open& o = lanes[r.lane];
    switch (r.ev) {
      case TraceEv::MStart: break;
      case TraceEv::GoCreate:
        w.instant("sched", "create", r.ts, r.lane);
        std::fprintf(f, "\"g\":%" PRIu64 ",\"parent\":%" PRIu64 "}}", r.a, r.b);
        break;
      case TraceEv::GoStart: {
        if (o.open) w.slice(o.g, o.p, r.lane, o.ts, r.ts, "unknown", nullptr);
        o = Open{true, true, r.a, r.ts, r.p};
        if (auto it = wake.find(r.a); it != wake.end()) {
          w.flow("f", "wake", it->second, r.ts, r.lane);
          wake.erase(it);
        }
        if (auto it = steal.find(r.a); it != steal.end()) {
          w.flow("f", "steal", it->second, r.ts, r.lane);
          steal.erase(it);
        }
        break;
      }
      case TraceEv::GoBlock:
      case TraceEv::GoYield:
      case TraceEv::GoPreempt:
      case TraceEv::GoExit: {
        const char* reason = r.ev == TraceEv::GoBlock ? (r.s ? r.s : "") : nullptr;
        if (o.open && o.g == r.a) {
          w.slice(r.a, o.p, r.lane, o.ts, r.ts, end_name(r.ev), reason);
        } else if (o.open) {
          w.slice(o.g, o.p, r.lane, o.ts, r.ts, "unknown", nullptr);  // records were dropped
        } else if (!o.any) {
          w.slice(r.a, r.p, r.lane, begin, r.ts, end_name(r.ev), reason);  // running when the trace began
        }
        o.open = false;
        o.any = true;
        break;
      }
      case TraceEv::GoUnblock:
        w.instant("sched", "unblock", r.ts, r.lane);
        std::fprintf(f, "\"g\":%" PRIu64 ",\"by\":%" PRIu64 "}}", r.a, r.b);
        w.flow("s", "wake", ++flows, r.ts, r.lane);
        wake[r.a] = flows;
        break;
      case TraceEv::Steal: {
        const auto victim = static_cast<std::int32_t>(r.a & 0xffffffffu);
        const auto vm = static_cast<std::int64_t>(r.a >> 32) - 1;
        w.instant("sched", "steal", r.ts, r.lane);
        std::fprintf(f, "\"thief\":%" PRId32 ",\"victim\":%" PRId32 ",\"n\":%" PRIu64 ",\"g\":%" PRIu64 "}}",
                     r.p, victim, r.b, r.c);
        if (vm >= 0) {
          w.flow("s", "steal", ++flows, r.ts, static_cast<std::int32_t>(vm));
          seen.insert(static_cast<std::int32_t>(vm));
          steal[r.c] = flows;
        }
        break;
      }
      case TraceEv::MPark:
        w.instant("sched", "park M", r.ts, r.lane);
        std::fprintf(f, "\"m\":%" PRId32 ",\"netpoll\":%s}}", r.lane, r.a ? "true" : "false");
        break;
      case TraceEv::MUnpark:
        w.instant("sched", "unpark M", r.ts, r.lane);
        std::fprintf(f, "\"m\":%" PRIu64 ",\"p\":%" PRId64 "}}", r.a, static_cast<std::int64_t>(r.b));
        break;
      case TraceEv::Netpoll:
        w.instant("net", "netpoll", r.ts, r.lane);
        std::fprintf(f, "\"n\":%" PRIu64 ",\"blocking\":%s}}", r.a, r.b ? "true" : "false");
        break;
      case TraceEv::BlockingEnter:
      case TraceEv::BlockingLeave:
        w.instant("blocking", r.ev == TraceEv::BlockingEnter ? "blocking enter" : "blocking leave", r.ts,
                  r.lane);
        std::fprintf(f, "\"g\":%" PRIu64 "}}", r.a);
        break;
      case TraceEv::Handoff:
        w.instant("sysmon", "handoff", r.ts, r.lane);
        std::fprintf(f, "\"p\":%" PRIu64 ",\"m\":%" PRIu64 ",\"g\":%" PRIu64 "}}", r.a, r.b, r.c);
        break;
    }
  }
  for (auto& [lane, o] : lanes)
    if (o.open) w.slice(o.g, o.p, lane, o.ts, end, "running", nullptr);
  w.meta("process_name", -1, "name", "gort", 0);
  for (std::int32_t lane : seen) {
    char name[32];
    if (lane == kLaneSysmon) {
      std::snprintf(name, sizeof name, "sysmon");
    } else if (lane == kLaneOutside) {
      std::snprintf(name, sizeof name, "outside");
    } else {
      std::snprintf(name, sizeof name, "M%" PRId32, lane);
    }
    w.meta("thread_name", lane, "name", name, 0);
    w.meta("thread_sort_index", lane, "sort_index", nullptr, lane);
  }
  std::fputs("\n]}\n", f);
  return std::fflush(f) == 0 && !std::ferror(f);
}

}  // namespace gort::rt
