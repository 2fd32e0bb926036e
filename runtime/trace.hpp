// trace.hpp: the execution tracer's event sites (Go's trace.go: traceEvent
// and the traceGo*/traceProc* calls), and its internal API.
//
// Every place the scheduler does something worth drawing (a fiber created,
// started, blocked, readied, ...) calls one of the trace_* functions below.
// Off (the default), each call is one relaxed load of the global flag
// `trace_on` and a branch the CPU predicts not taken: the record is made
// by an out-of-line function (trace_emit, trace.cpp) only when the flag is
// set. On, a record is the time (nanotime), the emitting thread's lane and P,
// the kind and up to three numbers and a string, appended to a buffer:
// the P's that the emitting M holds, else the global one (sysmon, the
// blocking pool's threads, an M without a P). trace.cpp says how the buffers
// are bounded and locked; trace_json.cpp turns the records into Chrome
// trace-event JSON when the trace stops.
//
// Invariants:
//  - a site passes the M of the thread it runs on (getm(), or null for a
//    thread that is not an M): trace_emit reads m->p, which only that M
//    writes (sysmon's retake makes the M clear it itself, sysmon.hpp).
//  - a fiber's slice is [GoStart, its stop event] on one M: the stop
//    (GoBlock, GoYield, GoPreempt, GoExit) is recorded before that M switches
//    into another fiber, so slices on one lane never overlap.
//  - GoBlock is recorded before the park's commit publishes the fiber to its
//    waker, so a GoUnblock of it always comes later (time and order).
//  - no lock is taken under a buffer's lock (it is a leaf, section 8 of
//    docs/design.md); trace_emit may be called with any runtime lock held.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace gort::rt {

struct M;

// The record kinds. Lanes (the JSON's tid): an M's id; kLaneSysmon for
// sysmon's thread; kLaneOutside for threads that are neither (the blocking
// pool's, gort::run's caller, a thread of the program that readies a fiber).
enum class TraceEv : std::uint8_t {
  MStart,         // an M's thread started (its lane exists)
  GoCreate,       // a = new fiber, b = parent (0: none)
  GoStart,        // a = fiber; the emitting lane and P run it
  GoBlock,        // a = fiber, s = wait reason (gopark's)
  GoYield,        // a = fiber (gort::yield)
  GoPreempt,      // a = fiber; it lost its P to sysmon and was requeued (pin_with_p)
  GoExit,         // a = fiber
  GoUnblock,      // a = fiber, b = the fiber that readied it (0: a timer, netpoll, a thread)
  Steal,          // the emitting P stole: a = victim P | (victim's M + 1) << 32 (0: not known),
                  // b = how many fibers, c = the stolen fiber that runs first
  MPark,          // the emitting M goes to sleep; a = 1 if it sleeps in the netpoller
  MUnpark,        // a = the M woken (or made), b = the P handed to it
  Netpoll,        // a = fibers the poll made runnable, b = 1 if the poll blocked
  BlockingEnter,  // a = fiber (its call is queued to the blocking pool)
  BlockingLeave,  // a = fiber (its call returned; a GoUnblock follows)
  Handoff,        // sysmon took a P: a = P, b = the M that held it, c = its fiber
};

inline constexpr std::int32_t kLaneSysmon = 1000;
inline constexpr std::int32_t kLaneOutside = 1002;

// trace_on: set while a trace runs. A plain global, not a thread_local, so
// that the check inlines to one load.
extern std::atomic<bool> trace_on;

inline bool tracing() { return __builtin_expect(trace_on.load(std::memory_order_relaxed), 0); }

// trace_emit records one event from the calling thread, whose M is m (null:
// not an M). Call only when tracing() said yes; it checks again under the
// buffer's lock.
void trace_emit(M* m, TraceEv ev, std::uint64_t a = 0, std::uint64_t b = 0, std::uint64_t c = 0,
                const char* s = nullptr);

// trace_ev: the call every site makes.
inline void trace_ev(M* m, TraceEv ev, std::uint64_t a = 0, std::uint64_t b = 0, std::uint64_t c = 0,
                     const char* s = nullptr) {
  if (tracing()) trace_emit(m, ev, a, b, c, s);
}

// trace_thread_lane: the lane of the calling thread when it is not an M
// (kLaneOutside unless set; sysmon sets kLaneSysmon). A thread_local behind
// out-of-line accessors (tls.cpp).
std::int32_t trace_thread_lane();
void trace_set_thread_lane(std::int32_t lane);

// trace_start begins a trace to path (the file is created now, written at
// trace_stop). False if one runs already, no gort::run is active, or the
// file cannot be created (errno says why).
bool trace_start(const std::string& path);

// trace_stop ends the trace and writes the file. False if none ran or the
// write failed (reported on stderr).
bool trace_stop();

// trace_run_begin/end: gort::run's part: GORT_TRACE=file starts a trace
// once the Ps exist, before main is spawned; end stops any trace still on
// once the Ms have stopped.
void trace_run_begin();
void trace_run_end();

// trace_dying: the process is about to _exit (panic, fatal error, deadlock,
// SIGQUIT; panic.cpp's die): write the trace if one runs, best effort.
void trace_dying();

// trace_max_chunks: the cap of each buffer, in 64 KiB chunks (trace.cpp).
// Tests lower it to see the drop path.
extern std::atomic<std::uint32_t> trace_max_chunks;

// --- between trace.cpp and trace_json.cpp ---

// TraceRec: one recorded event.
struct TraceRec {
  std::int64_t ts;  // nanotime()
  std::uint64_t a, b, c;
  const char* s;      // a static string (wait reasons are literals)
  std::int32_t lane;  // M id, kLaneSysmon or kLaneOutside
  std::uint32_t seq;  // the buffer's count: the order of one thread's records
  std::int32_t p;     // the emitting P, -1 none
  TraceEv ev;
};

// trace_write_json writes recs (sorted here) as Chrome trace-event JSON to
// f. begin/end: the trace's bounds (nanotime); lost: events dropped at the
// cap. Returns false if a write failed.
bool trace_write_json(std::FILE* f, TraceRec* recs, std::size_t n, std::int64_t begin, std::int64_t end,
                      std::uint64_t lost);

}  // namespace gort::rt
