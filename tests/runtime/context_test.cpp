// Tests of runtime/context.cpp: gort::Context, cancellation and deadlines.
//
// Structured bindings are passed to fibers through init-captures
// ([cancel = cancel]): clang before 16 cannot capture them directly.
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using gort_test::for_each_procs;
using gort_test::scaled;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// is_done tells whether done() is closed, without blocking.
bool is_done(const gort::Context& ctx) {
  bool done = false;
  gort::select(gort::on_recv(ctx.done(), [&] { done = true; }), gort::on_default());
  return done;
}

// timers_drain waits (bounded) until no runtime timer is pending, and
// returns how many still are.
std::uint64_t timers_drain() {
  for (int i = 0; i < 2000 && gort::stats().timers != 0; i++) gort::sleep_for(1ms);
  return gort::stats().timers;
}

const std::error_code kCanceled = gort::context_errc::canceled;
const std::error_code kDeadline = gort::context_errc::deadline_exceeded;

}  // namespace

TEST_CASE("context: errors are std::error_code in the gort.context category, with Go's messages") {
  std::error_code canceled = gort::context_errc::canceled;
  std::error_code deadline = gort::context_errc::deadline_exceeded;
  CHECK(std::string(canceled.category().name()) == "gort.context");
  CHECK(canceled.message() == "context canceled");
  CHECK(deadline.message() == "context deadline exceeded");
  CHECK(deadline == std::errc::timed_out);
  CHECK(canceled == std::errc::operation_canceled);
  CHECK(canceled != deadline);
  CHECK(!std::error_code{});  // what err() is before a context is done
}

TEST_CASE("context: background is never done, has no deadline, and its done() is never chosen") {
  gort::Context bg = gort::background();
  CHECK(bg.done().is_nil());
  CHECK(!bg.err());
  CHECK(!bg.deadline());
  CHECK(gort::Context{} == bg);
  for_each_procs([](int) {
    gort::Context bg = gort::background();
    int chosen = gort::select(gort::on_recv(bg.done()), gort::on_recv(gort::after(1ms)));
    CHECK(chosen == 1);
    CHECK(gort::sleep_for(bg, 1ms));  // the plain sleep
    CHECK(!bg.err());
  });
}

TEST_CASE("context: cancel closes done, sets err to canceled, and is idempotent") {
  for_each_procs([](int) {
    auto [ctx, cancel] = gort::with_cancel(gort::background());
    CHECK(!ctx.err());
    CHECK(!ctx.deadline());
    CHECK(!is_done(ctx));
    gort::Context copy = ctx;
    cancel();
    CHECK(ctx.err() == kCanceled);
    CHECK(copy.err() == kCanceled);
    CHECK(is_done(ctx));
    auto r = ctx.done().recv();  // a closed channel: at once, not ok
    CHECK(!r.ok);
    cancel();  // again: nothing changes, nothing throws
    gort::CancelFunc copy_cancel = cancel;
    copy_cancel();
    CHECK(ctx.err() == kCanceled);
    gort::CancelFunc none;
    none();  // cancels nothing
  });
}

TEST_CASE("context: with_cancel and cancel work outside fibers, with_deadline and the sleeps throw there") {
  auto [ctx, cancel] = gort::with_cancel(gort::background());
  auto [child, child_cancel] = gort::with_cancel(ctx);
  cancel();
  CHECK(ctx.err() == kCanceled);
  CHECK(child.err() == kCanceled);
  child_cancel();
  CHECK_THROWS_AS(gort::with_timeout(gort::background(), 1s), std::logic_error);
  CHECK_THROWS_AS(gort::with_deadline(gort::background(), Clock::now()), std::logic_error);
  CHECK_THROWS_AS(gort::sleep_for(gort::background(), 1ms), std::logic_error);
}

