// mutex.cpp: Mutex's slow paths (see <gort/mutex.hpp> for the two modes and
// the state word; Go's sync/mutex.go, lockSlow and unlockSlow).
//
// Invariants of state_:
//  - The waiter count is the number of fibers that counted themselves in
//    (lock_slow's CAS) and were not yet woken, less any woken by an unlock
//    that already took them out of the count. Each unlock that takes one out
//    releases exactly one token on sema_, so a counted waiter always gets
//    woken, even if the release comes first (sema.hpp banks it).
//  - In starvation mode the mutex is owned (by a fiber or by the hand-over
//    in flight) and there is at least one waiter; kLocked may be clear only
//    while a hand-over is in flight, and then kWoken is clear too.
//  - kWoken is set by at most one fiber at a time and cleared by that fiber
//    (a woken waiter, or a spinner that set it) in its next successful CAS.
#include <gort/fiber.hpp>
#include <gort/mutex.hpp>

#include "note.hpp"
#include "panic.hpp"
#include "sched.hpp"

#include <exception>
#include <stdexcept>
#include <thread>

namespace gort {

// Not `using namespace gort::rt`: rt::Mutex (the runtime's lock) would make
// the name Mutex ambiguous here.
using rt::cpu_relax;
using rt::fatal_error;
using rt::getg;
using rt::getm;
using rt::M;
using rt::nanotime;
using rt::runqempty;
using rt::S;
using rt::Sched;
using rt::throw_outside_fiber;

namespace {

// kStarvationNs: a waiter that waited this long switches the mutex to
// starvation mode. 1 ms, as Go: long enough that normal mode's barging
// rarely trips it, short enough to bound the tail.
constexpr std::int64_t kStarvationNs = 1'000'000;

// kActiveSpin, kSpinPauses: a would-be locker spins up to kActiveSpin times,
// kSpinPauses cpu_relax each, before it parks (Go's active_spin and
// active_spin_cnt). Spinning pays only when the holder is running on another
// core and will let go within about a microsecond.
constexpr int kActiveSpin = 4;
constexpr int kSpinPauses = 30;

// can_spin: Go's sync_runtime_canSpin. Spin only a few times, only with
// several CPUs and Ps, only if some other P is running (it may be the
// holder), and only if nothing else is waiting to run on this P: the spinner
// holds it meanwhile.
bool can_spin(int iter) {
  static const unsigned ncpu = std::thread::hardware_concurrency();
  if (iter >= kActiveSpin || ncpu <= 1) return false;
  Sched& s = S();
  if (s.procs <= s.npidle.load(std::memory_order_relaxed) + s.nmspinning.load(std::memory_order_relaxed) + 1)
    return false;
  // m->p read without a pin (sysmon.hpp): only as a hint. If sysmon took
  // the P meanwhile it is another M's now, and runqempty reads only atomics.
  M* m = getm();
  return m && m->p && runqempty(m->p);
}

void do_spin() {
  for (int i = 0; i < kSpinPauses; i++) cpu_relax();
}

}  // namespace

void Mutex::lock_slow() {
  if (!getg()) {
    if (try_lock()) return;
    throw_outside_fiber("gort::Mutex::lock");
  }
  std::int64_t wait_start = 0;  // when this fiber first parked; 0: not yet
  bool starving = false;        // this fiber waited more than kStarvationNs
  bool awoke = false;           // this fiber set kWoken, or was woken with it set
  int iter = 0;
  std::uint32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Spin while the mutex is held in normal mode (in starvation mode it
    // goes to a waiter, never to us). Set kWoken if we can, so that an
    // unlock meanwhile does not wake a waiter we are about to beat.
    if ((old & (kLocked | kStarving)) == kLocked && can_spin(iter)) {
      if (!awoke && !(old & kWoken) && (old >> kWaiterShift) != 0 &&
          state_.compare_exchange_weak(old, old | kWoken, std::memory_order_relaxed))
        awoke = true;
      do_spin();
      iter++;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    std::uint32_t next = old;
    if (!(old & kStarving)) next |= kLocked;  // newcomers do not take a starving mutex
    if (old & (kLocked | kStarving)) next += 1u << kWaiterShift;
    // Switch to starvation mode, unless the mutex was just unlocked: unlock
    // expects a starving mutex to have waiters, and we would not be one.
    if (starving && (old & kLocked)) next |= kStarving;
    if (awoke) {
      if (!(next & kWoken)) fatal_error("sync: inconsistent mutex state (kWoken lost)");
      next &= ~kWoken;
    }
    if (!state_.compare_exchange_weak(old, next, std::memory_order_acq_rel, std::memory_order_relaxed))
      continue;                                  // old was reloaded
    if (!(old & (kLocked | kStarving))) return;  // we took it
    // Park. A fiber that was woken and lost goes back to the front.
    bool lifo = wait_start != 0;
    if (!wait_start) wait_start = nanotime();
    sema_.acquire(lifo, "Mutex.lock");
    starving = starving || nanotime() - wait_start > kStarvationNs;
    old = state_.load(std::memory_order_relaxed);
    if (old & kStarving) {
      // Handed over: we own the mutex, but kLocked is clear and we are
      // still counted as a waiter. Fix both in one add.
      if ((old & (kLocked | kWoken)) || (old >> kWaiterShift) == 0)
        fatal_error("sync: inconsistent mutex state (starving)");
      std::uint32_t delta = kLocked - (1u << kWaiterShift);  // wraps: an add of a negative
      // Leave starvation mode if we did not starve, or are the last waiter:
      // staying in it would make two fibers take turns in lock-step, with a
      // park and a wake-up per turn, forever.
      if (!starving || (old >> kWaiterShift) == 1) delta -= kStarving;
      state_.fetch_add(delta, std::memory_order_acq_rel);
      return;
    }
    awoke = true;  // the unlock that woke us set kWoken for us
    iter = 0;
  }
}

void Mutex::unlock_slow() {
  std::uint32_t old = state_.load(std::memory_order_relaxed);
  std::uint32_t next;
  do {
    if (!(old & kLocked)) throw std::logic_error("sync: unlock of unlocked mutex");
    next = old - kLocked;
  } while (!state_.compare_exchange_weak(old, next, std::memory_order_acq_rel, std::memory_order_relaxed));
  if (next == 0) return;
  if (next & kStarving) {
    // Hand the mutex to the first waiter: kLocked stays clear, but
    // kStarving keeps newcomers out until it sets kLocked. Then yield so
    // that it runs now (it is in our P's runnext) rather than after us;
    // not while an exception unwinds (the C++ runtime keeps the exceptions
    // in flight per thread, and a fiber may come back on another thread).
    sema_.release();
    if (getg() && std::uncaught_exceptions() == 0) yield();
    return;
  }
  old = next;
  for (;;) {
    // Nobody to wake, or someone is already awake or has taken the mutex.
    // (A kStarving seen here was set after our unlock, by a waiter that will
    // be handed the mutex by some later unlock, not by us.)
    if ((old >> kWaiterShift) == 0 || (old & (kLocked | kWoken | kStarving))) return;
    next = (old - (1u << kWaiterShift)) | kWoken;  // take one waiter out, to wake
    if (state_.compare_exchange_weak(old, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      sema_.release();
      return;
    }
  }
}

}  // namespace gort
