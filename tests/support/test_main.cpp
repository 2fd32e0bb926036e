// The doctest main shared by every gort test executable.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "gort_test.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace gort_test {

namespace {
std::string drain(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
  close(fd);
  return s;
}
}  // namespace

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

int use_stack(int kib) {
  volatile char frame[1024];
  frame[kib % 1024] = static_cast<char>(kib);
  int below = kib <= 1 ? 0 : use_stack(kib - 1);
  return below + frame[kib % 1024];
}

ChildResult run_child(int (*f)()) {
  int out[2], err[2];
  REQUIRE(pipe(out) == 0);
  REQUIRE(pipe(err) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]), close(err[0]), close(out[1]), close(err[1]);
    int rc = f();
    std::fflush(stdout);
    _exit(rc);
  }
  close(out[1]), close(err[1]);
  ChildResult r;
  std::thread t([&] { r.out = drain(out[0]); });
  r.err = drain(err[0]);
  t.join();
  int st = 0;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

}  // namespace gort_test

#ifdef GORT_TEST_TSAN
// Tests fork a child that then starts gort's threads (run_child). TSan
// refuses that by default because the parent may have been multi-threaded;
// run_child forks only while the runtime is stopped, so no lock can be held.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }
#endif
