// schedtrace.cpp: GORT_DEBUG's parser and the scheduler trace (Go's
// parsedebugvars, runtime1.go, and schedtrace, proc.go).
//
// GORT_DEBUG is Go's GODEBUG syntax: key=value pairs separated by commas.
// Any value but "" or "0" turns on sysmon's hand-off reports, as before
// keys existed (GORT_DEBUG=sysmon, GORT_DEBUG=1). schedtrace=N makes sysmon
// print one line to stderr every N ms:
//   SCHED 1004ms: gomaxprocs=2 idleprocs=1 threads=5 spinningthreads=0 idlethreads=2 runqueue=0 [0 3]
// and scheddetail=1 (with schedtrace) prints instead, as Go does, the SCHED
// line without the bracket, then a line per P, per M and per live fiber:
//   P0: status=running schedtick=812 m=3 runqsize=3 timerslen=1
//   M3: p=0 curg=17 spinning=false blocked=false
//   G5: status=waiting(chan receive) m=-1
// docs/design.md ("schedtrace") documents each field.
//
// What is read, and how (the trace runs on sysmon's thread, beside the Ms):
//  - counters and states that are atomics: npidle, nmspinning, runqsize,
//    P::status, P::n_switches (schedtick's atomic twin), the run queues
//    (runqlen), P::runm, M::curg, M::spinning, G::status, G::waitreason.
//  - under each P's timers_mu, taken alone: the length of its timer heap.
//  - under sched.mu, taken after the timers_mu and alone: allm, midle,
//    allgs (walked with for_each_g, as the fiber dump does).
//  - an M's P. P::m and M::p belong to their owner and are not read, nor
//    M::nextp (newm and mstart write it without sched.mu): a running P's M
//    is P::runm, the M that last switched into a fiber on it, unless that M
//    is asleep on the idle list (then the P's holder has not run a fiber on
//    it yet, and it prints -1). So a P that just changed hands may show its
//    previous M, or none, for a moment; Go's trace, which reads these fields
//    without synchronization, is no more exact.
// The output is built in a string and written with one write(2), no lock
// held. Ms, Ps and Gs are never freed during a run, so every pointer read
// here stays valid; sysmon stops tracing once the run is exiting.
#include "schedtrace.hpp"

#include "sched.hpp"

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gort::rt {

namespace {

// parse_int: a whole decimal number >= 0, or -1.
std::int64_t parse_int(std::string_view v) {
  if (v.empty() || v.size() > 12) return -1;
  std::int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// appendf appends printf-style output to out.
[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0)
    out.append(buf, static_cast<std::size_t>(n) < sizeof buf ? static_cast<std::size_t>(n) : sizeof buf - 1);
}

const char* pstatus_name(PStatus st) { return st == PStatus::Running ? "running" : "idle"; }

}  // namespace

DebugVars parse_debug(const char* env) {
  DebugVars d;
  if (!env || !*env || std::strcmp(env, "0") == 0) return d;
  d.reports = true;
  std::string_view rest(env);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;  // a bare word (sysmon): reports only
    const std::string_view key = item.substr(0, eq), val = item.substr(eq + 1);
    if (key != "schedtrace" && key != "scheddetail") continue;  // not ours (yet)
    const std::int64_t n = parse_int(val);
    if (n < 0 || (key == "schedtrace" && n > 3'600'000)) {
      std::fprintf(stderr, "gort: ignoring GORT_DEBUG's %.*s=%.*s (want %s)\n", static_cast<int>(key.size()),
                   key.data(), static_cast<int>(val.size()), val.data(),
                   key == "schedtrace" ? "milliseconds from 0 to 3600000" : "a number, 0 or 1");
      continue;
    }
    if (key == "schedtrace") {
      d.schedtrace_ms = n;
    } else {
      d.scheddetail = n != 0;
    }
  }
  return d;
}

std::string schedtrace_text(Sched& s, std::int64_t now, std::int64_t start, bool detailed) {
  constexpr auto r = std::memory_order_relaxed;
  std::string out;
  // Timers first, each under its P's timers_mu alone (level 2, above sched.mu).
  std::vector<std::size_t> timers(s.allp.size());
  if (detailed) {
    for (P* pp : s.allp) {
      std::lock_guard lk(pp->timers_mu);
      timers[static_cast<std::size_t>(pp->id)] = pp->timers.size();
    }
  }
  std::lock_guard lk(s.mu);
  appendf(out,
          "SCHED %" PRId64
          "ms: gomaxprocs=%d idleprocs=%d threads=%zu spinningthreads=%d idlethreads=%zu "
          "runqueue=%d",
          (now - start) / 1'000'000, s.procs, s.npidle.load(r), s.allm.size(), s.nmspinning.load(r),
          s.midle.size(), s.runqsize.load(r));
  if (!detailed) {
    out += " [";
    for (P* pp : s.allp) appendf(out, pp->id == 0 ? "%u" : " %u", runqlen(pp));
    out += "]\n";
    return out;
  }
  out += "\n";

  // Who holds which P (see the header comment): P::runm, unless that M is idle.
  auto idle = [&](M* m) {
    for (M* i : s.midle)
      if (i == m) return true;
    return false;
  };
  std::unordered_map<M*, std::int32_t> p_of;
  std::vector<M*> m_of(s.allp.size(), nullptr);
  for (P* pp : s.allp) {
    if (pp->status.load(r) != PStatus::Running) continue;
    M* m = pp->runm.load(std::memory_order_acquire);
    if (!m || idle(m)) continue;
    m_of[static_cast<std::size_t>(pp->id)] = m;
    p_of.emplace(m, pp->id);
  }
  for (P* pp : s.allp) {
    const M* m = m_of[static_cast<std::size_t>(pp->id)];
    appendf(out, "  P%d: status=%s schedtick=%" PRIu64 " m=%" PRId64 " runqsize=%u timerslen=%zu\n", pp->id,
            pstatus_name(pp->status.load(r)), pp->n_switches.load(r), m ? m->id : -1, runqlen(pp),
            timers[static_cast<std::size_t>(pp->id)]);
  }
  std::unordered_map<const G*, std::int64_t> m_running;  // a running fiber -> its M
  for (M* m : s.allm) {
    auto p = p_of.find(m);
    // acquire: the fiber's id was written before it was queued, and the M
    // took it from the queue before it stored curg (release).
    G* gp = m->curg.load(std::memory_order_acquire);
    if (gp) m_running[gp] = m->id;
    appendf(out, "  M%" PRId64 ": p=%d curg=%" PRId64 " spinning=%s blocked=%s\n", m->id,
            p == p_of.end() ? -1 : p->second, gp ? static_cast<std::int64_t>(gp->goid) : -1,
            m->spinning.load(r) ? "true" : "false", idle(m) ? "true" : "false");
  }
  for_each_g(s, [&](G* gp, GStatus st) {
    const char* reason = st == GStatus::Waiting ? gp->waitreason.load(r) : nullptr;
    auto m = m_running.find(gp);
    appendf(out, "  G%" PRIu64 ": status=%s(%s) m=%" PRId64 "\n", gp->goid, gstatus_name(st),
            reason ? reason : "", m == m_running.end() ? -1 : m->second);
  });
  return out;
}

void schedtrace(Sched& s, std::int64_t now, std::int64_t start, bool detailed) {
  const std::string out = schedtrace_text(s, now, start, detailed);
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::write(STDERR_FILENO, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr closed or full: drop the rest, as a debug print may
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace gort::rt
