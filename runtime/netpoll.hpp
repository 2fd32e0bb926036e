// netpoll.hpp: the network poller, scheduler side (Go's netpoll.go).
//
// Two halves:
//   netpoll.cpp     poll descriptors (PollDesc): which fiber waits on which
//                   fd, deadlines, close; gort/detail/netpoll.hpp is its API.
//   netpoll_ev.cpp  the backend: one libev loop (epoll) for the process. The
//                   only file that includes <ev.h>.
// The scheduler calls the backend at three places, as Go's findRunnable
// does: a non-blocking poll before stealing, a blocking poll by the one idle
// M that waits for timers (the poller, sched.poller), and sysmon's poll when
// nobody polled for a while. A poll returns the fibers it made runnable; the
// caller puts them on run queues (injectglist).
//
// Level-triggered, registered lazily, kept registered. libev offers no
// edge-triggered mode, and re-arming per wait costs an epoll_ctl (~0.4 us)
// each time, so a direction's watcher is started at the first wait that
// needs it and then left running; readiness that arrives with no fiber
// waiting sets `ready`, which the next wait consumes instead of parking.
// Only a direction that keeps firing with nobody consuming it is stopped, and
// only by the idle M's blocking poll, which would otherwise spin on it; the
// non-blocking polls of busy Ms see a level again and again while its fiber
// waits in a run queue, which costs them nothing. A write watcher is stopped
// as soon as it wakes its writer (sockets are writable nearly always, so it
// would fire at every poll).
//
// Lock order (with sched.hpp's): netpoll's loop lock (netpoll_ev.cpp) ->
// PollDesc::mu -> P.timers_mu -> sched.mu. Fibers are readied only after
// PollDesc::mu is released.
#pragma once

#include <gort/detail/netpoll.hpp>

#include "g.hpp"
#include "lock.hpp"
#include "timers.hpp"

#include <atomic>
#include <cstdint>

namespace gort::rt {

struct M;
struct BackendFd;  // netpoll_ev.cpp: the libev watchers of one PollDesc

}  // namespace gort::rt

namespace gort::netpoll {

// PollDesc: one fd registered with the poller. Allocated once and reused
// (never freed: a deadline timer that fires after the fd was closed still
// reads valid memory, and its sequence number tells it the fire is stale).
struct PollDesc {
  // Per direction (0 = read, 1 = write). Guarded by mu.
  struct Dir {
    rt::G* waiter = nullptr;    // the fiber parked on this direction
    bool ready = false;         // readiness arrived that no wait consumed
    bool armed = false;         // the libev watcher runs (also needs the loop lock to change)
    bool fired_idle = false;    // fired once with nobody waiting and ready unconsumed
    std::int64_t deadline = 0;  // 0 none, -1 passed, else nanotime()
    std::uint64_t seq = 0;      // deadline generation: a timer fire with another seq is stale
    rt::Timer timer;            // the deadline timer (f = deadline_fired)
  };

  rt::Mutex mu;  // guards everything below but `fd` and `bk`
  int fd = -1;   // fixed between open() and close()
  bool closing = false;
  Dir dir[2];
  rt::BackendFd* bk = nullptr;  // made once, on first use (netpoll_ev.cpp)
  PollDesc* next_free = nullptr;
};

inline int dir_index(Mode m) { return m == Mode::Write ? 1 : 0; }

}  // namespace gort::netpoll

namespace gort::rt {

using netpoll::PollDesc;

// --- backend (netpoll_ev.cpp) ---
void netpoll_init();    // make the loop; once per process
bool netpoll_inited();  // init has run
BackendFd* netpoll_backend_new(PollDesc* pd);
// netpoll_arm starts pd's watcher for direction i (called with the loop
// lock not held; takes it, then pd->mu). Wakes a blocked poller so that the
// new registration takes effect.
void netpoll_arm(PollDesc* pd, int i);
// netpoll_close stops pd's watchers and closes its fd, in one critical
// section of the loop lock: a poll never calls epoll_ctl on the fd number
// after it was freed (it may be another file's by then). Returns close's errno or 0.
int netpoll_close(PollDesc* pd);
// netpoll polls: until == -1 returns at once; 0 blocks until an event or
// netpoll_break(); else blocks until that nanotime(). A blocking poll does
// not block if netpoll_break() was called since netpoll_breaks() returned
// `breaks` (the caller read it before deciding how long to wait). Fibers
// made runnable are appended to *out (status Runnable). Returns false
// without polling if another M is polling (only one may: libev loops are
// single-threaded).
bool netpoll(std::int64_t until, GQueue* out, std::uint64_t breaks = 0);
void netpoll_break();            // wake a blocked netpoll (ev_async_send: any thread)
std::uint64_t netpoll_breaks();  // how many netpoll_break() calls so far
// netpoll_lastpoll: when a poll last returned (nanotime), or 0 while an M is
// blocked in one (Go's sched.lastpoll); sysmon polls if it gets old.
std::int64_t netpoll_lastpoll();
// netpoll_lasthit: when a non-blocking poll last found a ready fiber
// (nanotime, 0 never): whether I/O is flowing while Ms are busy.
std::int64_t netpoll_lasthit();

// --- readiness (netpoll.cpp), called by the backend with the loop lock held ---
// netpollready records that pd is ready for direction i; a waiting fiber is
// taken and appended to *out. `blocking`: the poll is an idle M's blocking
// one. Returns whether the watcher stays armed.
bool netpollready(PollDesc* pd, int i, GQueue* out, bool blocking);

// netpoll_waiters: fibers parked on fds (Go's netpollWaiters).
std::int32_t netpoll_waiters();

// injectglist puts the fibers of q on run queues and starts Ms for idle Ps
// (schedule.cpp).
void injectglist(M* m, GQueue* q);

}  // namespace gort::rt
