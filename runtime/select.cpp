// select.cpp: Go's select (select.go) over gort channels.
//
//  1. Shuffle the cases (pollorder): when several are ready, each is chosen
//     with equal probability.
//  2. Lock every channel involved, in address order (lockorder), the one
//     global order that keeps concurrent selects over overlapping channels
//     from deadlocking. A channel named twice is locked once.
//  3. Pass 1: in pollorder, run the first case that can proceed now.
//  4. None, and a default: unlock, return -1.
//  5. Pass 2: put a sudog on every channel's queue, all for this G, and park;
//     the commit unlocks every channel. The first channel to reach one of
//     them claims the G (selectdone 0 -> 1, waitq::dequeue) and completes
//     that case; any other channel skips the G's other sudogs.
//  6. Woken: lock all again, take the losing sudogs off their queues, unlock.
#include "chan.hpp"
#include "sched.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace gort::detail {

using rt::G;

namespace {

struct Locks {
  SelectCase* cases;
  const int* order;  // indices of non-nil cases, sorted by channel address
  int n;
};

void sellock(const Locks& l) {
  hchan* prev = nullptr;
  for (int k = 0; k < l.n; k++) {
    hchan* c = l.cases[l.order[k]].c;
    if (c != prev) rt::lock_word(&c->lock);
    prev = c;
  }
}

void selunlock(const Locks& l) {
  // Reverse order; each distinct channel once.
  for (int k = l.n - 1; k >= 0; k--) {
    hchan* c = l.cases[l.order[k]].c;
    if (k > 0 && l.cases[l.order[k - 1]].c == c) continue;
    rt::unlock_word(&c->lock);
  }
}

// try_case runs case i if it can proceed now (all channels locked). Returns
// whether it did, and the G to ready after unlocking in *wake.
bool try_case(SelectCase& sc, G** wake) {
  hchan* c = sc.c;
  if (sc.send) {
    if (c->closed) return true;  // the caller panics after unlocking
    if (sudog* r = c->recvq.dequeue()) {
      *wake = send_locked(c, r, sc.elem);
      return true;
    }
    if (c->qcount < c->cap) {
      buf_put(c, sc.elem);
      return true;
    }
    return false;
  }
  if (sudog* s = c->sendq.dequeue()) {
    *wake = recv_locked(c, s, sc.elem);
    sc.ok = true;
    return true;
  }
  if (c->qcount > 0) {
    buf_take(c, sc.elem);
    sc.ok = true;
    return true;
  }
  if (c->closed) {
    sc.ok = false;
    return true;
  }
  return false;
}

}  // namespace

int select_go(SelectCase* cases, int n, bool block) {
  G* gp = rt::getg();
  if (!gp) rt::throw_outside_fiber("gort::select");
  // Small selects keep their bookkeeping on the stack.
  constexpr int kSmall = 16;
  int poll_small[kSmall], lock_small[kSmall];
  sudog sg_small[kSmall];
  std::vector<int> poll_big, lock_big;
  std::vector<sudog> sg_big;
  int* pollorder = poll_small;
  int* lockorder = lock_small;
  sudog* sgs = sg_small;
  if (n > kSmall) {
    poll_big.resize(static_cast<std::size_t>(n));
    lock_big.resize(static_cast<std::size_t>(n));
    sg_big.resize(static_cast<std::size_t>(n));
    pollorder = poll_big.data();
    lockorder = lock_big.data();
    sgs = sg_big.data();
  }

  // 1. pollorder: a uniform shuffle of the non-nil cases (Fisher-Yates).
  int live = 0;
  rt::M* m = rt::getm();
  for (int i = 0; i < n; i++) {
    cases[i].ok = false;
    if (!cases[i].c) continue;
    int j = static_cast<int>(rt::fastrand(m) % static_cast<std::uint32_t>(live + 1));
    pollorder[live] = pollorder[j];
    pollorder[j] = i;
    live++;
  }
  if (live == 0) {
    if (!block) return -1;
    for (;;) rt::gopark([](G*, void*) { return true; }, nullptr, "select (no cases)");
  }
  // 2. lockorder: by channel address.
  std::copy(pollorder, pollorder + live, lockorder);
  std::sort(lockorder, lockorder + live, [&](int a, int b) {
    return std::less<hchan*>()(cases[a].c, cases[b].c) || (cases[a].c == cases[b].c && a < b);
  });
  Locks locks{cases, lockorder, live};
  sellock(locks);

  // 3. pass 1
  for (int k = 0; k < live; k++) {
    int i = pollorder[k];
    G* wake = nullptr;
    if (!try_case(cases[i], &wake)) continue;
    bool closed_send = cases[i].send && cases[i].c->closed && !wake;
    selunlock(locks);
    if (wake) rt::ready(wake);
    if (closed_send) throw std::logic_error("send on closed channel");
    return i;
  }
  // 4. default
  if (!block) {
    selunlock(locks);
    return -1;
  }
  // 5. pass 2: wait on every channel.
  gp->selectdone.store(0, std::memory_order_relaxed);
  gp->param = nullptr;
  for (int k = 0; k < live; k++) {
    int i = lockorder[k];
    sudog& sg = sgs[i];
    sg = sudog{};
    sg.g = gp;
    sg.elem = cases[i].elem;
    sg.c = cases[i].c;
    sg.is_select = true;
    sg.case_index = i;
    (cases[i].send ? sg.c->sendq : sg.c->recvq).enqueue(&sg);
  }
  rt::gopark(
      [](G*, void* arg) {
        selunlock(*static_cast<Locks*>(arg));
        return true;
      },
      &locks, "select");

  // 6. woken by one channel: drop the other sudogs.
  sellock(locks);
  auto* won = static_cast<sudog*>(gp->param);
  for (int k = 0; k < live; k++) {
    int i = lockorder[k];
    sudog& sg = sgs[i];
    if (&sg == won) continue;
    (cases[i].send ? sg.c->sendq : sg.c->recvq).remove(&sg);
  }
  selunlock(locks);
  gp->param = nullptr;
  int i = won->case_index;
  if (cases[i].send && !won->success) throw std::logic_error("send on closed channel");
  if (!cases[i].send) cases[i].ok = won->success;
  return i;
}

}  // namespace gort::detail
