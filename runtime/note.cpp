// note.cpp: futex-backed notes (see note.hpp) and the monotonic clock.
#include "note.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace gort::rt {

std::int64_t nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t nanotime_coarse() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void Note::wakeup() {
  if (key_.exchange(1, std::memory_order_release) == 0)
    syscall(SYS_futex, &key_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

bool Note::sleep(std::int64_t timeout_ns) {
  const std::int64_t deadline = timeout_ns >= 0 ? nanotime() + timeout_ns : -1;
  while (key_.load(std::memory_order_acquire) == 0) {
    timespec ts, *tsp = nullptr;
    if (deadline >= 0) {
      std::int64_t left = deadline - nanotime();
      if (left <= 0) return false;
      ts.tv_sec = left / 1'000'000'000;
      ts.tv_nsec = left % 1'000'000'000;
      tsp = &ts;
    }
    // Sleeps only while key is still 0, so a wakeup between the load and
    // here makes the futex call return at once.
    syscall(SYS_futex, &key_, FUTEX_WAIT_PRIVATE, 0, tsp, nullptr, 0);
  }
  return true;
}

}  // namespace gort::rt
