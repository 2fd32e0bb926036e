// gort/time.hpp: timers as channels (Go's time.After and time.Ticker).
//
//   gort::select(gort::on_recv(results, handle),
//                gort::on_recv(gort::after(2s), [&] { timed_out = true; }));
//
//   gort::Ticker tick(100ms);
//   for (;;) { tick.c.recv(); ... }   // every 100 ms
//   tick.stop();
//
// The channels have a buffer of one, as Go's: a tick that finds the previous
// one still unread is dropped, so a slow receiver sees fewer ticks, never a
// backlog. The runtime's timers fire them (runtime/timers.cpp); a pending
// one costs a heap entry, no thread and no CPU.
#pragma once

#include <gort/chan.hpp>

#include <chrono>

namespace gort {

using Clock = std::chrono::steady_clock;

namespace detail {
void* timer_chan_start(hchan* c, Clock::duration first, Clock::duration period);
void timer_chan_stop(void* t);
}  // namespace detail

// after returns a channel that receives the time once, at least d from now.
// Call it from a fiber.
inline Chan<Clock::time_point> after(Clock::duration d) {
  Chan<Clock::time_point> c(1);
  detail::timer_chan_start(c.raw(), d, Clock::duration::zero());
  return c;
}

// Ticker sends the time on `c` every `period` until stopped (Go's
// time.NewTicker). Destroying a Ticker stops it.
class Ticker {
 public:
  explicit Ticker(Clock::duration period) : c(1), t_(detail::timer_chan_start(c.raw(), period, period)) {}
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  ~Ticker() { stop(); }
  void stop() {
    if (t_) detail::timer_chan_stop(t_);
    t_ = nullptr;
  }

  Chan<Clock::time_point> c;

 private:
  void* t_;
};

}  // namespace gort
