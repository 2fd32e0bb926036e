// Tests of runtime/chan.cpp: Go's channel semantics, across 1, 2 and 4 Ps.
#include "gort_test.hpp"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using gort::Chan;
using gort_test::for_each_procs;
using gort_test::run_child;

namespace {

// A prime sieve of chained filter fibers, as in Go's own test programs.
void generate(Chan<int> out) {
  for (int i = 2;; i++) out.send(i);
}
void filter(Chan<int> in, Chan<int> out, int prime) {
  for (;;) {
    int v = in.recv().value;
    if (v % prime != 0) out.send(v);
  }
}

std::vector<int> primes_by_division(int n) {
  std::vector<int> ps;
  for (int v = 2; static_cast<int>(ps.size()) < n; v++) {
    bool prime = true;
    for (int p : ps)
      if (v % p == 0) {
        prime = false;
        break;
      }
    if (prime) ps.push_back(v);
  }
  return ps;
}

}  // namespace

TEST_CASE("chan: a sieve of chained filter fibers finds the first 1,000 primes exactly") {
  const auto expected = primes_by_division(1000);
  for_each_procs([&](int) {
    std::vector<int> got;
    Chan<int> ch(0);
    gort::go(generate, ch);
    for (int i = 0; i < 1000; i++) {
      int prime = ch.recv().value;
      got.push_back(prime);
      Chan<int> next(0);
      gort::go(filter, ch, next, prime);
      ch = next;
    }
    CHECK(got == expected);  // the filters are abandoned, as in Go's sieve
  });
}

