// chan.cpp: channel send, receive and close (Go's chan.go), on the
// structures of chan.hpp.
//
// Every blocking path follows the park protocol of proc.cpp: lock the
// channel, put a sudog (on this fiber's stack) on a wait queue, and gopark
// with a commit that unlocks the channel on g0. A waker takes the channel
// lock, dequeues the sudog, moves the value, sets `success` and g->param,
// unlocks, and only then calls ready().
#include "chan.hpp"

#include "sched.hpp"

#include <cstdlib>
#include <stdexcept>

namespace gort::detail {

using rt::G;

namespace {

bool unlock_commit(G*, void* lock) {
  rt::unlock_word(static_cast<std::atomic<std::uint32_t>*>(lock));
  return true;
}

// block_forever parks the fiber for good: Go's send or receive on a nil
// channel. Nothing will ever ready it.
[[noreturn]] void block_forever(const char* reason) {
  for (;;) rt::gopark([](G*, void*) { return true; }, nullptr, reason);
}

void ready_if(G* gp) {
  if (gp) rt::ready(gp);
}

// park_on queues the calling fiber on q (c locked) and parks it until a
// waker or close; returns whether a value passed.
bool park_on(hchan* c, waitq& q, G* gp, void* elem, const char* reason) {
  sudog sg;
  sg.g = gp;
  sg.elem = elem;
  sg.c = c;
  q.enqueue(&sg);
  rt::gopark(unlock_commit, &c->lock, reason);
  return sg.success;
}

std::size_t buf_align(const ElemOps* ops) {
  return ops->align < alignof(std::max_align_t) ? alignof(std::max_align_t) : ops->align;
}

}  // namespace

// --- waitq ---

void waitq::enqueue(sudog* sg) {
  sg->next = nullptr;
  sg->prev = last;
  if (last)
    last->next = sg;
  else
    first = sg;
  last = sg;
  sg->queued = true;
}

void waitq::remove(sudog* sg) {
  if (!sg->queued) return;
  if (sg->prev)
    sg->prev->next = sg->next;
  else
    first = sg->next;
  if (sg->next)
    sg->next->prev = sg->prev;
  else
    last = sg->prev;
  sg->next = sg->prev = nullptr;
  sg->queued = false;
}

sudog* waitq::dequeue() {
  while (sudog* sg = first) {
    remove(sg);
    if (sg->is_select) {
      std::uint32_t zero = 0;
      // Another channel already woke this select: skip its sudog here.
      if (!sg->g->selectdone.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) continue;
    }
    return sg;
  }
  return nullptr;
}

// --- the halves shared with select.cpp ---

G* send_locked(hchan* c, sudog* receiver, void* elem) {
  c->move(receiver->elem, elem);  // straight into the receiver's frame
  receiver->success = true;
  receiver->g->param = receiver;
  return receiver->g;
}

G* recv_locked(hchan* c, sudog* sender, void* dst) {
  if (c->cap == 0) {
    c->move(dst, sender->elem);  // straight from the sender's frame
  } else {
    // The buffer is full: take its head, and the sender's value goes to the
    // tail (which is the slot just freed).
    buf_take(c, dst);
    buf_put(c, sender->elem);
  }
  sender->success = true;
  sender->g->param = sender;
  return sender->g;
}

void buf_put(hchan* c, void* elem) {
  c->move(c->slot(c->sendx), elem);
  if (++c->sendx == c->cap) c->sendx = 0;
  c->qcount++;
}

void buf_take(hchan* c, void* dst) {
  void* s = c->slot(c->recvx);
  c->move(dst, s);
  c->destroy(s);
  if (++c->recvx == c->cap) c->recvx = 0;
  c->qcount--;
}

// --- the API ---

hchan* chan_make(const ElemOps* ops, std::size_t cap) {
  auto* c = new hchan;
  c->ops = ops;
  c->cap = cap;
  if (cap > 0) {
    c->buf = static_cast<unsigned char*>(::operator new(cap * ops->size, std::align_val_t(buf_align(ops))));
  }
  return c;
}

void chan_retain(hchan* c) {
  if (c) c->refs.fetch_add(1, std::memory_order_relaxed);
}

void chan_release(hchan* c) {
  if (!c || c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Last handle: nobody can be parked on it (a parked fiber holds a handle).
  for (std::size_t i = 0, x = c->recvx; i < c->qcount; i++, x = (x + 1 == c->cap ? 0 : x + 1))
    c->destroy(c->slot(x));
  if (c->buf) ::operator delete(c->buf, std::align_val_t(buf_align(c->ops)));
  delete c;
}

void chan_send(hchan* c, void* elem) {
  if (!c) block_forever("chan send (nil chan)");
  G* gp = rt::getg();
  if (!gp) rt::throw_outside_fiber("gort::Chan::send");
  rt::lock_word(&c->lock);
  if (c->closed) {
    rt::unlock_word(&c->lock);
    throw std::logic_error("send on closed channel");
  }
  if (sudog* r = c->recvq.dequeue()) {
    G* wake = send_locked(c, r, elem);
    rt::unlock_word(&c->lock);
    rt::ready(wake);
    return;
  }
  if (c->qcount < c->cap) {
    buf_put(c, elem);
    rt::unlock_word(&c->lock);
    return;
  }
  if (!park_on(c, c->sendq, gp, elem, "chan send"))
    throw std::logic_error("send on closed channel");  // woken by close
}

bool chan_send_nb(hchan* c, void* elem) {
  if (!c) return false;
  rt::lock_word(&c->lock);
  if (c->closed) {
    rt::unlock_word(&c->lock);
    return false;
  }
  G* wake = nullptr;
  if (sudog* r = c->recvq.dequeue()) {
    wake = send_locked(c, r, elem);
  } else if (c->qcount < c->cap) {
    buf_put(c, elem);
  } else {
    rt::unlock_word(&c->lock);
    return false;
  }
  rt::unlock_word(&c->lock);
  ready_if(wake);
  return true;
}

bool chan_recv(hchan* c, void* dst) {
  if (!c) block_forever("chan receive (nil chan)");
  G* gp = rt::getg();
  if (!gp) rt::throw_outside_fiber("gort::Chan::recv");
  rt::lock_word(&c->lock);
  if (sudog* s = c->sendq.dequeue()) {
    G* wake = recv_locked(c, s, dst);
    rt::unlock_word(&c->lock);
    rt::ready(wake);
    return true;
  }
  if (c->qcount > 0) {
    buf_take(c, dst);
    rt::unlock_word(&c->lock);
    return true;
  }
  if (c->closed) {
    rt::unlock_word(&c->lock);
    return false;
  }
  return park_on(c, c->recvq, gp, dst, "chan receive");
}

void chan_close(hchan* c) {
  if (!c) throw std::logic_error("close of nil channel");
  rt::lock_word(&c->lock);
  if (c->closed) {
    rt::unlock_word(&c->lock);
    throw std::logic_error("close of closed channel");
  }
  c->closed = true;
  // Wake every waiter: receivers get "not ok", senders will panic.
  G* wake = nullptr;  // linked through G::waitlink
  for (waitq* q : {&c->recvq, &c->sendq}) {
    while (sudog* sg = q->dequeue()) {
      sg->success = false;
      sg->g->param = sg;
      sg->g->waitlink = wake;
      wake = sg->g;
    }
  }
  rt::unlock_word(&c->lock);
  while (wake) {
    G* next = wake->waitlink;
    wake->waitlink = nullptr;
    rt::ready(wake);
    wake = next;
  }
}

std::size_t chan_len(const hchan* c) {
  if (!c) return 0;
  auto* m = const_cast<hchan*>(c);
  rt::lock_word(&m->lock);
  std::size_t n = c->qcount;
  rt::unlock_word(&m->lock);
  return n;
}

std::size_t chan_cap(const hchan* c) { return c ? c->cap : 0; }

}  // namespace gort::detail
