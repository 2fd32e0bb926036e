// timers.cpp: per-P timer heaps (see timers.hpp).
//
// Invariant: t->pp is non-null exactly while t is in pp->timers, and then
// pp->timers[t->idx] == t. Both change only under pp->timers_mu.
// pp->timer0_when == pp->timers[0]->when, or 0 if the heap is empty.
#include "timers.hpp"

#include "sched.hpp"

namespace gort::rt {

namespace {

void set_at(std::vector<Timer*>& h, std::size_t i, Timer* t) {
  h[i] = t;
  t->idx = static_cast<std::int32_t>(i);
}

void siftup(std::vector<Timer*>& h, std::size_t i) {
  Timer* t = h[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (h[parent]->when <= t->when) break;
    set_at(h, i, h[parent]);
    i = parent;
  }
  set_at(h, i, t);
}

void siftdown(std::vector<Timer*>& h, std::size_t i) {
  Timer* t = h[i];
  const std::size_t n = h.size();
  for (;;) {
    std::size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && h[c + 1]->when < h[c]->when) c++;
    if (t->when <= h[c]->when) break;
    set_at(h, i, h[c]);
    i = c;
  }
  set_at(h, i, t);
}

// remove_at takes h[i] out of pp's heap (timers_mu held).
void remove_at(P* pp, std::size_t i) {
  auto& h = pp->timers;
  Timer* t = h[i];
  Timer* last = h.back();
  h.pop_back();
  if (i < h.size()) {
    set_at(h, i, last);
    siftdown(h, i);
    siftup(h, static_cast<std::size_t>(last->idx));
  }
  t->idx = -1;
  t->pp.store(nullptr, std::memory_order_release);
  pp->timer0_when.store(h.empty() ? 0 : h[0]->when);
}

}  // namespace

void addtimer(Timer* t) {
  P* pp = getm()->p;
  // Once t is in the heap it may fire on another M and be re-armed or freed:
  // read what we need of it before unlocking.
  const std::int64_t when = t->when;
  {
    std::lock_guard lk(pp->timers_mu);
    auto& h = pp->timers;
    h.push_back(t);
    t->pp.store(pp, std::memory_order_relaxed);
    siftup(h, h.size() - 1);
    pp->timer0_when.store(h[0]->when);  // seq_cst: pairs with stopm's re-check
  }
  // Make sure someone will wake up for t (Go's wakeNetPoller).
  Sched& s = S();
  std::int64_t pu = s.poll_until.load();
  if (pu == 0) {
    wakep();  // no M waits on timers: if a P is idle, an M will look
  } else if (when < pu) {
    wake_poller();  // wait less
  }
}

bool deltimer(Timer* t) {
  P* pp = t->pp.load(std::memory_order_acquire);
  if (!pp) return false;
  std::lock_guard lk(pp->timers_mu);
  if (t->pp.load(std::memory_order_relaxed) != pp) return false;  // fired meanwhile
  remove_at(pp, static_cast<std::size_t>(t->idx));
  return true;
}

std::int64_t checktimers(P* pp, std::int64_t now) {
  std::int64_t next = pp->timer0_when.load(std::memory_order_acquire);
  if (next == 0) return 0;
  if (now == 0) now = nanotime();
  if (next > now) return next;
  struct Fire {
    void (*f)(void*, std::uint64_t);
    void* arg;
    std::uint64_t seq;
  };
  constexpr int kBatch = 64;
  for (;;) {
    Fire fire[kBatch];
    int n = 0;
    {
      std::lock_guard lk(pp->timers_mu);
      auto& h = pp->timers;
      while (n < kBatch && !h.empty() && h[0]->when <= now) {
        Timer* t = h[0];
        // Copy before releasing: once off the heap the owner may reuse t.
        fire[n++] = Fire{t->f, t->arg, t->seq};
        remove_at(pp, 0);
      }
    }
    for (int i = 0; i < n; i++) fire[i].f(fire[i].arg, fire[i].seq);
    if (n < kBatch) break;
  }
  return pp->timer0_when.load(std::memory_order_acquire);
}

std::int64_t earliest_timer() {
  std::int64_t e = 0;
  for (P* pp : S().allp) {
    std::int64_t w = pp->timer0_when.load();
    if (w != 0 && (e == 0 || w < e)) e = w;
  }
  return e;
}

}  // namespace gort::rt
