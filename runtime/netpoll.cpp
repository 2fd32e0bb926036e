// netpoll.cpp: poll descriptors (Go's netpoll.go, the pollDesc half): a
// fiber that would block on an fd parks here until the backend
// (netpoll_ev.cpp) reports the fd ready, its deadline passes, or the fd is
// being closed.
//
// The park protocol, per direction of a PollDesc (all under pd->mu):
//   wait:   if `ready` is set, consume it and return (retry the syscall).
//           Else make sure the watcher is armed, then park; the commit, on
//           g0, looks again (ready, closing, deadline) and only then records
//           the fiber as `waiter`.
//   ready:  the backend takes `waiter` and returns it to be run; with no
//           waiter it sets `ready`, so a fiber between its EAGAIN and its
//           commit does not park (that is the lost-wake-up case).
//   close:  evict sets `closing` and wakes both waiters (Closing).
//   timer:  a deadline timer sets deadline = -1 and wakes the waiter
//           (Timeout), unless its seq is not the direction's current one:
//           then the deadline was moved since it was armed, and the fire is
//           stale (Go issue 35532).
// A fiber woken from wait returns Ok, Closing or Timeout as pd says then;
// Ok is a hint, and the caller's syscall may say EAGAIN again.
#include "netpoll.hpp"

#include "panic.hpp"
#include "sched.hpp"
#include "sysmon.hpp"
#include "trace.hpp"

#include <poll.h>

#include <mutex>

