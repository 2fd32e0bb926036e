// Tests of runtime/select.cpp: Go's select.
#include "gort_test.hpp"

#include <atomic>
#include <memory>
#include <vector>

using gort::Chan;
using gort_test::for_each_procs;

TEST_CASE("select: two always-ready cases are each chosen half the time, within 2%") {
  for_each_procs([](int) {
    Chan<int> a(1), b(1);
    constexpr int kN = 100'000;
    int picked_a = 0;
    for (int i = 0; i < kN; i++) {
      a.send(1);
      b.send(2);
      int v = 0;
      gort::select(gort::on_recv(a, [&](int x) { v = x; }), gort::on_recv(b, [&](int x) { v = x; }));
      if (v == 1) {
        picked_a++;
        b.recv();
      } else {
        a.recv();
      }
    }
    double share = double(picked_a) / kN;
    CHECK(share > 0.48);
    CHECK(share < 0.52);
  });
}

TEST_CASE("select: with nothing ready, the default case runs at once, without one, select waits") {
  for_each_procs([](int) {
    Chan<int> a(0), b(0);
    bool dflt = false;
    int i = gort::select(gort::on_recv(a), gort::on_send(b, 1), gort::on_default([&] { dflt = true; }));
    CHECK(i == 2);
    CHECK(dflt);
    gort::go([a]() mutable {
      gort::sleep_for(std::chrono::milliseconds(5));
      a.send(9);
    });
    int got = 0;
    i = gort::select(gort::on_recv(a, [&](int v, bool ok) { got = ok ? v : -1; }), gort::on_send(b, 1));
    CHECK(i == 0);
    CHECK(got == 9);
  });
}

TEST_CASE("select: a nil channel's case is never chosen, and a closed one is always ready") {
  for_each_procs([](int) {
    Chan<int> nil, closed(0), ready(1);
    closed.close();
    for (int k = 0; k < 100; k++) {
      ready.send(1);
      int i = gort::select(gort::on_recv(nil), gort::on_send(nil, 1), gort::on_recv(ready));
      CHECK(i == 2);
    }
    bool ok = true;
    int i = gort::select(gort::on_recv(nil), gort::on_recv(closed, [&](int, bool o) { ok = o; }));
    CHECK(i == 1);
    CHECK_FALSE(ok);
  });
}

TEST_CASE("select: a send case moves its value only if it runs") {
  for_each_procs([](int) {
    Chan<std::unique_ptr<int>> full(1), empty(1);
    full.send(std::make_unique<int>(1));
    auto mine = std::make_unique<int>(2);
    int i = gort::select(gort::on_send(full, std::move(mine)), gort::on_recv(empty), gort::on_default());
    CHECK(i == 2);
    // The value was moved into the case object, which was then destroyed: the
    // channel never got it.
    CHECK(full.len() == 1);
  });
}

TEST_CASE("select: 64 fibers selecting over 16 channels on 4 Ps receive every value exactly once") {
  constexpr int kChans = 16, kSelectors = 64, kPerChan = 2'000;
  std::vector<std::atomic<int>> seen(kChans * kPerChan);
  long long sum = 0;
  int rc = gort::run(gort::Config{.procs = 4}, [&] {
    std::vector<Chan<int>> chans;
    for (int i = 0; i < kChans; i++) chans.emplace_back(i % 2 ? 0 : 8);
    Chan<int> done(0);
    std::atomic<long long> total{0};
    gort::WaitGroup selectors;
    selectors.add(kSelectors);
    for (int s = 0; s < kSelectors; s++) {
      gort::go([&, s] {
        // Each selector waits on 4 overlapping channels plus `done`.
        const int base = s % kChans;
        bool running = true;
        while (running) {
          auto take = [&](int v) {
            seen[static_cast<std::size_t>(v)]++;
            total += v;
          };
          gort::select(gort::on_recv(chans[base], take), gort::on_recv(chans[(base + 1) % kChans], take),
                       gort::on_recv(chans[(base + 5) % kChans], take),
                       gort::on_recv(chans[(base + 11) % kChans], take),
                       gort::on_recv(done, [&] { running = false; }));
        }
        selectors.done();
      });
    }
    gort::WaitGroup senders;
    senders.add(kChans);
    for (int c = 0; c < kChans; c++) {
      gort::go([&, c] {
        for (int k = 0; k < kPerChan; k++) chans[static_cast<std::size_t>(c)].send(c * kPerChan + k);
        senders.done();
      });
    }
    senders.wait();
    done.close();
    selectors.wait();
    sum = total.load();
  });
  CHECK(rc == 0);
  gort_test::check_exactly_once(seen);
  const long long n = kChans * kPerChan;
  CHECK(sum == n * (n - 1) / 2);
}

TEST_CASE("select: concurrent selects sending and receiving on the same channels never deadlock") {
  for_each_procs([](int) {
    Chan<int> a(0), b(0);
    constexpr int kRounds = 5'000;
    gort::WaitGroup wg;
    wg.add(2);
    std::atomic<int> moved{0};
    // One fiber sends on a or receives from b; the other the mirror image.
    gort::go([&] {
      for (int i = 0; i < kRounds; i++)
        gort::select(gort::on_send(a, i, [&] { moved++; }), gort::on_recv(b, [&](int) { moved++; }));
      wg.done();
    });
    gort::go([&] {
      for (int i = 0; i < kRounds; i++)
        gort::select(gort::on_send(b, i, [&] { moved++; }), gort::on_recv(a, [&](int) { moved++; }));
      wg.done();
    });
    wg.wait();
    CHECK(moved == 2 * kRounds);
  });
}
