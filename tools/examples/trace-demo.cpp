// trace-demo: small programs to watch the scheduler with the execution
// tracer (<gort/trace.hpp>), the sources of the pictures in docs/design.md
// (5j). Each writes its trace to FILE and checks its own result.
//
//   trace-demo pingpong FILE   two fibers pass a value back and forth over an
//                              unbuffered channel, 20 times: each send parks
//                              its sender until the other fiber receives,
//                              and runnext hands the woken one the P at once
//   trace-demo steal FILE      one fiber spawns 8 CPU-bound fibers into its
//                              P's run queue; with 2 Ps the idle M steals
//                              half of them (GORT_MAXPROCS=2 recommended)
//
// tools/trace/render-doc-pictures.sh runs both, and a proxy connection
// through talk-proxy, and draws them with gort-trace-svg.
#include <gort/gort.hpp>
#include <gort/trace.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

// spin burns about `us` microseconds of CPU without parking or yielding.
void spin(int us) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  volatile unsigned x = 0;
  while (std::chrono::steady_clock::now() < end) x = x + 1;
}

int pingpong() {
  gort::Chan<int> ping(0), pong(0);  // unbuffered
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    for (;;) {
      auto [v, ok] = ping.recv();
      if (!ok) break;
      spin(5);  // some work, so the slices are wide enough to see
      pong.send(v + 1);
    }
    wg.done();
  });
  int v = 0;
  for (int i = 0; i < 20; i++) {
    ping.send(v);
    v = pong.recv().value;
    spin(5);
  }
  ping.close();
  wg.wait();
  return v == 20 ? 0 : 1;
}

int steal() {
  gort::WaitGroup wg;
  std::atomic<int> done{0};
  wg.add(8);
  for (int i = 0; i < 8; i++) {
    gort::go([&] {
      spin(1000);
      done++;
      wg.done();
    });
  }
  wg.wait();
  return done == 8 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "pingpong") != 0 && std::strcmp(argv[1], "steal") != 0)) {
    std::fprintf(stderr, "usage: trace-demo pingpong|steal FILE\n");
    return 2;
  }
  const std::string what = argv[1], file = argv[2];
  return gort::run([&] {
    if (!gort::trace::start(file)) {
      std::perror(("trace-demo: " + file).c_str());
      return 1;
    }
    int rc = what == "pingpong" ? pingpong() : steal();
    if (!gort::trace::stop()) rc = 1;
    if (rc != 0) std::fprintf(stderr, "trace-demo: %s: wrong result\n", what.c_str());
    return rc;
  });
}