TEST_CASE("chan: a daisy chain of 100,000 fibers passes a value along") {
  for_each_procs([](int) {
    static constexpr int n = gort_test::scaled(100'000);
    Chan<int> leftmost(0);
    Chan<int> left = leftmost;
    for (int i = 0; i < n; i++) {
      Chan<int> right(0);
      gort::go([](Chan<int> l, Chan<int> r) { l.send(1 + r.recv().value); }, left, right);
      left = right;
    }
    gort::go([](Chan<int> r) { r.send(1); }, left);
    CHECK(leftmost.recv().value == n + 1);
  });
}

TEST_CASE("chan: fan-out and fan-in move every value exactly once") {
  for_each_procs([](int) {
    constexpr int kValues = 20'000, kWorkers = 16;
    Chan<int> jobs(64), results(64);
    gort::WaitGroup wg;
    wg.add(kWorkers);
    for (int w = 0; w < kWorkers; w++) {
      gort::go([&] {
        for (int v : jobs) results.send(v * 2);
        wg.done();
      });
    }
    gort::go([&] {
      for (int i = 1; i <= kValues; i++) jobs.send(i);
      jobs.close();
    });
    gort::go([&] {
      wg.wait();
      results.close();
    });
    long long sum = 0;
    int count = 0;
    for (int v : results) {
      sum += v;
      count++;
    }
    CHECK(count == kValues);
    CHECK(sum == 2LL * kValues * (kValues + 1) / 2);
  });
}

TEST_CASE("chan: an unbuffered send waits for its receiver, and the value goes straight to it") {
  for_each_procs([](int) {
    Chan<std::string> ch(0);
    std::atomic<bool> sent{false};
    gort::go([&] {
      ch.send("hello");
      sent = true;
    });
    gort::sleep_for(std::chrono::milliseconds(5));
    CHECK_FALSE(sent.load());
    auto r = ch.recv();
    CHECK(r.ok);
    CHECK(r.value == "hello");
  });
}

TEST_CASE("chan: a buffered channel is FIFO, with len and cap, and send blocks only when full") {
  for_each_procs([](int) {
    Chan<int> ch(3);
    CHECK(ch.cap() == 3);
    ch.send(1);
    ch.send(2);
    ch.send(3);
    CHECK(ch.len() == 3);
    std::atomic<bool> fourth{false};
    gort::WaitGroup sender;
    sender.add(1);
    gort::go([&] {
      ch.send(4);
      fourth = true;
      sender.done();
    });
    gort::sleep_for(std::chrono::milliseconds(5));
    CHECK_FALSE(fourth.load());   // still blocked: the buffer is full
    CHECK(ch.recv().value == 1);  // makes room: the sender's value goes in
    sender.wait();
    CHECK(ch.len() == 3);
    CHECK(ch.recv().value == 2);
    CHECK(ch.recv().value == 3);
    CHECK(ch.recv().value == 4);
    CHECK(ch.len() == 0);
  });
}

TEST_CASE("chan: move-only elements pass through buffered and unbuffered channels") {
  for_each_procs([](int) {
    for (std::size_t cap : {0u, 2u}) {
      Chan<std::unique_ptr<int>> ch(cap);
      gort::go([ch]() mutable {
        for (int i = 0; i < 10; i++) ch.send(std::make_unique<int>(i));
        ch.close();
      });
      int sum = 0;
      for (auto& p : ch) sum += *p;
      CHECK(sum == 45);
    }
  });
}

TEST_CASE("chan: close wakes every blocked receiver, and receivers drain the buffer first") {
  for_each_procs([](int) {
    Chan<int> ch(0);
    constexpr int kReceivers = 50;
    std::atomic<int> not_ok{0};
    gort::WaitGroup wg;
    wg.add(kReceivers);
    for (int i = 0; i < kReceivers; i++)
      gort::go([&] {
        auto r = ch.recv();
        if (!r.ok && r.value == 0) not_ok++;
        wg.done();
      });
    gort::sleep_for(std::chrono::milliseconds(5));
    ch.close();
    wg.wait();
    CHECK(not_ok == kReceivers);

    Chan<int> buffered(3);
    buffered.send(7);
    buffered.send(8);
    buffered.close();
    auto a = buffered.recv(), b = buffered.recv(), c = buffered.recv();
    CHECK((a.ok && a.value == 7));
    CHECK((b.ok && b.value == 8));
    CHECK((!c.ok && c.value == 0));
    CHECK_FALSE(buffered.recv().ok);  // and at once, every time
  });
}

TEST_CASE("chan: copies of a handle refer to one channel, a default-constructed one is nil") {
  for_each_procs([](int) {
    Chan<int> a(1);
    Chan<int> b = a;
    b.send(5);
    CHECK(a.recv().value == 5);
    CHECK(a == b);
    Chan<int> nil;
    CHECK(nil.is_nil());
    CHECK(nil.len() == 0);
    CHECK(nil.cap() == 0);
  });
}

namespace {

std::string panic_of(int (*f)()) {
  auto r = run_child(f);
  if (r.status != 2) return "exit " + std::to_string(r.status) + ": " + r.err;
  auto at = r.err.find("panic: ");
  return at == std::string::npos ? r.err : r.err.substr(at, r.err.find('\n', at) - at);
}

}  // namespace

TEST_CASE("chan: send on a closed channel, close of a closed or nil channel are panics with Go's messages") {
  CHECK(panic_of([] {
          return gort::run([] {
            Chan<int> c(1);
            c.close();
            c.send(1);
          });
        }) == "panic: std::logic_error: send on closed channel");
  CHECK(panic_of([] {
          return gort::run([] {
            Chan<int> c(0);
            c.close();
            c.close();
          });
        }) == "panic: std::logic_error: close of closed channel");
  CHECK(panic_of([] {
          return gort::run([] {
            Chan<int> c;
            c.close();
          });
        }) == "panic: std::logic_error: close of nil channel");
  // A sender blocked when the channel is closed panics too.
  CHECK(panic_of([] {
          return gort::run([] {
            Chan<int> c(0);
            gort::go([c]() mutable { c.send(1); });
            gort::sleep_for(std::chrono::milliseconds(10));
            c.close();
            gort::sleep_for(std::chrono::seconds(5));
          });
        }) == "panic: std::logic_error: send on closed channel");
}

TEST_CASE("chan: send and receive on a nil channel block forever") {
  for_each_procs([](int) {
    Chan<int> nil;
    std::atomic<int> returned{0};
    gort::go([&] {
      nil.send(1);
      returned++;
    });
    gort::go([&] {
      nil.recv();
      returned++;
    });
    gort::sleep_for(std::chrono::milliseconds(20));
    CHECK(returned == 0);  // the two fibers are abandoned when main returns
  });
}
