// context.cpp: gort::Context (see <gort/context.hpp>), Go's context package
// (cancelCtx and timerCtx). Not to be confused with context.hpp and
// context_boost.cpp, the fibers' saved CPU state.
//
// Each Context other than background() is a ctx_node: a done channel, an
// error, a deadline, a list of its children and, when it has a deadline of
// its own, a runtime timer (timers.hpp) that cancels it.
//
// References. A node is reference counted; the references are held by:
//   - each Context and CancelFunc handle on it;
//   - its parent's list of children, while it is on it (`linked`);
//   - each of its children, for the child's whole life (`parent`), so that
//     a child can always reach its parent's lock to take itself off the list;
//   - its timer, while armed: whoever makes deltimer succeed drops it, or
//     else the timer function when it fires (as time.cpp does).
// A child on its parent's list and that parent refer to each other until
// either is cancelled (the child takes itself off, or the parent empties its
// list): Go's leak for a context whose cancel is never called.
//
// Locks. A node's `mu` (the runtime lock, lock.hpp) guards its list of
// children and the change of `err` from none; a child's place on that list
// (prev, next, linked) is guarded by the parent's mu. No path holds two
// nodes' locks at once: cancel detaches a node's children under its lock,
// then cancels them one by one from a work list (so a deep tree needs no deep
// recursion either). Under mu, cancel closes `done` (which takes the
// channel's lock and readies its waiters); addtimer and deltimer run with no
// node locked. Only the sleep parks, with no lock held.
//
// Invariants:
//  - err changes from 0 once, under mu: to the error before done is closed
//    (a fiber the close wakes must find it), then to the error | kClosed
//    after. err() that finds the error without kClosed takes mu, so that it
//    returns only once done is closed: as in Go, err() != none exactly when
//    done is closed, for any one observer.
//  - A node is linked only if it was not done when it was linked and has
//    not been detached or taken off since; a done node's list stays empty.
//  - parent, deadline, own_timer and timer's fields are fixed before the
//    node is published (on its parent's list, in a timer heap, or returned).
#include <gort/context.hpp>
#include <gort/fiber.hpp>

#include "lock.hpp"
#include "sched.hpp"
#include "sysmon.hpp"
#include "timers.hpp"

#include <mutex>
#include <string>

namespace gort {

namespace detail {

// kClosed: err's flag for "done is closed" (see the invariants).
constexpr int kClosed = 0x100;

struct ctx_node {
  std::atomic<std::int32_t> refs{2};  // the Context and the CancelFunc with_cancel returns

  // Fixed once published.
  ctx_node* parent = nullptr;  // holds a reference; null: a child of background()
  std::int64_t deadline = 0;   // nanotime(), the earlier of its own and the parent's; 0 = none
  bool own_timer = false;      // `timer` was armed (its own deadline is the earlier one)
  rt::Timer timer;
  Chan<Empty> done{0};
  std::atomic<int> err{0};  // a context_errc once done, | kClosed once done is; written under mu

  // --- mu guards children, and err's change from 0 ---
  rt::Mutex mu;
  ctx_node* children = nullptr;  // through the children's prev/next

