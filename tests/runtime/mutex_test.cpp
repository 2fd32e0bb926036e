// Tests of runtime/mutex.cpp (and the semaphore under it, runtime/sema.cpp).
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

using gort_test::for_each_procs;
using gort_test::run_child;

namespace {

// burn spins for about `us` microseconds without yielding: work done outside
// the lock, long enough that idle Ms steal fibers and run them alongside.
void burn(int us) {
  auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < end) {
  }
}

}  // namespace

TEST_CASE("mutex: 1,000 fibers on 2+ Ms increment a guarded counter exactly") {
  static constexpr int kFibers = 1000, kIters = 20;
  for_each_procs([](int procs) {
    gort::Mutex mu;
    long counter = 0;                   // guarded by mu (TSan checks it is)
    std::set<std::thread::id> threads;  // guarded by mu
    gort::WaitGroup wg;
    wg.add(kFibers);
    for (int f = 0; f < kFibers; f++) {
      gort::go([&] {
        for (int i = 0; i < kIters; i++) {
          {
            std::lock_guard lk(mu);
            long v = counter;
            if (i % 4 == 0) gort::yield();  // hold it across a switch: others queue up
            counter = v + 1;
            if (i == 0) threads.insert(std::this_thread::get_id());
          }
          burn(5);
        }
        wg.done();
      });
    }
    wg.wait();
    std::lock_guard lk(mu);
    CHECK(counter == long{kFibers} * kIters);
    if (procs >= 2) CHECK(threads.size() >= 2);
  });
}

TEST_CASE("mutex: a waiter is not passed over forever by a fiber that keeps re-locking") {
  // A locks, yields while holding, unlocks, and locks again at once: in
  // normal mode it always beats the woken B (with one P, B runs only when A
  // yields, and then finds it locked). After 1 ms B switches the mutex to
  // starvation mode and the next unlock hands it to B. Without starvation
  // mode B would wait until A gives up after kLimit rounds.
  static constexpr long kLimit = 5'000'000, kBound = 500'000;
  for_each_procs([](int procs) {
    gort::Mutex mu;
    std::atomic<bool> a_running{false}, b_waiting{false}, b_got{false};
    std::atomic<long> rounds_while_b_waited{0};
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] {
      a_running = true;
      for (long i = 0; i < kLimit && !b_got.load(); i++) {
        mu.lock();
        gort::yield();
        if (b_waiting.load() && !b_got.load()) rounds_while_b_waited++;
        mu.unlock();
      }
      wg.done();
    });
    gort::go([&] {
      while (!a_running.load()) gort::yield();
      gort::sleep_for(std::chrono::milliseconds(1));
      b_waiting = true;
      mu.lock();
      b_got = true;
      mu.unlock();
      wg.done();
    });
    wg.wait();
    CHECK(b_got.load());
    CHECK(rounds_while_b_waited.load() < kBound);
    if (procs == 1) CHECK(rounds_while_b_waited.load() > 0);  // B came while A held it
    MESSAGE("procs " << procs << ": rounds while B waited " << rounds_while_b_waited.load());
    // Back in normal mode, unlocked.
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("mutex: unlock of an unlocked mutex throws and leaves it usable") {
  gort::Mutex mu;
  CHECK_THROWS_WITH_AS(mu.unlock(), "sync: unlock of unlocked mutex", std::logic_error);
  mu.lock();  // uncontended: works outside a fiber
  mu.unlock();
  CHECK_THROWS_AS(mu.unlock(), std::logic_error);
  for_each_procs([](int) {
    gort::Mutex m;
    std::string what;
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      try {
        m.unlock();
      } catch (const std::logic_error& e) {
        what = e.what();
      }
      m.lock();
      m.unlock();
      wg.done();
    });
    wg.wait();
    CHECK(what == "sync: unlock of unlocked mutex");
    CHECK(m.try_lock());
    m.unlock();
  });
}

TEST_CASE("mutex: unlock of an unlocked mutex escaping a fiber is a panic") {
  auto r = run_child([] {
    return gort::run([] {
      gort::Mutex mu;
      mu.unlock();
    });
  });
  CHECK(r.status == 2);
  CHECK(r.err.find("panic: std::logic_error: sync: unlock of unlocked mutex") != std::string::npos);
}

TEST_CASE("mutex: try_lock fails while another fiber holds it and succeeds once released") {
  for_each_procs([](int) {
    gort::Mutex mu;
    gort::WaitGroup locked, release, done;
    locked.add(1);
    release.add(1);
    done.add(1);
    gort::go([&] {
      mu.lock();
      locked.done();
      release.wait();
      mu.unlock();
      done.done();
    });
    locked.wait();
    bool while_held = mu.try_lock();
    std::unique_lock ul(mu, std::try_to_lock);
    bool ul_while_held = ul.owns_lock();
    release.done();
    done.wait();
    bool after = mu.try_lock();
    CHECK_FALSE(while_held);
    CHECK_FALSE(ul_while_held);
    CHECK(after);
    mu.unlock();
  });
}

TEST_CASE("mutex: a fiber may unlock a mutex another fiber locked") {
  for_each_procs([](int) {
    gort::Mutex mu;
    gort::WaitGroup locked, done;
    locked.add(1);
    done.add(1);
    gort::go([&] {
      mu.lock();
      locked.done();
    });
    locked.wait();
    gort::go([&] {
      mu.unlock();
      done.done();
    });
    mu.lock();  // waits for the second fiber's unlock
    done.wait();
    mu.unlock();
  });
}

TEST_CASE("mutex: an unlock from a thread outside the runtime wakes a parked fiber") {
  for_each_procs([](int) {
    gort::Mutex mu;
    mu.lock();
    std::atomic<bool> got{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      mu.lock();
      got = true;
      mu.unlock();
      wg.done();
    });
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      mu.unlock();
    });
    wg.wait();
    t.join();
    CHECK(got.load());
  });
}

TEST_CASE("mutex: lock outside a fiber throws only when it would have to wait") {
  gort::Mutex mu;
  mu.lock();
  CHECK_THROWS_AS(mu.lock(), std::logic_error);
  mu.unlock();
  CHECK(mu.try_lock());
  mu.unlock();
}
