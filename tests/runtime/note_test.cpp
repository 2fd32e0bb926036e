// Tests of runtime/note.cpp: the futex-backed sleep/wakeup idle Ms use.
#include "gort_test.hpp"

#include "note.hpp"

#include <atomic>
#include <chrono>
#include <thread>

using gort::rt::nanotime;
using gort::rt::Note;

TEST_CASE("note: a wakeup sent before the sleep is not lost") {
  Note n;
  n.wakeup();
  CHECK(n.sleep(0));
  CHECK(n.sleep());  // still woken until cleared
  n.clear();
  CHECK_FALSE(n.woken());
}

TEST_CASE("note: a sleep with a timeout gives up after it, and not before") {
  Note n;
  std::int64_t t0 = nanotime();
  CHECK_FALSE(n.sleep(20'000'000));
  CHECK(nanotime() - t0 >= 20'000'000);
}

TEST_CASE("note: wakeup from another thread wakes the sleeper") {
  Note n;
  std::atomic<bool> woke{false};
  std::thread t([&] { woke = n.sleep(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  n.wakeup();
  t.join();
  CHECK(woke);
}