  // --- guarded by parent->mu: this node's place on the parent's list ---
  ctx_node* prev = nullptr;
  ctx_node* next = nullptr;  // once detached: the link of cancel's work list
  bool linked = false;
};

void ctx_retain(ctx_node* n) noexcept {
  if (n) n->refs.fetch_add(1, std::memory_order_relaxed);
}

// ctx_release frees n with its last reference; freeing a node drops its
// reference on its parent, in a loop rather than recursion for long chains.
void ctx_release(ctx_node* n) noexcept {
  while (n && n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    ctx_node* p = n->parent;
    delete n;
    n = p;
  }
}

namespace {

// cancel_one makes n done with `why` unless it is done already, and moves its
// children, with the list's references, onto *work. Returns whether it did.
bool cancel_one(ctx_node* n, int why, ctx_node** work) {
  std::lock_guard lk(n->mu);
  if (n->err.load(std::memory_order_relaxed) != 0) return false;
  n->err.store(why, std::memory_order_release);
  n->done.close();
  n->err.store(why | kClosed, std::memory_order_release);
  while (ctx_node* c = n->children) {
    n->children = c->next;
    c->linked = false;
    c->prev = nullptr;
    c->next = *work;
    *work = c;
  }
  return true;
}

// disarm removes n's timer from its heap if it is still there, and then
// drops the timer's reference (else the firing timer drops it). The caller
// holds another reference.
void disarm(ctx_node* n) {
  // A timer still pending when its run ended went with its P: leave it be.
  if (n->own_timer && rt::sched.load(std::memory_order_acquire) && rt::deltimer(&n->timer)) ctx_release(n);
}

// unlink takes n off its parent's list, if it is still there. The caller
// holds another reference on n.
void unlink(ctx_node* n) {
  ctx_node* p = n->parent;
  if (!p) return;
  bool was_linked;
  {
    std::lock_guard lk(p->mu);
    was_linked = n->linked;
    if (was_linked) {
      (n->prev ? n->prev->next : p->children) = n->next;
      if (n->next) n->next->prev = n->prev;
      n->prev = n->next = nullptr;
      n->linked = false;
    }
  }
  if (was_linked) ctx_release(n);
}

// cancel makes n and every descendant not yet done done with `why`. The
// caller holds a reference on n.
void cancel(ctx_node* n, int why) {
  ctx_node* work = nullptr;  // detached children whose list references we hold
  if (!cancel_one(n, why, &work)) return;
  disarm(n);
  unlink(n);
  while (ctx_node* c = work) {
    work = c->next;
    c->next = nullptr;
    if (cancel_one(c, why, &work)) disarm(c);
    ctx_release(c);
  }
}

// fire is the timer function (on g0, no lock held).
void fire(void* arg, std::uint64_t) {
  auto* n = static_cast<ctx_node*>(arg);
  cancel(n, static_cast<int>(context_errc::deadline_exceeded));
  ctx_release(n);  // the timer's
}

// new_child makes a child of parent (null: background) with its own deadline
// d (nanotime; 0 = none), holding the references of a Context and a
// CancelFunc. A timer is armed only if d is the earlier deadline; it may fire
// before the child is linked, which then is not linked at all.
ctx_node* new_child(ctx_node* parent, std::int64_t d) {
  auto* n = new ctx_node;
  ctx_retain(parent);
  n->parent = parent;
  std::int64_t pd = parent ? parent->deadline : 0;
  int why = 0;
  if (d != 0 && (pd == 0 || d < pd)) {
    n->deadline = d;
    if (d <= rt::nanotime()) {
      why = static_cast<int>(context_errc::deadline_exceeded);
    } else {
      n->own_timer = true;
      n->refs.fetch_add(1, std::memory_order_relaxed);  // the timer's
      n->timer.when = d;
      n->timer.f = fire;
      n->timer.arg = n;
      // addtimer needs this M's P (the callers check for a fiber), which
      // sysmon may have taken: pin_with_p gets one back first.
      rt::M* m = rt::pin_with_p();
      rt::addtimer(&n->timer);
      rt::unpinp(m);
    }
  } else {
    n->deadline = pd;  // the parent's timer cancels the parent, and so n
  }
  if (parent) {
    std::lock_guard lk(parent->mu);
    if (int pe = parent->err.load(std::memory_order_relaxed)) {
      why = pe & ~kClosed;  // as Go: a parent already done wins over a past deadline
    } else if (why == 0 && n->err.load(std::memory_order_acquire) == 0) {
      n->refs.fetch_add(1, std::memory_order_relaxed);  // the list's
      n->next = parent->children;
      if (n->next) n->next->prev = n;
      parent->children = n;
      n->linked = true;
    }
  }
  if (why != 0) cancel(n, why);
  return n;
}

class ContextCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gort.context"; }
  std::string message(int e) const override {
    switch (static_cast<context_errc>(e)) {
      case context_errc::canceled: return "context canceled";
      case context_errc::deadline_exceeded: return "context deadline exceeded";
    }
    return "unknown context error";
  }
  std::error_condition default_error_condition(int e) const noexcept override {
    switch (static_cast<context_errc>(e)) {
      case context_errc::canceled: return std::errc::operation_canceled;
      case context_errc::deadline_exceeded: return std::errc::timed_out;
    }
    return {e, *this};
  }
};

}  // namespace

}  // namespace detail

const std::error_category& context_category() noexcept {
  static const detail::ContextCategory category;
  return category;
}

Chan<Empty> Context::done() const { return n_ ? n_->done : Chan<Empty>{}; }

std::error_code Context::err() const noexcept {
  if (!n_) return {};
  int e = n_->err.load(std::memory_order_acquire);
  if (e != 0 && !(e & detail::kClosed)) {
    std::lock_guard lk(n_->mu);  // a cancel is closing done under it: wait
    e = n_->err.load(std::memory_order_relaxed);
  }
  e &= ~detail::kClosed;
  return e ? make_error_code(static_cast<context_errc>(e)) : std::error_code{};
}

std::optional<Clock::time_point> Context::deadline() const noexcept {
  if (!n_ || n_->deadline == 0) return std::nullopt;
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(n_->deadline)));
}

void CancelFunc::operator()() const {
  if (n_) detail::cancel(n_, static_cast<int>(context_errc::canceled));
}

std::pair<Context, CancelFunc> with_cancel(const Context& parent) {
  detail::ctx_node* n = detail::new_child(parent.n_, 0);
  return {Context(n), CancelFunc(n)};
}

std::pair<Context, CancelFunc> with_deadline(const Context& parent, Clock::time_point d) {
  if (!rt::getg()) rt::throw_outside_fiber("gort::with_deadline");
  std::int64_t when = std::chrono::duration_cast<std::chrono::nanoseconds>(d.time_since_epoch()).count();
  detail::ctx_node* n = detail::new_child(parent.n_, when > 0 ? when : 1);  // 0 would mean none
  return {Context(n), CancelFunc(n)};
}

std::pair<Context, CancelFunc> with_timeout(const Context& parent, Clock::duration timeout) {
  if (!rt::getg()) rt::throw_outside_fiber("gort::with_timeout");
  Clock::time_point now = Clock::now();
  if (timeout <= Clock::duration::zero()) return with_deadline(parent, now);
  if (timeout > Clock::time_point::max() - now) return with_deadline(parent, Clock::time_point::max());
  return with_deadline(parent, now + timeout);
}

bool sleep_until(const Context& ctx, Clock::time_point t) {
  if (!rt::getg()) rt::throw_outside_fiber("gort::sleep_until");
  if (ctx.err()) return false;
  if (ctx == background()) {
    sleep_until(t);
    return true;
  }
  if (t <= Clock::now()) return true;
  // A child that the deadline t, or ctx, cancels; if ctx is still not done
  // after it is, t came first (or as good as: ctx was done just after).
  auto [child, cancel] = with_deadline(ctx, t);
  child.done().recv();
  cancel();
  return !ctx.err();
}

}  // namespace gort