TEST_CASE(
    "context: cancelling a parent cancels every child, across Ms, and cancelling a child leaves its parent") {
  static constexpr int kChildren = 64;
  for_each_procs([](int) {
    auto [root, cancel_root] = gort::with_cancel(gort::background());
    auto [left, cancel_left] = gort::with_cancel(root);
    auto [right, cancel_right] = gort::with_cancel(root);
    cancel_left();
    CHECK(left.err() == kCanceled);
    CHECK(!root.err());
    CHECK(!right.err());

    // Grandchildren under `right`, each waited on by a fiber of its own.
    std::vector<gort::CancelFunc> cancels;
    std::atomic<int> released{0}, wrong_err{0};
    gort::WaitGroup started, wg;
    started.add(kChildren);
    wg.add(kChildren);
    for (int i = 0; i < kChildren; i++) {
      auto [c, cancel] = gort::with_cancel(right);
      cancels.push_back(cancel);
      gort::go([&, c = c] {
        started.done();
        c.done().recv();
        if (c.err() != kCanceled) wrong_err++;
        released++;
        wg.done();
      });
    }
    started.wait();
    gort::sleep_for(1ms);  // let them park
    CHECK(released.load() == 0);
    cancel_root();
    wg.wait();
    CHECK(released.load() == kChildren);
    CHECK(wrong_err.load() == 0);
    CHECK(right.err() == kCanceled);
    for (auto& c : cancels) c();  // after the parent: nothing left to do
    cancel_right();
  });
}

TEST_CASE("context: a child made under a parent already done is done at once, with the parent's error") {
  for_each_procs([](int) {
    auto [parent, cancel] = gort::with_timeout(gort::background(), 0s);
    CHECK(parent.err() == kDeadline);
    auto [child, child_cancel] = gort::with_cancel(parent);
    CHECK(child.err() == kDeadline);
    CHECK(is_done(child));
    auto [timed, timed_cancel] = gort::with_timeout(parent, 1h);
    CHECK(timed.err() == kDeadline);
    child_cancel();
    timed_cancel();
    cancel();
    CHECK(timers_drain() == 0);
  });
}

TEST_CASE("context: with_timeout is done with deadline_exceeded at its deadline, never before") {
  for_each_procs([](int) {
    auto t0 = Clock::now();
    auto [ctx, cancel] = gort::with_timeout(gort::background(), 20ms);
    CHECK(!ctx.err());
    auto deadline = ctx.deadline().value_or(Clock::time_point{});
    CHECK(deadline >= t0 + 20ms);
    CHECK(deadline <= Clock::now() + 20ms);
    auto r = ctx.done().recv();
    auto waited = Clock::now() - t0;
    CHECK(!r.ok);
    CHECK(waited >= 20ms);
    CHECK(Clock::now() >= deadline);
    CHECK(ctx.err() == kDeadline);
    cancel();  // after the deadline: err stays deadline_exceeded
    CHECK(ctx.err() == kDeadline);
  });
}

TEST_CASE("context: a child's deadline is the earlier of its own and its parent's") {
  for_each_procs([](int) {
    auto [parent, cancel] = gort::with_timeout(gort::background(), 30ms);
    auto [later, cancel_later] = gort::with_timeout(parent, 1h);       // keeps the parent's
    auto [earlier, cancel_earlier] = gort::with_timeout(parent, 5ms);  // its own
    auto [plain, cancel_plain] = gort::with_cancel(parent);            // inherits it
    CHECK(later.deadline() == parent.deadline());
    CHECK(plain.deadline() == parent.deadline());
    CHECK(earlier.deadline().has_value());
    CHECK(parent.deadline().has_value());
    CHECK(earlier.deadline() < parent.deadline());

    earlier.done().recv();
    CHECK(earlier.err() == kDeadline);
    CHECK(!parent.err());  // a child's deadline does not reach the parent
    CHECK(!later.err());

    later.done().recv();  // by the parent's timer: `later` armed none
    CHECK(Clock::now() >= parent.deadline().value_or(Clock::time_point::max()));
    CHECK(later.err() == kDeadline);
    CHECK(parent.err() == kDeadline);
    CHECK(plain.err() == kDeadline);
    cancel_later();
    cancel_earlier();
    cancel_plain();
    cancel();
  });
}

TEST_CASE("context: a deadline already past gives a context done at once, with no timer left") {
  for_each_procs([](int) {
    auto [past, cancel_past] = gort::with_deadline(gort::background(), Clock::now() - 1s);
    auto [zero, cancel_zero] = gort::with_timeout(gort::background(), 0s);
    auto [epoch, cancel_epoch] = gort::with_deadline(gort::background(), Clock::time_point{});
    CHECK(past.err() == kDeadline);
    CHECK(zero.err() == kDeadline);
    CHECK(epoch.err() == kDeadline);
    CHECK(is_done(past));
    CHECK(gort::stats().timers == 0);
    cancel_past();
    cancel_zero();
    cancel_epoch();
  });
}

