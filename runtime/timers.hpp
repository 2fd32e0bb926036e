// timers.hpp: runtime timers (Go's time.go): per-P heaps of Timers, each
// firing a function at or after its `when`.
//
// Each P keeps a min-heap of its timers ordered by `when`, under its own
// timers_mu, and publishes the earliest `when` in timer0_when (0 = none), so
// that the scheduler can test "any timer due?" with one atomic load.
// Timers run:
//  - in schedule(), for the M's own P, before picking a fiber;
//  - in findrunnable(), for every P with a due timer: a P that is idle, or
//    held by an M that has not started running yet, has its timers run by
//    whichever M looks first;
//  - by the M asleep in the timed wait (sched.poller, mstart.cpp), woken when
//    the earliest timer of all Ps is due.
// A timer function runs on g0 with no lock held; it must not block (readying
// a G is what it is for).
//
// Stale fires: `seq` is passed to `f`, so an owner that re-arms a timer can
// ignore a fire meant for an older arming (Go issue 35532; used by deadlines).
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::rt {

struct P;

struct Timer {
  std::int64_t when = 0;  // nanotime() at which to fire
  void (*f)(void* arg, std::uint64_t seq) = nullptr;
  void* arg = nullptr;
  std::uint64_t seq = 0;
  // Owned by the heap holding the timer (guarded by that P's timers_mu):
  std::atomic<P*> pp{nullptr};  // P whose heap holds it; null = not pending
  std::int32_t idx = -1;        // index in that heap
};

// addtimer arms t on the current M's P (which must exist). If t is earlier
// than the poller's wake-up time, the poller is woken to sleep less.
void addtimer(Timer* t);

// deltimer disarms t; returns false if it was not pending (already fired).
bool deltimer(Timer* t);

// checktimers runs pp's timers that are due at `now` and returns the earliest
// remaining `when` (0 = none).
std::int64_t checktimers(P* pp, std::int64_t now);

// earliest_timer is the earliest `when` over all Ps (0 = none).
std::int64_t earliest_timer();

}  // namespace gort::rt
