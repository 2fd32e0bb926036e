// gort/detail/netpoll.hpp: the runtime side of the network poller, for
// net/ (internal). Go's runtime_poll* functions (runtime/netpoll.go), which
// Go's internal/poll calls; net/fd.cpp is gort's internal/poll.
//
// A PollDesc stands for one open, non-blocking fd. The caller does the I/O
// syscalls itself; the runtime only parks the calling fiber until the fd may
// be ready, the deadline passes or the descriptor is closed:
//
//   for (;;) {
//     if (auto st = netpoll::prepare(pd, Mode::Read); st != Status::Ok) return error(st);
//     n = ::read(fd, ...);
//     if (n >= 0 || errno != EAGAIN) return n;
//     if (auto st = netpoll::wait(pd, Mode::Read); st != Status::Ok) return error(st);
//   }
//
// A wake-up is a hint: after wait() returns Ok the syscall may still say
// EAGAIN (another fiber took the data, or the readiness was stale), and the
// loop simply waits again. No readiness is lost between the EAGAIN and the
// park: see netpoll.cpp.
//
// At most one fiber may wait per direction at a time (one reader and one
// writer); net/ serialises readers and writers of one conn (Go's fdMutex).
//
// Deadlines are absolute nanotime() values (CLOCK_MONOTONIC, the clock of
// std::chrono::steady_clock): 0 means none, and a deadline in the past
// makes prepare() and wait() return Timeout until it is moved.
#pragma once

#include <cstdint>

namespace gort::netpoll {

struct PollDesc;

enum class Mode : std::uint8_t { Read = 1, Write = 2, ReadWrite = 3 };

enum class Status : std::uint8_t {
  Ok,       // try the syscall (again)
  Closing,  // evict() was called: the fd is being closed (Go's ErrNetClosing)
  Timeout,  // the deadline for this direction has passed (os.ErrDeadlineExceeded)
};

// open registers fd, which must be non-blocking, with the poller. Returns
// null and sets errno if the poller cannot take it.
PollDesc* open(int fd);

// prepare checks for close and a passed deadline before a syscall.
Status prepare(PollDesc* pd, Mode mode);

// wait parks the calling fiber until fd is ready for `mode` (Read or
// Write), the deadline passes or the descriptor is evicted. Outside a fiber
// it blocks the thread with poll(2).
Status wait(PollDesc* pd, Mode mode);

// set_deadline sets the deadline for Read, Write or both; a fiber already
// waiting sees the new deadline (an earlier one may wake it at once).
void set_deadline(PollDesc* pd, std::int64_t deadline, Mode mode);

// evict marks pd closing and wakes every fiber waiting on it (Closing).
// Call before closing the fd, once no new operation can start.
void evict(PollDesc* pd);

// close unregisters pd and closes its fd, under the poller's lock, so that
// no poll works on the fd number once it is free for reuse. Returns 0 or the
// errno of close(2) (Linux frees the number either way). Nothing may be
// waiting (evict first, and let the waiters go); pd is not used again.
int close(PollDesc* pd);

// now is the clock deadlines are measured on (nanotime()).
std::int64_t now();

}  // namespace gort::netpoll
