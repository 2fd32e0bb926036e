// p.hpp: P, a logical processor (Go's p, runtime2.go), and its local run queue.
//
// A P is what an M must hold to run fibers. There are exactly `procs` Ps
// (GORT_MAXPROCS), so at most `procs` fibers run at once however many Ms
// exist. Each P owns:
//  - runq: a bounded ring of 256 runnable Gs. Lock-free: only the owner puts
//    (at tail); the owner and thieves take (at head, by CAS on runqhead).
//  - runnext: one G that runs before the runq. A G readied by the running G
//    goes here, so a ping-pong pair runs back to back on one P, like a
//    function call; runnext_streak bounds how often in a row it may jump the
//    queue, so that it cannot starve the runq.
//  - gfree: dead Gs to reuse, and stackcache: free default-size stacks, both
//    most recently freed last and reused first, so the next fiber gets a G
//    and a stack still in the cache (no lock: owner only).
//  - a timer heap (timers.cpp), under timers_mu.
//
// Fields are grouped by who may touch them.
#pragma once

#include "g.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace gort::rt {

inline constexpr std::uint32_t kRunqSize = 256;

enum class PStatus : std::uint8_t {
  Idle,     // on sched.pidle, no M; or in sysmon's hands between a retake and startm
  Running,  // held by an M (running a G or scheduling)
};

struct alignas(64) P {
  std::int32_t id = 0;

  // --- Any thread (atomics) ---
  std::atomic<PStatus> status{PStatus::Idle};
  // Each group on cache lines of its own: spinning Ms poll runqhead,
  // runqtail, runnext and timer0_when of every P, while the owner writes
  // runqtail, runnext and the counters at every spawn or switch.
  alignas(64) std::atomic<std::uint32_t> runqhead{0};  // thieves CAS this
  alignas(64) std::atomic<std::uint32_t> runqtail{0};  // only the owner stores
  std::atomic<G*> runq[kRunqSize];
  alignas(64) std::atomic<G*> runnext{nullptr};
  alignas(64) std::atomic<std::int64_t> timer0_when{0};  // earliest timer, 0 = none
  // runm: the M that last switched into a G on this P (execute stores it).
  // Sysmon's hint of whom to retake this P from; P::m is owner-only.
  std::atomic<M*> runm{nullptr};

  // Counters (owner writes, stats() reads).
  alignas(64) std::atomic<std::uint64_t> n_switches{0}, n_steals{0}, n_stolen{0}, n_spawned{0}, n_exited{0};

  // --- The owner M only ---
  M* m = nullptr;               // M holding this P
  std::uint32_t schedtick = 0;  // switches into a G (schedule() and yield's fast path);
                                // sysmon watches n_switches, its atomic twin
  std::uint32_t runnext_streak = 0;
  G* gfree[2 * kGfreeBatch];  // dead Gs (stackless), LIFO: gfree[ngfree - 1] is the newest
  std::uint32_t ngfree = 0;
  std::vector<Stack> stackcache;              // free default-size stacks, LIFO
  std::uint64_t goid_next = 0, goid_end = 0;  // batch of fiber ids
  P* link = nullptr;                          // sched.pidle list (under sched.mu)

  // --- Timers: guarded by timers_mu ---
  std::mutex timers_mu;
  std::vector<Timer*> timers;  // min-heap on when
};

// runqput puts gp on pp's local queue (owner only). With next, gp goes to
// runnext and the G it displaces to the tail. A full ring moves half of
// itself to the global queue.
void runqput(P* pp, G* gp, bool next);

// runqget takes the next G of pp (owner only): runnext first, unless it
// has jumped the queue too often in a row.
G* runqget(P* pp);

// runqgrab takes about half of pp's Gs into batch (any thread). With
// steal_runnext, pp's runnext may be taken too. Returns how many.
std::uint32_t runqgrab(P* pp, G** batch, bool steal_runnext);

// runqlen is pp's queue length including runnext (racy: for stats).
std::uint32_t runqlen(const P* pp);
bool runqempty(const P* pp);

// runqfull: pp's ring has no free slot (owner only: thieves only free slots).
inline bool runqfull(const P* pp) {
  return pp->runqtail.load(std::memory_order_relaxed) - pp->runqhead.load(std::memory_order_relaxed) >=
         kRunqSize;
}

}  // namespace gort::rt