namespace gort::rt {
namespace {

// The cache of free PollDescs (Go's pollCache). Never shrinks.
Mutex cache_mu;
PollDesc* cache_head = nullptr;

std::atomic<std::int32_t> nwaiters{0};

using Dir = PollDesc::Dir;

netpoll::Status check(PollDesc* pd, int i) {  // pd->mu held
  if (pd->closing) return netpoll::Status::Closing;
  if (pd->dir[i].deadline < 0) return netpoll::Status::Timeout;
  return netpoll::Status::Ok;
}

// take_waiter removes the waiter of direction i (pd->mu held).
G* take_waiter(Dir& d) {
  G* gp = d.waiter;
  if (gp) {
    d.waiter = nullptr;
    nwaiters.fetch_sub(1, std::memory_order_relaxed);
    S().nexternal.fetch_sub(1, std::memory_order_relaxed);
  }
  return gp;
}

template <int I>
void deadline_fired(void* arg, std::uint64_t seq) {
  auto* pd = static_cast<PollDesc*>(arg);
  G* gp = nullptr;
  {
    std::lock_guard lk(pd->mu);
    Dir& d = pd->dir[I];
    if (seq != d.seq || d.deadline <= 0) return;  // stale: moved, cleared or closed since
    d.deadline = -1;
    gp = take_waiter(d);
  }
  if (gp) ready(gp);
}

struct WaitArgs {
  PollDesc* pd;
  int i;
};

bool wait_commit(G* gp, void* arg) {
  auto* wa = static_cast<WaitArgs*>(arg);
  PollDesc* pd = wa->pd;
  std::lock_guard lk(pd->mu);
  Dir& d = pd->dir[wa->i];
  if (check(pd, wa->i) != netpoll::Status::Ok) return false;
  if (d.ready) {  // readiness came between the EAGAIN and here
    d.ready = false;
    return false;
  }
  if (!d.armed) return false;  // cannot happen (see netpollready); retrying is safe
  d.waiter = gp;
  nwaiters.fetch_add(1, std::memory_order_relaxed);
  S().nexternal.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// wait_thread is wait() for a thread that is not running a fiber: poll(2)
// in slices, so that a close or a deadline change is seen within one.
netpoll::Status wait_thread(PollDesc* pd, int i) {
  constexpr std::int64_t kSliceNs = 50'000'000;
  for (;;) {
    std::int64_t left = kSliceNs;
    {
      std::lock_guard lk(pd->mu);
      Dir& d = pd->dir[i];
      if (d.deadline > 0 && d.deadline <= nanotime()) d.deadline = -1;
      if (auto st = check(pd, i); st != netpoll::Status::Ok) return st;
      if (d.deadline > 0) left = std::min(left, d.deadline - nanotime());
    }
    pollfd p{pd->fd, static_cast<short>(i ? POLLOUT : POLLIN), 0};
    int ms = static_cast<int>((left + 999'999) / 1'000'000);
    if (::poll(&p, 1, ms) != 0) return netpoll::Status::Ok;  // ready, or an error the syscall will report
  }
}

}  // namespace

bool netpollready(PollDesc* pd, int i, GQueue* out, bool blocking) {
  G* gp;
  bool keep = true;
  {
    std::lock_guard lk(pd->mu);
    Dir& d = pd->dir[i];
    gp = take_waiter(d);
    if (gp) {
      // A write watcher would fire at every poll from now on (a socket is
      // nearly always writable): stop it until the next EAGAIN.
      if (i == 1) keep = false;
    } else if (!d.ready) {
      d.ready = true;  // for the next wait
    } else if (blocking) {
      // Fired again and nobody consumed the first: an idle M would spin on
      // it. Stop; the next wait re-arms (the level is not lost: `ready`).
      keep = false;
    }
    if (!keep) d.armed = false;
  }
  if (gp) {
    casgstatus(gp, GStatus::Waiting, GStatus::Runnable);
    if (tracing()) trace_emit(getm(), TraceEv::GoUnblock, gp->goid, 0);
    out->push_back(gp);
  }
  return keep;
}

std::int32_t netpoll_waiters() { return nwaiters.load(std::memory_order_relaxed); }

}  // namespace gort::rt

namespace gort::netpoll {

using namespace gort::rt;

PollDesc* open(int fd) {
  if (!netpoll_inited()) {
    netpoll_init();
    wake_poller();  // a timed wait on a note moves into the poller
  }
  PollDesc* pd;
  {
    std::lock_guard lk(cache_mu);
    pd = cache_head;
    if (pd) cache_head = pd->next_free;
  }
  if (!pd) pd = new PollDesc;
  if (!pd->bk) pd->bk = netpoll_backend_new(pd);
  std::lock_guard lk(pd->mu);
  pd->fd = fd;
  pd->closing = false;
  pd->next_free = nullptr;
  for (Dir& d : pd->dir) {
    d.waiter = nullptr;
    d.ready = false;
    d.armed = false;
    d.deadline = 0;
    d.seq++;  // never reset: a timer of the previous fd stays stale
  }
  return pd;
}

Status prepare(PollDesc* pd, Mode mode) {
  std::lock_guard lk(pd->mu);
  for (int i = 0; i < 2; i++) {
    if (!(static_cast<int>(mode) & (1 << i))) continue;
    if (auto st = check(pd, i); st != Status::Ok) return st;
    pd->dir[i].ready = false;  // the syscall will look for itself
  }
  return Status::Ok;
}

Status wait(PollDesc* pd, Mode mode) {
  const int i = dir_index(mode);
  G* gp = getg();
  if (!gp) return wait_thread(pd, i);
  bool armed;
  {
    std::lock_guard lk(pd->mu);
    if (auto st = check(pd, i); st != Status::Ok) return st;
    Dir& d = pd->dir[i];
    if (d.ready) {
      d.ready = false;
      return Status::Ok;
    }
    armed = d.armed;
  }
  if (!armed) netpoll_arm(pd, i);
  WaitArgs wa{pd, i};
  gopark(wait_commit, &wa, i ? "IO write" : "IO read");
  std::lock_guard lk(pd->mu);
  return check(pd, i);
}

void set_deadline(PollDesc* pd, std::int64_t deadline, Mode mode) {
  G* wake[2] = {nullptr, nullptr};
  // A timer goes on this M's P, which sysmon may have taken while the fiber
  // ran: get one back first (it may park, so before taking pd->mu). A thread
  // outside the runtime has no timers: wait_thread watches its deadline.
  M* m = nullptr;
  if (deadline > nanotime() && getg()) m = pin_with_p();
  {
    std::lock_guard lk(pd->mu);
    for (int i = 0; i < 2; i++) {
      if (!(static_cast<int>(mode) & (1 << i))) continue;
      Dir& d = pd->dir[i];
      deltimer(&d.timer);
      d.seq++;
      if (deadline == 0) {
        d.deadline = 0;
      } else if (deadline <= nanotime()) {
        d.deadline = -1;
        wake[i] = take_waiter(d);
      } else {
        d.deadline = deadline;
        if (m) {
          d.timer.when = deadline;
          d.timer.f = i ? deadline_fired<1> : deadline_fired<0>;
          d.timer.arg = pd;
          d.timer.seq = d.seq;
          addtimer(&d.timer);
        }
      }
    }
  }
  if (m) unpinp(m);
  for (G* gp : wake)
    if (gp) ready(gp);
}

void evict(PollDesc* pd) {
  G* wake[2];
  {
    std::lock_guard lk(pd->mu);
    pd->closing = true;
    for (int i = 0; i < 2; i++) {
      deltimer(&pd->dir[i].timer);
      pd->dir[i].seq++;
      wake[i] = take_waiter(pd->dir[i]);
    }
  }
  for (G* gp : wake)
    if (gp) ready(gp);
}

int close(PollDesc* pd) {
  {
    std::lock_guard lk(pd->mu);
    if (pd->dir[0].waiter || pd->dir[1].waiter) fatal_error("netpoll: close of a descriptor with waiters");
    pd->closing = true;
  }
  int err = netpoll_close(pd);
  std::lock_guard lk(cache_mu);
  pd->fd = -1;
  pd->next_free = cache_head;
  cache_head = pd;
  return err;
}

std::int64_t now() { return nanotime(); }

}  // namespace gort::netpoll
