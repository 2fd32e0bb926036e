// netpoll_ev.cpp: the netpoller's backend on libev (Go's netpoll_epoll.go).
// The only file that includes <ev.h>.
//
// One libev loop for the process, on epoll, made at the first open().
// libev loops are not thread-safe, so:
//  - `loop_mu` guards the loop: every ev_* call on it but ev_async_send, and
//    the `polling` flag. The watchers of a PollDesc are started and stopped
//    under it.
//  - At most one M runs the loop at a time (`polling`); an M that finds
//    another polling skips its poll (Go: only one M blocks in netpoll).
//  - A blocking poll releases loop_mu while inside epoll_wait (libev's
//    release/acquire callbacks wrap exactly that call), so other Ms can
//    start watchers meanwhile. Such a change takes effect at the loop's next
//    iteration, so whoever makes it while `polling` is set also sends the
//    loop's ev_async (`wake`): epoll_wait returns, the loop iterates, and
//    libev registers the fd before anyone can wait on it unseen.
//  - Callbacks run on the polling M with loop_mu held; they only record
//    readiness (netpollready) and collect fibers; the caller readies them
//    after unlocking.
// Why no readiness is lost: a watcher stays started while its direction is
// armed and the kernel's epoll is level-triggered, so data that arrived
// before the watcher was registered is reported at the next epoll_wait; and
// every registration made while a poll blocks wakes that poll.
#include "netpoll.hpp"

#include "panic.hpp"
#include "sched.hpp"
#include "trace.hpp"

#include <ev.h>
#include <unistd.h>

#include <cerrno>

#include <mutex>

// TSan and libev's stale events. close() frees an fd number at once, and
// another thread may get the same number from accept4 or socket before the
// polling M, back from an epoll_wait that returned an event for the old
// socket, hands that event to libev. libev sees the event's generation
// (egen) or an interest of 0 and calls epoll_ctl on the number to set the
// kernel straight: on the new socket, with no ordering TSan can see between
// that and the accept4. libev then rebuilds its kernel state (the ENOENT
// or generation path), so nothing is lost, but TSan reports a race on the fd.
// These epoll_ctl races are suppressed for every gort program built with
// TSan (only these: a frame named epoll_ctl); design.md, section 11.
#if defined(__SANITIZE_THREAD__)
#define GORT_NETPOLL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORT_NETPOLL_TSAN 1
#endif
#endif
#ifdef GORT_NETPOLL_TSAN
extern "C" const char* __tsan_default_suppressions() { return "race:epoll_ctl\n"; }
#endif