TEST_CASE("context: cancelling 10,000 timeout contexts before their deadline disarms every timer") {
  static constexpr int kContexts = 10000;
  for_each_procs([](int procs) {
    // Made and cancelled on this fiber, then on several fibers (other Ms).
    for (int i = 0; i < kContexts; i++) {
      auto [ctx, cancel] = gort::with_timeout(gort::background(), 1h);
      cancel();
    }
    CHECK(gort::stats().timers == 0);
    std::vector<gort::CancelFunc> cancels;
    for (int i = 0; i < kContexts; i++) cancels.push_back(gort::with_timeout(gort::background(), 1h).second);
    CHECK(gort::stats().timers >= kContexts);
    gort::WaitGroup wg;
    const int fibers = procs * 4;
    wg.add(fibers);
    for (int f = 0; f < fibers; f++) {
      gort::go([&, f] {
        for (int i = f; i < kContexts; i += fibers) cancels[static_cast<std::size_t>(i)]();
        wg.done();
      });
    }
    wg.wait();
    cancels.clear();
    CHECK(timers_drain() == 0);
  });
}

TEST_CASE("context: deadlines firing while other fibers cancel the same contexts race safely") {
  static const int kFibers = scaled(400);
  for_each_procs([](int) {
    auto [parent, cancel_parent] = gort::with_cancel(gort::background());
    std::atomic<int> bad{0};
    gort::WaitGroup wg;
    wg.add(kFibers);
    for (int i = 0; i < kFibers; i++) {
      gort::go([&, i, parent = parent] {
        for (int round = 0; round < 20; round++) {
          auto [ctx, cancel] = gort::with_timeout(parent, std::chrono::microseconds(20 + (i + round) % 40));
          gort::sleep_for(std::chrono::microseconds((i * 7 + round) % 60));
          cancel();
          if (ctx.err() != kCanceled && ctx.err() != kDeadline) bad++;
          if (ctx.done().recv().ok) bad++;  // closed: never a value
        }
        wg.done();
      });
    }
    wg.wait();
    CHECK(bad.load() == 0);
    CHECK(!parent.err());
    cancel_parent();
    CHECK(timers_drain() == 0);
  });
}

TEST_CASE("context: children made while the parent is being cancelled on another M all end up done") {
  static const int kFibers = scaled(200);
  for_each_procs([](int) {
    for (int round = 0; round < 10; round++) {
      auto [parent, cancel_parent] = gort::with_cancel(gort::background());
      std::atomic<int> not_done{0};
      gort::WaitGroup wg;
      wg.add(kFibers);
      for (int i = 0; i < kFibers; i++) {
        gort::go([&, parent = parent] {
          for (int k = 0; k < 10; k++) {
            auto [child, cancel] = gort::with_timeout(parent, 1h);
            auto [grandchild, cancel_grandchild] = gort::with_cancel(child);
            if (k == 9) {
              grandchild.done().recv();  // the parent's cancel must reach it
              if (grandchild.err() != kCanceled) not_done++;
            }
            cancel_grandchild();
            cancel();
          }
          wg.done();
        });
      }
      gort::yield();
      cancel_parent();
      wg.wait();
      CHECK(not_done.load() == 0);
    }
    CHECK(timers_drain() == 0);
  });
}

TEST_CASE("context: sleep_for returns false promptly when the context is cancelled from another fiber") {
  for_each_procs([](int) {
    auto [ctx, cancel] = gort::with_cancel(gort::background());
    gort::go([cancel = cancel] {
      gort::sleep_for(5ms);
      cancel();
    });
    auto t0 = Clock::now();
    bool full = gort::sleep_for(ctx, 10s);
    auto took = Clock::now() - t0;
    CHECK(!full);
    CHECK(took >= 5ms);
    CHECK(took < 5s);
    CHECK(ctx.err() == kCanceled);
    t0 = Clock::now();
    CHECK(!gort::sleep_for(ctx, 10s));  // done already: at once
    CHECK(Clock::now() - t0 < 5s);
    CHECK(timers_drain() == 0);  // the sleep's timer went with it
  });
}

