// chan.hpp: hchan, the runtime's channel (Go's chan.go), and the sudogs that
// wait on it.
//
// A channel is a lock, an optional ring buffer of `cap` elements, and two
// wait queues of parked fibers: senders waiting for room or a receiver, and
// receivers waiting for a value. Invariants (under `lock`):
//  - at least one of sendq and recvq is empty, except briefly for a select
//    that waits on both ends of one channel (its own sudogs, never matched);
//  - for a buffered channel: qcount > 0 implies recvq is empty, and
//    qcount < cap implies sendq is empty;
//  - once closed, sendq and recvq are empty and stay so (close woke them all).
// A value handed to a parked receiver goes straight into its frame (Go's
// direct send); a parked sender's value is taken from its frame.
//
// Lock order: channel locks rank above all runtime locks (sched.hpp); a
// select takes several, in address order. Nobody calls ready() with a channel
// lock held: wakers collect the G, unlock, then ready it.
#pragma once

#include <gort/detail/chan_core.hpp>

#include "g.hpp"
#include "lock.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>

namespace gort::detail {

// sudog: a G waiting on one channel (Go's sudog). Lives on the waiting G's
// stack for the length of the wait.
struct sudog {
  rt::G* g = nullptr;
  void* elem = nullptr;  // the sender's value, or the receiver's destination
  hchan* c = nullptr;
  sudog* next = nullptr;
  sudog* prev = nullptr;
  bool queued = false;     // on c's sendq or recvq
  bool is_select = false;  // the G may be claimed by another channel first
  bool success = false;    // a value passed (false: woken by close)
  int case_index = -1;     // select: which case this sudog is
};

// waitq: a FIFO of sudogs, doubly linked so that select can remove its
// losers. Guarded by the channel's lock.
struct waitq {
  sudog* first = nullptr;
  sudog* last = nullptr;
  void enqueue(sudog* sg);
  void remove(sudog* sg);  // no-op if sg is not queued
  // dequeue takes the first waiter that can still be woken: a select's
  // sudog counts only if this call claims its G (selectdone 0 -> 1).
  sudog* dequeue();
};

struct hchan {
  std::atomic<std::uint32_t> lock{0};  // lock word (lock.hpp); guards all below
  std::atomic<std::int64_t> refs{1};   // Chan<T> handles and armed timers
  const ElemOps* ops = nullptr;
  std::size_t cap = 0;
  unsigned char* buf = nullptr;  // cap slots of ops->size bytes
  std::size_t qcount = 0, sendx = 0, recvx = 0;
  bool closed = false;
  waitq recvq, sendq;

  void* slot(std::size_t i) const { return buf + i * ops->size; }
  // Moving an element: memcpy for trivial types, else through ops.
  void move(void* dst, void* src) const {
    if (ops->trivial)
      std::memcpy(dst, src, ops->size);
    else
      ops->move(dst, src);
  }
  void destroy(void* p) const {
    if (!ops->trivial) ops->destroy(p);
  }
};

// Internal halves shared by chan.cpp and select.cpp, called with c->lock
// held; they return the G to ready once the lock is released (or null).
rt::G* send_locked(hchan* c, sudog* receiver, void* elem);  // to a parked receiver
rt::G* recv_locked(hchan* c, sudog* sender, void* dst);     // from a parked sender
void buf_put(hchan* c, void* elem);
void buf_take(hchan* c, void* dst);

// chan_send_nb: a send that never blocks (timers use it); false = would block.
bool chan_send_nb(hchan* c, void* elem);

}  // namespace gort::detail
