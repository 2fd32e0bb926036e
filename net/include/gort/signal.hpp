// gort/signal.hpp: os::Signals, Go's signal.Notify for fibers (library
// gort::net): while a Signals lives, its signals no longer take their
// default action (end the process, for SIGINT, SIGTERM, SIGHUP); each
// arrival is queued, and wait() parks the calling fiber until one comes.
//
//   auto [sigs, err] = gort::os::Signals::notify({SIGINT, SIGTERM, SIGHUP});
//   gort::go([&] {
//     for (;;) {
//       auto [sig, err] = sigs.wait();      // parks this fiber only
//       if (err) return;                    // stop(): io_errc::closed
//       if (sig == SIGHUP) reload(); else shutdown();
//     }
//   });
//
// How: a handler, installed with sigaction for each signal, writes the
// signal's number into a pipe (a write(2), which is async-signal-safe);
// wait() reads the pipe through the netpoller, as a Conn reads a socket
// (Go's runtime queues signals for its signal_recv goroutine the same way).
// Arrivals queue up in the order the handler ran (the kernel picks among
// signals pending at once); if 64 KiB of them pile up unread, later ones are
// dropped, as Go drops them when a channel is full. Like every Unix signal,
// several of one kind sent at once may arrive as one.
//
// A signal belongs to at most one live Signals at a time (another notify
// for it fails with EBUSY). stop(), or destroying the Signals, puts back
// the actions the signals had before. SIGKILL and SIGSTOP cannot be caught
// (EINVAL); SIGSEGV and friends belong to the runtime's panic handler.
#pragma once

#include <gort/errors.hpp>

#include <initializer_list>
#include <memory>
#include <system_error>

namespace gort::os {

class Signals {
 public:
  Signals() noexcept;
  Signals(Signals&&) noexcept;
  Signals& operator=(Signals&&) noexcept;
  ~Signals();

  // notify starts catching sigs (Go's signal.Notify).
  static Result<Signals> notify(std::initializer_list<int> sigs);

  // wait parks until a signal arrives and returns its number; after stop()
  // it returns io_errc::closed. One fiber waits at a time.
  Result<int> wait();

  // stop restores the signals' previous actions and wakes a waiter with
  // io_errc::closed (Go's signal.Stop). A second stop returns closed.
  std::error_code stop();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace gort::os
