// blocking.cpp: gort::blocking: a bounded pool of plain OS threads that run
// blocking calls while the calling fibers park (see <gort/blocking.hpp>).
//
// The pool's threads are not Ms: they never hold a P or run a fiber. A call
// goes through the park protocol (proc.cpp): the fiber parks with
// gopark(submit, ...), and submit, on g0 once the fiber is off its stack,
// queues the call and counts it in sched.nexternal. A worker runs it, takes
// it out of nexternal, and ready()s the fiber (from a thread without a P:
// the global runq and wakep). So a worker can never resume a fiber that is
// still on its way out, and the deadlock check does not fire while a call is
// in flight.
//
//   fiber            g0 (submit)             worker
//   gopark --------> queue.push(c)
//                    nexternal++
//                    notify / new worker --> c = queue.pop()
//                                            c->fn(c->arg)   (the blocking call)
//                                            nexternal--
//   <------------------------------------- ready(c->gp)
//
// Threads are made on demand while more calls wait than idle threads, up to
// max_threads ($GORT_BLOCKING_THREADS, default 64); beyond that calls wait
// in FIFO order. A thread idle for kIdleExit (10 s) leaves. At the end of a
// run (blocking_stop, run.cpp, before the Ms stop and the run's state is
// freed) idle threads are joined; a thread still inside a call is detached
// and marked orphan: when the call returns it wakes nobody and exits (its
// fiber was abandoned with the run).
//
// Invariants (all under Pool::mu):
//  - a BlockingCall lives on its parked fiber's stack; once a worker has
//    ready()d the fiber it never touches the call again.
//  - readying counts workers between dropping mu and returning from ready();
//    blocking_stop waits for it to reach 0, so no ready() runs once the run's
//    state may be freed.
//  - an orphan worker touches nothing but the pool after its call returns.
//  - the Pool itself is never freed (orphans may outlive the run).
#include <gort/blocking.hpp>

#include "procs.hpp"
#include "sched.hpp"
#include "trace.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace gort::rt {

namespace {

constexpr auto kIdleExit = std::chrono::seconds(10);

struct BlockingCall {
  void (*fn)(void*);
  void* arg;
  G* gp;
  bool run_inline = false;  // the pool could make no thread: the fiber runs fn itself
};

struct Worker {
  std::thread thread;
  bool busy = false;
  bool orphan = false;    // the run ended: exit without waking anyone
  bool detached = false;  // orphaned while busy: deletes itself when done
};

struct Pool {
  std::mutex mu;
  std::condition_variable work;     // idle workers wait for calls
  std::condition_variable drained;  // blocking_stop waits for readying == 0
  std::deque<BlockingCall*> queue;  // FIFO
  std::vector<Worker*> workers;     // this run's
  std::size_t idle = 0;             // workers waiting on `work`
  int readying = 0;
  std::size_t max_threads = 64;
  bool running = false;  // between blocking_start and blocking_stop
};

// pool: process-wide and never freed (an orphan may outlive every run).
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

void forget(Pool& pl, Worker* w) {  // mu held
  for (auto it = pl.workers.begin(); it != pl.workers.end(); ++it) {
    if (*it == w) {
      pl.workers.erase(it);
      return;
    }
  }
}

void worker_main(Worker* w) {
  Pool& pl = pool();
  std::unique_lock lk(pl.mu);
  for (;;) {
    while (!w->orphan && pl.queue.empty()) {
      pl.idle++;
      const bool timed_out = pl.work.wait_for(lk, kIdleExit) == std::cv_status::timeout;
      pl.idle--;
      if (timed_out && !w->orphan && pl.queue.empty()) {
        forget(pl, w);  // idle too long: leave
        w->thread.detach();
        delete w;
        return;
      }
    }
    if (w->orphan) break;
    BlockingCall* c = pl.queue.front();
    pl.queue.pop_front();
    w->busy = true;
    lk.unlock();
    c->fn(c->arg);
    lk.lock();
    w->busy = false;
    if (w->orphan) break;  // the run ended while fn ran: its fiber is abandoned
    G* gp = c->gp;         // c is gone once gp runs
    pl.readying++;
    lk.unlock();
    trace_ev(nullptr, TraceEv::BlockingLeave, gp->goid);
    S().nexternal.fetch_sub(1);
    ready(gp);
    lk.lock();
    if (--pl.readying == 0) pl.drained.notify_all();
  }
  if (w->detached) delete w;  // else blocking_stop joins and deletes us
}

// submit is the park commit of blocking_call (on g0, gp off its stack).
bool submit(G* gp, void* arg) {
  auto* c = static_cast<BlockingCall*>(arg);
  if (tracing()) trace_emit(getm(), TraceEv::BlockingEnter, gp->goid);
  Pool& pl = pool();
  std::lock_guard lk(pl.mu);
  if (!pl.running) return true;  // the run is ending: park for good, abandoned with the rest
  pl.queue.push_back(c);
  S().nexternal.fetch_add(1);
  if (pl.queue.size() <= pl.idle) {
    pl.work.notify_one();
    return true;
  }
  if (pl.workers.size() >= pl.max_threads) return true;  // all busy: wait in line
  auto* w = new Worker;
  try {
    w->thread = std::thread(worker_main, w);
  } catch (const std::system_error& e) {
    delete w;
    if (!pl.workers.empty()) return true;  // a busy worker will get to it
    // No thread at all: the fiber makes the call itself, blocking its M.
    std::fprintf(stderr, "gort: blocking: cannot start a pool thread (%s); calling inline\n", e.what());
    pl.queue.pop_back();
    S().nexternal.fetch_sub(1);
    c->run_inline = true;
    return false;
  }
  pl.workers.push_back(w);
  return true;
}

}  // namespace

void blocking_start() {
  Pool& pl = pool();
  const std::size_t max = static_cast<std::size_t>(default_blocking_threads());
  std::lock_guard lk(pl.mu);
  pl.max_threads = max;
  pl.running = true;
}

void blocking_stop() {
  Pool& pl = pool();
  std::vector<Worker*> join;
  {
    std::unique_lock lk(pl.mu);
    pl.running = false;
    pl.drained.wait(lk, [&] { return pl.readying == 0; });
    pl.queue.clear();  // their fibers are abandoned with the run
    for (Worker* w : pl.workers) {
      w->orphan = true;
      if (w->busy) {
        w->detached = true;
        w->thread.detach();
      } else {
        join.push_back(w);
      }
    }
    pl.workers.clear();
    pl.work.notify_all();
  }
  for (Worker* w : join) {
    w->thread.join();
    delete w;
  }
}

}  // namespace gort::rt

bool gort::detail::blocking_call(void (*fn)(void*), void* arg) {
  using namespace gort::rt;
  G* gp = getg();
  if (!gp) return false;
  BlockingCall c{fn, arg, gp};
  gopark(submit, &c, "blocking");
  if (c.run_inline) fn(arg);
  return true;
}
