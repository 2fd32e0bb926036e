// mstart.cpp: Ms: start, sleep when idle, wake (Go's newm/mstart/stopm/
// startm/wakep, proc.go).
//
// An idle M sleeps on its note in stopm(), listed in sched.midle. startm()
// hands it a P (m->nextp, under sched.mu) and wakes it; if no M is idle it
// makes a new one. At most one idle M sleeps with a timeout: the poller,
// which waits for the earliest pending timer (sched.poll_until) and is woken
// early by addtimer() when an earlier timer appears. Once the netpoller is in
// use the poller waits there instead (schedule.cpp's netpoll_block), and
// stopm's sleeps are all untimed. Everything the sleeping
// M checks after waking is read under sched.mu, so a wakeup sent before the
// M slept, or a stale one, costs at most one more look.
#include "netpoll.hpp"
#include "panic.hpp"
#include "sched.hpp"
#include "timers.hpp"
#include "trace.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>

namespace gort::rt {

namespace {

// mget takes an idle M (sched.mu held).
M* mget() {
  auto& idle = S().midle;
  if (idle.empty()) return nullptr;
  M* m = idle.back();
  idle.pop_back();
  return m;
}

void mremove(M* m) {  // sched.mu held
  auto& idle = S().midle;
  idle.erase(std::remove(idle.begin(), idle.end(), m), idle.end());
}

}  // namespace

void acquirep(M* m, P* pp) {
  m->p = pp;
  pp->m = m;
  pp->status.store(PStatus::Running, std::memory_order_relaxed);
}

P* releasep(M* m) {
  P* pp = m->p;
  pp->m = nullptr;
  pp->status.store(PStatus::Idle, std::memory_order_relaxed);
  m->p = nullptr;
  return pp;
}

void wakep() {
  Sched& s = S();
  if (s.npidle.load() == 0 || s.nmspinning.load() != 0) return;
  std::int32_t zero = 0;
  if (!s.nmspinning.compare_exchange_strong(zero, 1)) return;
  startm(nullptr, true);
}

void startm(P* pp, bool spinning) {
  Sched& s = S();
  std::unique_lock lk(s.mu);
  if (!pp) pp = pidleget();
  if (!pp) {
    lk.unlock();
    if (spinning) s.nmspinning.fetch_sub(1);  // undo wakep's increment
    return;
  }
  M* nm = mget();
  if (!nm) {
    lk.unlock();
    newm(pp, spinning);
    return;
  }
  nm->spinning = spinning;
  nm->nextp = pp;
  lk.unlock();
  if (tracing())
    trace_emit(getm(), TraceEv::MUnpark, static_cast<std::uint64_t>(nm->id),
               static_cast<std::uint64_t>(pp->id));
  nm->park.wakeup();
}

void stopm(M* m, std::int64_t until) {
  Sched& s = S();
  std::unique_lock lk(s.mu);
  if (s.exiting.load()) return;
  s.midle.push_back(m);
  const bool timed = until > 0 && s.poller == nullptr;
  if (timed) {
    s.poller = m;
    s.poll_until.store(until);
  }
  lk.unlock();
  trace_ev(m, TraceEv::MPark);
  if (timed) {
    // A timer added before poll_until was published did not wake us; look.
    std::int64_t e = earliest_timer();
    if (e > 0 && e < until) until = e;
  }
  for (;;) {
    if (!timed) {
      m->park.sleep();
    } else if (std::int64_t left = until - nanotime(); left > 0) {
      m->park.sleep(left);
    }
    lk.lock();
    m->park.clear();
    if (s.poller == m) {
      s.poller = nullptr;
      s.poll_until.store(0);
    }
    if (P* pp = m->nextp) {  // startm took us off midle and handed us pp
      m->nextp = nullptr;
      lk.unlock();
      acquirep(m, pp);
      return;
    }
    if (s.exiting.load() || timed) {
      // Run over, or the timed wait ended (due, or an earlier timer came):
      // back to findrunnable without a P.
      mremove(m);
      return;
    }
    lk.unlock();  // stale wakeup: sleep again
  }
}

void wake_poller() {
  Sched* sp = sched.load(std::memory_order_acquire);
  if (!sp) return;  // no run: nobody waits
  Sched& s = *sp;
  std::lock_guard lk(s.mu);
  if (!s.poller) return;
  if (s.poller_netpoll) {
    netpoll_break();
  } else {
    s.poller->park.wakeup();
  }
}

// block_sigpipe blocks SIGPIPE on the calling M's thread for its life. As
// in Go, a fiber's write to a socket or pipe whose reader is gone fails with
// EPIPE instead of killing the process. The net layer's splice and sendfile
// (which have no MSG_NOSIGNAL) rely on it, and take a pending one after a
// short call (net/fd.cpp, without_sigpipe); a signal mask change per call
// would cost two system calls each.
static void block_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void newm(P* pp, bool spinning) {
  Sched& s = S();
  M* m = new M;
  m->nextp = pp;
  m->spinning = spinning;
  {
    std::lock_guard lk(s.mu);
    m->id = s.mcount++;
    m->rand = 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(m->id + 1);
    s.allm.push_back(m);
  }
  if (tracing())
    trace_emit(getm(), TraceEv::MUnpark, static_cast<std::uint64_t>(m->id),
               pp ? static_cast<std::uint64_t>(pp->id) : ~0ull);
  m->thread = std::thread(mstart, m);
}

void mstart(M* m) {
  setm(m);
  trace_ev(m, TraceEv::MStart);
  ctx_init_thread(&m->g0);
  void* altstack = sigaltstack_init();
  block_sigpipe();
  P* pp = m->nextp;
  m->nextp = nullptr;
  acquirep(m, pp);
  schedule_loop(m);
  // The run is over (run.cpp joins us). Touch nothing shared after `stopped`.
  sigaltstack_fini(altstack);
  setm(nullptr);
  m->stopped.store(true, std::memory_order_release);
}

}  // namespace gort::rt
