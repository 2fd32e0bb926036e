// Tests of runtime/runq.cpp: the per-P run queue, driven directly (no
// scheduler running), with the runtime's internal headers.
#include "gort_test.hpp"

#include "p.hpp"
#include "sched.hpp"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

using namespace gort::rt;

namespace {
// A Sched for runqputslow's global queue, installed for one test.
struct FakeSched {
  Sched s;
  FakeSched() {
    s.procs = 1;
    sched.store(&s);
  }
  ~FakeSched() { sched.store(nullptr); }
};
}  // namespace

TEST_CASE("runq: Gs come out in the order they went in, runnext first") {
  FakeSched fs;
  P pp;
  std::vector<G> gs(5);
  for (int i = 0; i < 4; i++) runqput(&pp, &gs[static_cast<std::size_t>(i)], false);
  runqput(&pp, &gs[4], true);
  CHECK(runqlen(&pp) == 5);
  CHECK(runqget(&pp) == &gs[4]);
  for (int i = 0; i < 4; i++) CHECK(runqget(&pp) == &gs[static_cast<std::size_t>(i)]);
  CHECK(runqget(&pp) == nullptr);
  CHECK(runqempty(&pp));
}

TEST_CASE("runq: a new runnext pushes the old one to the tail") {
  FakeSched fs;
  P pp;
  G a, b, c;
  runqput(&pp, &a, false);
  runqput(&pp, &b, true);
  runqput(&pp, &c, true);  // b goes behind a
  CHECK(runqget(&pp) == &c);
  CHECK(runqget(&pp) == &a);
  CHECK(runqget(&pp) == &b);
}

TEST_CASE("runq: a ping-pong pair in runnext cannot starve the rest of the queue") {
  FakeSched fs;
  P pp;
  std::vector<G> queued(10);
  for (auto& g : queued) runqput(&pp, &g, false);
  G ping, pong;
  std::set<G*> served;
  // Each pick readies the partner into runnext, as a ping-pong over a
  // channel does; the queued Gs must still all be picked, each within 17.
  int picks = 0;
  runqput(&pp, &ping, true);
  while (served.size() < queued.size() && picks < 1000) {
    G* g = runqget(&pp);
    REQUIRE(g != nullptr);
    picks++;
    if (g == &ping)
      runqput(&pp, &pong, true);
    else if (g == &pong)
      runqput(&pp, &ping, true);
    else
      served.insert(g);
  }
  CHECK(served.size() == queued.size());
  CHECK(picks <= 17 * 10 + 1);
}

TEST_CASE("runq: a full ring moves half of itself to the global queue") {
  FakeSched fs;
  P pp;
  std::vector<G> gs(kRunqSize + 1);
  for (auto& g : gs) runqput(&pp, &g, false);
  CHECK(runqlen(&pp) == kRunqSize / 2 + 0u);
  CHECK(fs.s.runqsize.load() == kRunqSize / 2 + 1);
  // FIFO across the move: the oldest half went to the global queue.
  REQUIRE(fs.s.runq.size() == 1);
  CHECK(fs.s.runq.front()->g[0] == &gs[0]);
  CHECK(runqget(&pp) == &gs[kRunqSize / 2]);
}

TEST_CASE("runq: the owner and thieves together take every G exactly once") {
  FakeSched fs;
  P pp;
  constexpr int kN = 200'000;
  std::vector<G> gs(kN);
  std::vector<std::atomic<int>> seen(kN);
  auto index = [&](G* g) { return static_cast<std::size_t>(g - gs.data()); };
  std::atomic<bool> done{false};
  auto thief = [&] {
    G* batch[kRunqSize / 2];
    while (!done.load()) {
      std::uint32_t n = runqgrab(&pp, batch, true);
      for (std::uint32_t i = 0; i < n; i++) seen[index(batch[i])]++;
    }
  };
  std::thread t1(thief), t2(thief);
  for (int i = 0; i < kN; i++) {
    runqput(&pp, &gs[static_cast<std::size_t>(i)], i % 3 == 0);
    if (i % 2 == 0)
      if (G* g = runqget(&pp)) seen[index(g)]++;
  }
  while (G* g = runqget(&pp)) seen[index(g)]++;
  done = true;
  t1.join();
  t2.join();
  for (GBatch* b : fs.s.runq)  // overflow, if any
    for (std::uint32_t i = b->head; i < b->n; i++) seen[index(b->g[i])]++;
  gort_test::check_exactly_once(seen);
}
