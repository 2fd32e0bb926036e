// time.cpp: channels fed by runtime timers (see <gort/time.hpp>).
//
// A TimerChan owns one runtime Timer and a handle on its channel. It is
// reference counted: one reference while the timer is armed, one held by a
// Ticker until stop(). The timer function runs on g0 (timers.cpp): it sends
// without blocking (a full buffer drops the tick) and re-arms a ticker.
// stop() and a firing timer may race on two Ms; the count makes whichever
// comes last free the TimerChan, and `stopped` keeps a ticker from re-arming
// after stop().
#include <gort/time.hpp>

#include "chan.hpp"
#include "sched.hpp"
#include "sysmon.hpp"
#include "timers.hpp"

namespace gort::detail {

namespace {

struct TimerChan {
  rt::Timer t;
  hchan* c;
  std::int64_t period;  // ns; 0 = fire once
  std::atomic<bool> stopped{false};
  std::atomic<int> refs{1};
};

void unref(TimerChan* tc, int n = 1) {
  if (tc->refs.fetch_sub(n, std::memory_order_acq_rel) != n) return;
  chan_release(tc->c);
  delete tc;
}

void fire(void* arg, std::uint64_t) {
  auto* tc = static_cast<TimerChan*>(arg);
  Clock::time_point now = Clock::now();
  chan_send_nb(tc->c, &now);
  if (tc->period > 0 && !tc->stopped.load(std::memory_order_acquire)) {
    // Next tick one period after this one was due; if we fell behind by more
    // than a period, skip ahead rather than fire a burst.
    std::int64_t next = tc->t.when + tc->period, at = rt::nanotime();
    tc->t.when = next > at ? next : at + tc->period;
    // stop() may come between our look at `stopped` and the re-arm, find
    // the timer off the heap and drop only its own reference: look again
    // after the re-arm and take the timer back. If it fired again meanwhile,
    // that fire sees `stopped` and drops the armed reference itself. A
    // reference of our own keeps tc alive across the look.
    tc->refs.fetch_add(1, std::memory_order_relaxed);
    rt::addtimer(&tc->t);  // keeps the armed reference
    // Dekker with timer_chan_stop: we store t.pp (addtimer) then load
    // `stopped`; stop stores `stopped` then loads t.pp (deltimer). Without a
    // full fence on both sides each may read the other's old value (a store
    // waits in the store buffer past the load), and the timer stays armed
    // with nobody to take it back: a leak when the run ends before it fires.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (tc->stopped.load(std::memory_order_acquire) && rt::deltimer(&tc->t)) unref(tc);
    unref(tc);  // ours
    return;
  }
  unref(tc);  // the armed reference
}

}  // namespace

void* timer_chan_start(hchan* c, Clock::duration first, Clock::duration period) {
  if (!rt::getg()) rt::throw_outside_fiber("gort timer channel");
  auto* tc = new TimerChan;
  chan_retain(c);
  tc->c = c;
  tc->period = std::chrono::duration_cast<std::chrono::nanoseconds>(period).count();
  if (tc->period > 0) tc->refs.store(2);  // armed + the Ticker's
  tc->t.when = rt::nanotime() + std::chrono::duration_cast<std::chrono::nanoseconds>(first).count();
  tc->t.f = fire;
  tc->t.arg = tc;
  // addtimer needs this M's P, which sysmon may have taken while the fiber
  // ran: pin_with_p gets one back first.
  rt::M* m = rt::pin_with_p();
  rt::addtimer(&tc->t);
  rt::unpinp(m);
  return tc;
}

void timer_chan_stop(void* t) {
  auto* tc = static_cast<TimerChan*>(t);
  tc->stopped.store(true, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the other half of fire's fence
  // The Ticker's reference, and the armed one if we disarmed it.
  unref(tc, rt::deltimer(&tc->t) ? 2 : 1);
}

}  // namespace gort::detail
