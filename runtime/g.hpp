// g.hpp: G, a fiber (Go's g, runtime2.go), and its states.
//
// A G is a closure to run, a stack, the context saved on it, and scheduling
// links. Gs are never freed while a run lasts: a dead G goes to a free list
// (its P's gfree, then the global one) and the next spawn reuses it. allgs
// lists every G ever made (for stats and, later, the fiber dump).
//
// A G gets its stack when it first runs, not when it is spawned (gostart,
// proc.cpp), and gives it back when it ends: a million spawned-but-not-yet-
// run fibers then cost a million small Gs, not a million stacks, and the
// stacks in use stay few and hot in the cache. The closure is kept inside the
// G when it fits (kInlineClosure); a larger one is built at the top of a
// stack bound at spawn time.
//
// Fiber states, and who owns the G and its stack in each. A transition is
// made only by the owner, with one exception (ready: Waiting -> Runnable is
// made by whoever wakes the G, after the park committed):
//
//   Idle      on a free list (gfree), no stack.           owner: the free list
//   Runnable  on a run queue (a P's runq/runnext or the   owner: the queue
//             global runq), waiting for an M. Has a stack
//             if it ran before (or its closure is large).
//   Running   executing on an M; m->curg == this G.       owner: that M
//   Waiting   parked (sleep, WaitGroup, later chan/IO);   owner: the wait queue
//             on no run queue; stack suspended.           or timer that holds it
//   Dead      finished; the next context on the M that    owner: that M
//             ran it (g0, or the P's next G: goexit's
//             fast path) returns its stack to the P's
//             cache and the G to gfree (goexit0).
//
//   go() -> Idle -> Runnable -> Running -> Dead -> Idle
//                      ^           |
//                      |           +--> Waiting --(ready)--+
//                      +--(yield)--+                       |
//                      +-----------------------------------+
#pragma once

#include "context.hpp"
#include "stack.hpp"
#include "timers.hpp"

#include <atomic>
#include <cstdint>

namespace gort::rt {

struct M;

// kInlineClosure: closures up to this size live inside the G. 64 bytes hold
// a lambda capturing eight pointers, or a function and a few arguments.
inline constexpr std::size_t kInlineClosure = 64;

enum class GStatus : std::uint8_t { Idle, Runnable, Running, Waiting, Dead };

const char* gstatus_name(GStatus s);

struct G {
  Context ctx;                 // suspended state while not Running; ctx.sp null = not started
  Stack stack;                 // bound by gostart (or at spawn, for a large closure)
  std::size_t stack_size = 0;  // the size this fiber asked for
  std::atomic<GStatus> status{GStatus::Idle};
  bool is_main = false;              // the fiber gort::run started; its end ends the run
  std::uint32_t spawn_line = 0;      // where go() was called, for dumps: line...
  std::uint64_t goid = 0;            // fiber id, gort::fiber_id(); unique per process
  G* schedlink = nullptr;            // link in a run queue or free list
  const char* spawn_file = nullptr;  // ...and file

  // What the fiber runs: entry(closure). closure points into inline_closure
  // or at the top of the stack.
  void (*entry)(void*) = nullptr;
  void* closure = nullptr;
  alignas(16) unsigned char inline_closure[kInlineClosure];

  // While Waiting: why (for dumps: an atomic, as they read it from another
  // thread), and the link of the wait queue holding it.
  std::atomic<const char*> waitreason{nullptr};
  std::int64_t waitsince = 0;  // nanotime_coarse() when it parked (for dumps)
  G* waitlink = nullptr;
  // Channels (chan.cpp, select.cpp): the sudog that completed this G's wait,
  // set by the waker before ready(); and, while the G waits in a select, the
  // flag the first waker claims (CAS 0 -> 1) so that no second channel wakes it.
  void* param = nullptr;
  std::atomic<std::uint32_t> selectdone{0};

  Timer timer;  // sleep_until's timer
};

// casgstatus moves gp from `from` to `to`, checking (in debug and sanitizer
// builds, GORT_DEBUG_CHECKS) that gp was in `from`: a wrong transition is a
// runtime bug, reported as a fatal error.
void casgstatus(G* gp, GStatus from, GStatus to);

// prefetch_g asks for the first four cache lines of gp, which is about to
// run or be reused: a G waiting in a queue or free list was last touched long
// ago or on another core, and a pointer chase cannot overlap its misses.
inline void prefetch_g(const G* gp) {
  auto* p = reinterpret_cast<const char*>(gp);
  for (int i = 0; i < 256; i += 64) __builtin_prefetch(p + i, 1);
}

// GFreeBatch: up to kGfreeBatch dead Gs, as an array (a P's free list, and
// the global one's unit of exchange). An array, not a list through the Gs:
// taking the next G reads no G, so its cache misses can be prefetched ahead.
inline constexpr std::uint32_t kGfreeBatch = 32;
struct GFreeBatch {
  G* g[kGfreeBatch];
  std::uint32_t n = 0;
};

// GQueue: an intrusive FIFO of Gs linked through schedlink (no ownership of
// its own: the caller's lock protects it).
struct GQueue {
  G* head = nullptr;
  G* tail = nullptr;
  std::uint32_t size = 0;
  bool empty() const { return head == nullptr; }
  void push_back(G* gp) {
    gp->schedlink = nullptr;
    if (tail)
      tail->schedlink = gp;
    else
      head = gp;
    tail = gp;
    size++;
  }
  G* pop_front() {
    G* gp = head;
    if (!gp) return nullptr;
    head = gp->schedlink;
    if (!head) tail = nullptr;
    gp->schedlink = nullptr;
    size--;
    return gp;
  }
};

}  // namespace gort::rt
