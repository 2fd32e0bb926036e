// steal.cpp: work stealing (Go's stealWork/runqsteal, proc.go).
//
// A spinning M with an empty P visits the other Ps in a random order (a
// random start and a random stride coprime with the number of Ps, so every P
// is visited once per round) and takes half of the first non-empty run queue
// it finds. Four rounds; only the last may take a victim's runnext, since
// that G is most likely about to run on its own P. (Other Ps' due timers are
// run by findrunnable before it steals, whether or not the M may spin.)
#include "sched.hpp"
#include "trace.hpp"

namespace gort::rt {

namespace {

G* runqsteal(M* m, P* pp, P* p2, bool steal_runnext) {
  G* batch[kRunqSize / 2];
  std::uint32_t n = runqgrab(p2, batch, steal_runnext);
  if (n == 0) return nullptr;
  if (tracing()) {
    // The victim's M, for the arrow: the one that last ran a fiber on p2 (a hint).
    const M* vm = p2->runm.load(std::memory_order_acquire);
    const std::uint64_t victim =
        static_cast<std::uint32_t>(p2->id) | (vm ? static_cast<std::uint64_t>(vm->id + 1) << 32 : 0);
    trace_emit(m, TraceEv::Steal, victim, n, batch[n - 1]->goid);
  }
  for (std::uint32_t i = 0; i + 1 < n; i++) runqput(pp, batch[i], false);
  pp->n_steals.store(pp->n_steals.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  pp->n_stolen.store(pp->n_stolen.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  return batch[n - 1];
}

}  // namespace

std::uint32_t fastrand(M* m) {
  // xorshift64*, seeded per M in newm.
  m->rand ^= m->rand >> 12;
  m->rand ^= m->rand << 25;
  m->rand ^= m->rand >> 27;
  return static_cast<std::uint32_t>((m->rand * 2685821657736338717ULL) >> 32);
}

G* stealwork(M* m) {
  constexpr int kStealTries = 4;
  auto& allp = S().allp;
  const auto n = static_cast<std::uint32_t>(allp.size());
  const auto& cop = S().coprimes;
  P* pp = m->p;
  for (int i = 0; i < kStealTries; i++) {
    const bool last = i == kStealTries - 1;
    std::uint32_t pos = fastrand(m) % n;
    const std::uint32_t inc = cop[fastrand(m) % cop.size()];
    for (std::uint32_t k = 0; k < n; k++, pos = (pos + inc) % n) {
      if (S().exiting.load(std::memory_order_relaxed)) return nullptr;
      P* p2 = allp[pos];
      if (p2 == pp) continue;
      if (G* gp = runqsteal(m, pp, p2, last)) return gp;
    }
  }
  return nullptr;
}

}  // namespace gort::rt
