// gort/trace.hpp: the execution tracer (Go's runtime/trace, the scheduler
// part): what every fiber and M did, when, and who woke whom, written as a
// Chrome trace-event JSON file that Perfetto (ui.perfetto.dev) and
// chrome://tracing open.
//
// Two ways to turn it on:
//  - GORT_TRACE=file: gort::run traces the whole run and writes the file
//    when it returns;
//  - from code, inside a run: trace::start(path) ... trace::stop().
// A trace still running when gort::run returns is stopped and written then;
// a process that dies of a panic, a fatal error, a deadlock or SIGQUIT
// writes it too, before it exits (best effort). One trace at a time.
//
// The file: one lane (tid) per M, named "M<id>", a lane 1000 "sysmon" and a
// lane 1002 "outside" (the blocking pool's threads, and any thread that is
// not an M). A fiber running is a complete event "G<id>" on its M's lane,
// whose args say its P and why it stopped (block with the wait reason,
// yield, exit, preempted; running if the trace ended first). Instants mark
// create, unblock, steal, park M, unpark M, netpoll, blocking enter and
// leave, and sysmon's handoff; flow arrows join a wake-up to the start of
// the fiber it woke, and a steal to the start of the stolen fiber.
// docs/design.md (5j) lists every field.
//
// Off, the tracer costs each scheduler event one load and a branch. Each
// P buffers at most 16 MiB of events (about 300,000); beyond that events
// are dropped and counted in the file's otherData.lost_events.
#pragma once

#include <string>

namespace gort::trace {

// start begins a trace written to path when it stops. The file is created
// (truncated) now. Returns false, with errno set, if a trace is already
// running (EBUSY), no gort::run is active (EINVAL), or the file cannot be
// created. Call it from a fiber (or any thread, while a run is active).
bool start(const std::string& path);

// stop ends the trace and writes its file, on the calling thread (a fiber
// calling it blocks its M for the write: tens of milliseconds for a few
// MB). Returns false if no trace was running or the write failed (the
// error is also printed on stderr).
bool stop();

}  // namespace gort::trace