TEST_CASE("context: sleep_for sleeps the full time when the context stays live, and stops at its deadline") {
  for_each_procs([](int) {
    auto [ctx, cancel] = gort::with_cancel(gort::background());
    auto t0 = Clock::now();
    CHECK(gort::sleep_for(ctx, 10ms));
    CHECK(Clock::now() - t0 >= 10ms);
    CHECK(gort::sleep_until(ctx, Clock::now() - 1s));  // the past: at once
    CHECK(!ctx.err());
    cancel();

    auto [timed, cancel_timed] = gort::with_timeout(gort::background(), 10ms);
    t0 = Clock::now();
    CHECK(!gort::sleep_for(timed, 10s));
    CHECK(Clock::now() - t0 >= 10ms);
    CHECK(Clock::now() - t0 < 5s);
    CHECK(timed.err() == kDeadline);
    cancel_timed();
  });
}

TEST_CASE("context: select on done() together with a channel ends a consumer loop at cancel") {
  static constexpr int kItems = 1000;
  for_each_procs([](int) {
    auto [ctx, cancel] = gort::with_cancel(gort::background());
    gort::Chan<int> items(0);
    std::atomic<long> sum{0};
    std::atomic<int> err_ok{0};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&, ctx = ctx] {
      for (bool live = true; live;) {
        gort::select(gort::on_recv(items, [&](int v) { sum += v; }),
                     gort::on_recv(ctx.done(), [&] { live = false; }));
      }
      err_ok = ctx.err() == kCanceled;
      wg.done();
    });
    long want = 0;
    for (int i = 1; i <= kItems; i++) {
      items.send(i);  // unbuffered: received once this returns
      want += i;
    }
    cancel();
    wg.wait();
    CHECK(sum.load() == want);
    CHECK(err_ok.load() == 1);
  });
}

TEST_CASE("context: 1,000 fibers waiting on one context's done() are all released by one cancel") {
  static const int kFibers = scaled(1000);
  for_each_procs([](int) {
    auto [ctx, cancel] = gort::with_cancel(gort::background());
    std::atomic<int> waiting{0}, released{0};
    gort::WaitGroup wg;
    wg.add(kFibers);
    for (int i = 0; i < kFibers; i++) {
      gort::go([&, ctx = ctx] {
        waiting++;
        if (!ctx.done().recv().ok) released++;
        wg.done();
      });
    }
    for (int i = 0; i < 5000 && waiting.load() < kFibers; i++) gort::sleep_for(100us);
    gort::sleep_for(1ms);
    CHECK(released.load() == 0);
    cancel();
    wg.wait();
    CHECK(released.load() == kFibers);
  });
}

TEST_CASE("context: a thread the runtime does not own can cancel, and the fibers waiting wake") {
  for_each_procs([](int) {
    auto [ctx, cancel] = gort::with_timeout(gort::background(), 1h);
    std::atomic<int> released{0};
    gort::WaitGroup wg;
    wg.add(8);
    for (int i = 0; i < 8; i++) {
      gort::go([&, ctx = ctx] {
        ctx.done().recv();
        released++;
        wg.done();
      });
    }
    gort::sleep_for(1ms);
    std::thread t([cancel = cancel] { cancel(); });
    ctx.done().recv();
    t.join();  // it has cancelled: no wait to speak of
    wg.wait();
    CHECK(released.load() == 8);
    CHECK(ctx.err() == kCanceled);
    CHECK(timers_drain() == 0);
  });
}

TEST_CASE("context: a chain of 10,000 nested contexts is cancelled from its root without deep recursion") {
  static constexpr int kDepth = 10000;
  for_each_procs([](int) {
    auto [root, cancel_root] = gort::with_cancel(gort::background());
    std::vector<gort::CancelFunc> cancels;
    gort::Context leaf = root;
    for (int i = 0; i < kDepth; i++) {
      // Each deadline earlier than its parent's: every other node arms a timer.
      auto [c, cancel] =
          i % 2 ? gort::with_cancel(leaf) : gort::with_timeout(leaf, 1h - std::chrono::milliseconds(i));
      leaf = c;
      cancels.push_back(cancel);
    }
    CHECK(!leaf.err());
    cancel_root();
    CHECK(leaf.err() == kCanceled);
    CHECK(is_done(leaf));
    CHECK(gort::stats().timers == 0);
    cancels.clear();
    leaf = gort::Context{};  // the last handles: the chain is freed in a loop
  });
}