namespace gort::rt {

struct BackendFd {
  ev_io io[2];  // read, write; data = the PollDesc
};

namespace {

struct Loop {
  Mutex loop_mu;
  struct ev_loop* loop = nullptr;
  ev_async wake;          // netpoll_break
  ev_timer until;         // a blocking poll's timeout
  bool polling = false;   // an M runs the loop (loop_mu)
  bool blocking = false;  // ... and the run may block (loop_mu)
  GQueue* out = nullptr;  // where the running poll collects fibers (loop_mu)
};

Loop* L = nullptr;
std::atomic<bool> inited{false};
std::atomic<std::int64_t> lastpoll{0};
// breaks counts netpoll_break() calls. The break itself (an ev_async_send)
// is consumed by whichever M runs the loop next, which may be a busy M's
// non-blocking poll rather than the M about to block; the count lets the
// blocking one see that a break came after it decided how long to wait.
std::atomic<std::uint64_t> breaks{0};
// lasthit: when a non-blocking poll last found a fiber to run (nanotime).
std::atomic<std::int64_t> lasthit{0};
std::once_flag init_once;

void on_io(struct ev_loop*, ev_io* w, int) {
  auto* pd = static_cast<PollDesc*>(w->data);
  const int i = (w->events & EV_WRITE) ? 1 : 0;  // each watcher has one direction
  if (!netpollready(pd, i, L->out, L->blocking)) ev_io_stop(L->loop, w);
}

void on_wake(struct ev_loop*, ev_async*, int) {}  // ev_run returns: that is all
void on_until(struct ev_loop*, ev_timer*, int) {}

void release_cb(struct ev_loop*) noexcept { L->loop_mu.unlock(); }
void acquire_cb(struct ev_loop*) noexcept { L->loop_mu.lock(); }

}  // namespace

void netpoll_init() {
  std::call_once(init_once, [] {
    auto* l = new Loop;
    l->loop = ev_loop_new(unsigned(EVBACKEND_EPOLL) | unsigned(EVFLAG_NOENV) | unsigned(EVFLAG_NOSIGMASK));
    if (!l->loop) fatal_error("netpoll: cannot create the libev epoll loop");
    ev_async_init(&l->wake, on_wake);
    ev_async_start(l->loop, &l->wake);
    ev_timer_init(&l->until, on_until, 0., 0.);
    ev_set_loop_release_cb(l->loop, release_cb, acquire_cb);
    L = l;
    inited.store(true);
  });
}

bool netpoll_inited() { return inited.load(std::memory_order_acquire); }

BackendFd* netpoll_backend_new(PollDesc* pd) {
  auto* bk = new BackendFd;
  ev_io_init(&bk->io[0], on_io, -1, EV_READ);
  ev_io_init(&bk->io[1], on_io, -1, EV_WRITE);
  bk->io[0].data = bk->io[1].data = pd;
  return bk;
}

void netpoll_arm(PollDesc* pd, int i) {
  std::lock_guard lk(L->loop_mu);
  bool start;
  {
    std::lock_guard pl(pd->mu);
    start = !pd->dir[i].armed && !pd->closing;
    if (start) pd->dir[i].armed = true;
  }
  if (!start) return;
  ev_io* w = &pd->bk->io[i];
  if (w->fd != pd->fd) ev_io_set(w, pd->fd, i ? EV_WRITE : EV_READ);  // a new fd: libev re-registers
  ev_io_start(L->loop, w);
  if (L->polling) ev_async_send(L->loop, &L->wake);
}

int netpoll_close(PollDesc* pd) {
  std::lock_guard lk(L->loop_mu);
  std::lock_guard pl(pd->mu);
  for (int i = 0; i < 2; i++) {
    ev_io_stop(L->loop, &pd->bk->io[i]);  // also drops a pending, unprocessed event
    pd->dir[i].armed = false;
    // The fd number may be reused by the next open: make the watcher
    // re-register it then (ev_io_set marks it new).
    ev_io_set(&pd->bk->io[i], -1, i ? EV_WRITE : EV_READ);
  }
  return ::close(pd->fd) < 0 ? errno : 0;
}

bool netpoll(std::int64_t until, GQueue* out, std::uint64_t seen) {
  if (!netpoll_inited()) return false;
  // A non-blocking poll does not queue behind another M's: if the loop is
  // busy, someone is polling it (or starting a watcher) right now.
  std::unique_lock lk(L->loop_mu, std::defer_lock);
  if (until < 0) {
    if (!lk.try_lock()) return false;
  } else {
    lk.lock();
  }
  if (L->polling) return false;
  L->polling = true;
  L->out = out;
  int flags = EVRUN_NOWAIT;
  // A break after the caller read `seen` may have been consumed by another
  // M's poll already: do not block. (One from now on reaches this poll: no
  // other M can run the loop while `polling` is set.)
  if (until >= 0 && breaks.load() == seen) {
    lastpoll.store(0, std::memory_order_relaxed);
    flags = EVRUN_ONCE;
    if (until > 0) {
      double secs = double(until - nanotime()) / 1e9;
      if (secs <= 0) {
        flags = EVRUN_NOWAIT;
      } else {
        ev_now_update(L->loop);
        ev_timer_set(&L->until, secs, 0.);
        ev_timer_start(L->loop, &L->until);
      }
    }
  }
  L->blocking = flags != EVRUN_NOWAIT;
  const std::uint32_t before = out->size;
  ev_run(L->loop, flags);
  ev_timer_stop(L->loop, &L->until);
  L->out = nullptr;
  L->polling = false;
  const std::int64_t now = nanotime();
  lastpoll.store(now, std::memory_order_relaxed);
  if (flags == EVRUN_NOWAIT && out->size != 0) lasthit.store(now, std::memory_order_relaxed);
  // The poller's lane is the polling thread's (getm() is null for sysmon's).
  if (out->size != before && tracing())
    trace_emit(getm(), TraceEv::Netpoll, out->size - before, flags != EVRUN_NOWAIT);
  return true;
}

std::int64_t netpoll_lasthit() { return lasthit.load(std::memory_order_relaxed); }

std::int64_t netpoll_lastpoll() { return lastpoll.load(std::memory_order_relaxed); }

void netpoll_break() {
  if (!netpoll_inited()) return;
  breaks.fetch_add(1);  // before the send: see netpoll
  ev_async_send(L->loop, &L->wake);
}

std::uint64_t netpoll_breaks() { return breaks.load(); }

}  // namespace gort::rt
