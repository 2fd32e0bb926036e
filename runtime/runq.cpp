// runq.cpp: the per-P run queue (Go's runqput/runqget/runqgrab, proc.go).
//
// The ring is single-producer (the owner) and multi-consumer (the owner and
// thieves). runqtail is written only by the owner with release order, after
// the slot; consumers read runqhead and runqtail, copy slots out, and commit
// by CAS on runqhead. A consumer whose CAS fails copied nothing for good and
// retries. A slot can be overwritten by the owner only after runqhead passed
// it, i.e. after some consumer's CAS succeeded, so a successful CAS always
// took slots that were still valid.
//
// runqget prefetches the G kPrefetchAhead places behind the one it returns:
// a queued G was made on another core (a steal, a batch from the global
// queue) or long ago, so its cache lines are cold, and the run of the Gs
// before it hides the miss.
#include "p.hpp"
#include "sched.hpp"

#include <algorithm>
#include <thread>

namespace gort::rt {

namespace {

// kMaxRunnextStreak: runnext may run this many times in a row while the
// runq has Gs waiting. Go bounds this with the time slice (a runnext G
// inherits it and sysmon preempts after 10 ms); a cooperative runtime needs a
// count. 16 keeps ping-pong pairs on the fast path, picked by judgement.
constexpr std::uint32_t kMaxRunnextStreak = 16;

// kPrefetchAhead: how far behind the G it returns runqget prefetches one.
// Six: the spawn benchmark's best (two and four were slower), by judgement
// about as many misses as a core keeps in flight.
constexpr std::uint32_t kPrefetchAhead = 6;

// runqputslow moves gp and half of the full ring to the global queue. The
// slots are copied before the CAS that gives them up, as thieves do.
bool runqputslow(P* pp, G* gp, std::uint32_t h, std::uint32_t t) {
  G* batch[GBatch::kCap];
  std::uint32_t n = (t - h) / 2;
  for (std::uint32_t i = 0; i < n; i++)
    batch[i] = pp->runq[(h + i) % kRunqSize].load(std::memory_order_relaxed);
  if (!pp->runqhead.compare_exchange_strong(h, h + n, std::memory_order_release)) return false;
  batch[n++] = gp;
  auto* b = new GBatch;
  std::copy(batch, batch + n, b->g);
  b->n = n;
  globrunqputbatch(b);
  return true;
}

}  // namespace

void runqput(P* pp, G* gp, bool next) {
  if (next) {
    G* old = pp->runnext.exchange(gp, std::memory_order_acq_rel);
    if (!old) return;
    gp = old;  // kick the old runnext to the tail
  }
  for (;;) {
    std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);
    std::uint32_t t = pp->runqtail.load(std::memory_order_relaxed);
    if (t - h < kRunqSize) {
      pp->runq[t % kRunqSize].store(gp, std::memory_order_relaxed);
      pp->runqtail.store(t + 1, std::memory_order_release);
      return;
    }
    if (runqputslow(pp, gp, h, t)) return;
    // a thief moved runqhead: the ring is no longer full; retry
  }
}

G* runqget(P* pp) {
  // runnext first, unless it keeps jumping a non-empty queue.
  // A thief may take runnext at any time: claim it by CAS, and only when it
  // is set (an unconditional exchange costs a locked instruction per pick).
  G* next = pp->runnext.load(std::memory_order_acquire);
  if (next && (pp->runnext_streak < kMaxRunnextStreak || pp->runqhead.load(std::memory_order_acquire) ==
                                                             pp->runqtail.load(std::memory_order_relaxed))) {
    if (pp->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) {
      pp->runnext_streak++;
      return next;
    }
  }
  pp->runnext_streak = 0;
  for (;;) {
    std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);
    std::uint32_t t = pp->runqtail.load(std::memory_order_relaxed);
    if (t == h) {
      next = pp->runnext.load(std::memory_order_acquire);
      if (next && pp->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) return next;
      return nullptr;
    }
    G* gp = pp->runq[h % kRunqSize].load(std::memory_order_relaxed);
    if (pp->runqhead.compare_exchange_weak(h, h + 1, std::memory_order_release)) {
      // A G further back (see the top of the file). A thief may take it
      // meanwhile; a prefetch is only a hint, and never faults.
      const std::uint32_t ahead = std::min(t - h - 1, kPrefetchAhead);
      if (ahead > 0) prefetch_g(pp->runq[(h + ahead) % kRunqSize].load(std::memory_order_relaxed));
      return gp;
    }
  }
}

std::uint32_t runqgrab(P* pp, G** batch, bool steal_runnext) {
  for (;;) {
    std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);
    std::uint32_t t = pp->runqtail.load(std::memory_order_acquire);
    std::uint32_t n = t - h;
    n = n - n / 2;
    if (n == 0) {
      if (!steal_runnext) return 0;
      G* next = pp->runnext.load(std::memory_order_acquire);
      if (!next) return 0;
      if (pp->status.load(std::memory_order_relaxed) == PStatus::Running) {
        // pp's M has probably just readied `next` and is about to park its
        // current G and run `next`; stealing it now would bounce it between
        // threads. Back off briefly, as Go does (3 us).
        std::this_thread::sleep_for(std::chrono::microseconds(3));
      }
      if (!pp->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) continue;
      batch[0] = next;
      return 1;
    }
    if (n > kRunqSize / 2) continue;  // read an inconsistent h/t pair
    for (std::uint32_t i = 0; i < n; i++)
      batch[i] = pp->runq[(h + i) % kRunqSize].load(std::memory_order_relaxed);
    if (pp->runqhead.compare_exchange_strong(h, h + n, std::memory_order_release)) return n;
  }
}

std::uint32_t runqlen(const P* pp) {
  std::uint32_t h = pp->runqhead.load(std::memory_order_relaxed);
  std::uint32_t t = pp->runqtail.load(std::memory_order_relaxed);
  std::uint32_t n = t - h;
  if (n > kRunqSize) n = 0;  // racy read
  return n + (pp->runnext.load(std::memory_order_relaxed) ? 1 : 0);
}

bool runqempty(const P* pp) {
  // Go reads head, tail, runnext, then re-checks tail, so that a G moving
  // from runnext to the ring is not missed in between.
  for (;;) {
    std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);
    std::uint32_t t = pp->runqtail.load(std::memory_order_acquire);
    G* next = pp->runnext.load(std::memory_order_acquire);
    if (pp->runqtail.load(std::memory_order_acquire) == t) return h == t && next == nullptr;
  }
}

}  // namespace gort::rt
