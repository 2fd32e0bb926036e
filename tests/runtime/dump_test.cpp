// Tests of runtime/dump.cpp: the fiber dump, the deadlock report, SIGQUIT.
#include "gort_test.hpp"

#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>

using gort_test::run_child;
using namespace std::chrono_literals;

TEST_CASE("dump: the fiber dump lists every live fiber with its state and what it waits on") {
  std::string dump;
  gort::run(gort::Config{.procs = 2}, [&] {
    gort::Chan<int> never(0);
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] { never.recv(); });
    gort::go([&] { wg.wait(); });
    gort::go([] { gort::sleep_for(1h); });
    gort::sleep_for(20ms);
    dump = gort::fiber_dump();
    wg.done();
  });
  CHECK(dump.find("[chan receive, ") != std::string::npos);
  CHECK(dump.find("[WaitGroup.wait, ") != std::string::npos);
  CHECK(dump.find("[sleep, ") != std::string::npos);
  CHECK(dump.find("[running]") != std::string::npos);  // main, taking the dump
  CHECK(dump.find("main fiber of gort::run") != std::string::npos);
  CHECK(dump.find("created by gort::go at ") != std::string::npos);
  CHECK(dump.find("dump_test.cpp:") != std::string::npos);  // where each fiber was spawned
  CHECK(gort::fiber_dump().empty());                        // no run, nothing to list
}

TEST_CASE("dump: when every fiber is asleep for good, the process reports a deadlock and exits 2") {
  auto r = run_child([] {
    return gort::run([] {
      gort::Chan<int> c(0);
      gort::go([c]() mutable {
        c.send(1);
        c.send(2);
      });
      c.recv();
      c.recv();
      c.recv();  // nobody sends a third
    });
  });
  CHECK(r.status == 2);
  CHECK(r.err.find("fatal error: all fibers are asleep - deadlock!") == 0);
  CHECK(r.err.find("[chan receive, ") != std::string::npos);
}

TEST_CASE("dump: a pending timer or a thread that wakes a fiber in time is not a deadlock") {
  auto r = run_child([] {
    return gort::run([] {
      gort::Chan<int> forever(0);
      gort::go([forever]() mutable { forever.recv(); });  // blocked for good, but not alone
      gort::sleep_for(1500ms);                            // a timer is pending all along
      gort::WaitGroup wg;
      wg.add(1);
      std::thread t([&] {
        std::this_thread::sleep_for(300ms);
        wg.done();
      });
      wg.wait();
      t.join();
      return 0;
    });
  });
  CHECK(r.status == 0);
  CHECK(r.err == "");
}

TEST_CASE("dump: SIGQUIT prints every fiber and exits 2, as in Go") {
  auto r = run_child([] {
    return gort::run([] {
      gort::Chan<int> never(0);
      gort::go([never]() mutable { never.recv(); });
      gort::go([] {
        gort::sleep_for(20ms);  // main is asleep by now
        kill(getpid(), SIGQUIT);
        gort::sleep_for(10s);
      });
      gort::sleep_for(10s);
      return 0;
    });
  });
  CHECK(r.status == 2);
  CHECK(r.err.find("SIGQUIT: quit") == 0);
  CHECK(r.err.find("[chan receive, ") != std::string::npos);
  CHECK(r.err.find("[sleep, ") != std::string::npos);
}
