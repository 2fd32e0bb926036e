// schedtrace.hpp: GORT_DEBUG, parsed as Go's GODEBUG (a comma-separated
// list of key=value), and the scheduler trace it can turn on (Go's
// GODEBUG=schedtrace=N,scheddetail=1, schedtrace() in proc.go).
//
// Both live in schedtrace.cpp; sysmon (sysmon.cpp) reads GORT_DEBUG once per
// run and calls schedtrace() from its loop when the interval has passed, as
// Go's sysmon does.
//
// Invariants:
//  - schedtrace() takes each P's timers_mu alone, then sched.mu alone (the
//    lock order of sched.hpp: never timers_mu under sched.mu), and writes to
//    stderr with no lock held.
//  - it reads only what another thread may read: atomics, fields guarded by
//    the lock it holds, and fields fixed since the object was published
//    under sched.mu (M::id). Owner-only fields (P::m, M::p) are not read:
//    an M's P is inferred from P::runm (schedtrace.cpp says how).
#pragma once

#include <cstdint>
#include <string>

namespace gort::rt {

struct Sched;

// DebugVars: what GORT_DEBUG asks for.
struct DebugVars {
  bool reports = false;            // any value but "" or "0": sysmon's hand-off reports
  std::int64_t schedtrace_ms = 0;  // schedtrace=N: a SCHED line every N ms (0: off)
  bool scheddetail = false;        // scheddetail=N, N != 0: P, M and fiber lines too
};

// parse_debug parses a GORT_DEBUG value (null: unset). A bad schedtrace or
// scheddetail value is ignored with a warning on stderr; unknown keys are
// ignored, as Go ignores unknown GODEBUG keys.
DebugVars parse_debug(const char* env);

// schedtrace_text is the trace at one moment: the SCHED line, and with
// detailed the P, M and fiber lines. start is the run's start (nanotime).
std::string schedtrace_text(Sched& s, std::int64_t now, std::int64_t start, bool detailed);

// schedtrace writes schedtrace_text to stderr in one write.
void schedtrace(Sched& s, std::int64_t now, std::int64_t start, bool detailed);

}  // namespace gort::rt
