// gort/context.hpp: Go's context package: cancellation and deadlines that
// flow down a tree of contexts (values are left out).
//
//   auto [ctx, cancel] = gort::with_timeout(gort::background(), 2s);
//   gort::go([ctx = ctx] {                             // clang < 16: no [ctx]
//     while (gort::sleep_for(ctx, 100ms)) poll();      // false once ctx is done
//   });
//   gort::select(gort::on_recv(results, handle),
//                gort::on_recv(ctx.done(), [&] { give_up(ctx.err()); }));
//   cancel();                                           // always, as in Go
//
// A Context is a handle, like Chan: copies refer to the same context, and a
// default-constructed (or moved-from) one is background(). A context is done
// once cancelled: by its CancelFunc, by its deadline, or because its parent
// is done. Invariants, as Go's:
//  - done() is closed exactly once, when the context becomes done; err() is
//    none until then and never changes after (err() != none exactly when
//    done() is closed). background() is never done: its done() is a nil
//    channel, a select case that is never chosen.
//  - A parent's cancel reaches every descendant, which then reports the
//    parent's error; a child's cancel never reaches its parent.
//  - A child's deadline is the earlier of its own and its parent's.
//
// Cancelling is thread-safe and idempotent: a CancelFunc may run on any
// fiber or any thread while the gort::run that made the context is active;
// the first call wins. Contexts are usable outside fibers (done(), err(),
// with_cancel, cancel), except what arms a timer: with_deadline,
// with_timeout and the sleeps below must be called from a fiber
// (std::logic_error otherwise).
//
// Call cancel when done with a context, as Go requires (its `go vet`
// lostcancel check): until it is called, or the parent or the deadline
// cancels it, a child stays registered with its parent, and a chain of
// contexts none of which is ever cancelled is never freed. Cancelling
// frees the pending deadline timer at once.
//
// Errors are std::error_code in the category "gort.context" (context_errc);
// deadline_exceeded compares equal to std::errc::timed_out and canceled to
// std::errc::operation_canceled, so code that checks for timeouts works for
// both the network's errors and these.
#pragma once

#include <gort/chan.hpp>
#include <gort/time.hpp>

#include <chrono>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace gort {

// Empty: the element of done() channels (Go's struct{}).
struct Empty {};

// context_errc: why a context is done (Go's context.Canceled and
// context.DeadlineExceeded). A context not yet done has err() == {}.
enum class context_errc {
  canceled = 1,           // "context canceled": a CancelFunc ran
  deadline_exceeded = 2,  // "context deadline exceeded"
};

const std::error_category& context_category() noexcept;  // name() == "gort.context"
inline std::error_code make_error_code(context_errc e) noexcept {
  return {static_cast<int>(e), context_category()};
}

namespace detail {
struct ctx_node;  // runtime/context.cpp
void ctx_retain(ctx_node* n) noexcept;
void ctx_release(ctx_node* n) noexcept;
}  // namespace detail

class CancelFunc;

class Context {
 public:
  Context() noexcept = default;  // background()
  Context(const Context& o) noexcept : n_(o.n_) { detail::ctx_retain(n_); }
  Context(Context&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  Context& operator=(Context o) noexcept {
    std::swap(n_, o.n_);
    return *this;
  }
  ~Context() { detail::ctx_release(n_); }

  // done is closed when the context becomes done; receives then succeed at
  // once with ok == false. Nil (never ready) for background().
  Chan<Empty> done() const;
  // err is {} until the context is done, then canceled or deadline_exceeded.
  std::error_code err() const noexcept;
  // deadline is when the context will be cancelled by time, if ever.
  std::optional<Clock::time_point> deadline() const noexcept;

  friend bool operator==(const Context& a, const Context& b) noexcept { return a.n_ == b.n_; }

 private:
  friend std::pair<Context, CancelFunc> with_cancel(const Context&);
  friend std::pair<Context, CancelFunc> with_deadline(const Context&, Clock::time_point);
  explicit Context(detail::ctx_node* n) noexcept : n_(n) {}
  detail::ctx_node* n_ = nullptr;  // null: background
};

// CancelFunc cancels its context (Go's context.CancelFunc). Calling it again,
// or after the context was done by other means, does nothing. Destroying it
// does not cancel. A default-constructed one cancels nothing.
class CancelFunc {
 public:
  CancelFunc() noexcept = default;
  CancelFunc(const CancelFunc& o) noexcept : n_(o.n_) { detail::ctx_retain(n_); }
  CancelFunc(CancelFunc&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  CancelFunc& operator=(CancelFunc o) noexcept {
    std::swap(n_, o.n_);
    return *this;
  }
  ~CancelFunc() { detail::ctx_release(n_); }

  void operator()() const;

 private:
  friend std::pair<Context, CancelFunc> with_cancel(const Context&);
  friend std::pair<Context, CancelFunc> with_deadline(const Context&, Clock::time_point);
  explicit CancelFunc(detail::ctx_node* n) noexcept : n_(n) {}
  detail::ctx_node* n_ = nullptr;
};

// background is the root of every context tree: never done, no deadline.
inline Context background() noexcept { return Context{}; }

// with_cancel: a child of parent that is done when cancel runs or parent is
// done, whichever comes first.
//   auto [ctx, cancel] = gort::with_cancel(parent);
std::pair<Context, CancelFunc> with_cancel(const Context& parent);

// with_deadline: as with_cancel, and also done with deadline_exceeded at
// (never before) the earlier of d and parent's deadline. It arms a runtime
// timer only when d is earlier than parent's deadline; a deadline already
// past gives a context done at once. Call it from a fiber.
std::pair<Context, CancelFunc> with_deadline(const Context& parent, Clock::time_point d);

// with_timeout is with_deadline(parent, now + timeout).
std::pair<Context, CancelFunc> with_timeout(const Context& parent, Clock::duration timeout);

// sleep_until parks the calling fiber until the clock reaches t or ctx is
// done, whichever comes first. Returns true if it slept until t, false if ctx
// was done when it woke (then at once if ctx was done already). With
// background() it is the plain gort::sleep_until. Otherwise it costs a child
// context (an allocation, a channel and a timer, freed on return).
bool sleep_until(const Context& ctx, Clock::time_point t);

// sleep_for is sleep_until(ctx, now + d).
template <class Rep, class Period>
bool sleep_for(const Context& ctx, std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return sleep_until(ctx, Clock::time_point{});
  return sleep_until(ctx, Clock::now() + std::chrono::ceil<Clock::duration>(d));
}

}  // namespace gort

template <>
struct std::is_error_code_enum<gort::context_errc> : std::true_type {};
