// Tests of runtime/netpoll.cpp and netpoll_ev.cpp: fibers parked on fds,
// driven through the poll-descriptor API that net/ uses, over socketpairs.
#include <gort/detail/netpoll.hpp>

#include "gort_test.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <vector>

using gort_test::cpu_seconds;
using gort_test::for_each_procs;
using namespace std::chrono_literals;
namespace np = gort::netpoll;
using Clock = std::chrono::steady_clock;

namespace {

// Pair: a non-blocking socketpair, each end registered with the poller.
struct Pair {
  int fd[2];
  np::PollDesc* pd[2];
  Pair() {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd) == 0);
    for (int i = 0; i < 2; i++) {
      pd[i] = np::open(fd[i]);
      REQUIRE(pd[i] != nullptr);
    }
  }
  ~Pair() {
    for (int i = 0; i < 2; i++) {
      np::evict(pd[i]);
      CHECK(np::close(pd[i]) == 0);  // closes fd[i] too
    }
  }
};

// The loops of net/'s fd.cpp, reduced: -1 with the status on close/timeout.
ssize_t read_some(np::PollDesc* pd, int fd, void* buf, std::size_t n, np::Status* st) {
  for (;;) {
    if ((*st = np::prepare(pd, np::Mode::Read)) != np::Status::Ok) return -1;
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0 || errno != EAGAIN) return r;
    if ((*st = np::wait(pd, np::Mode::Read)) != np::Status::Ok) return -1;
  }
}

bool write_all(np::PollDesc* pd, int fd, const char* buf, std::size_t n, np::Status* st) {
  while (n > 0) {
    if ((*st = np::prepare(pd, np::Mode::Write)) != np::Status::Ok) return false;
    ssize_t w = ::write(fd, buf, n);
    if (w > 0) {
      buf += w;
      n -= static_cast<std::size_t>(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN) return false;
    if ((*st = np::wait(pd, np::Mode::Write)) != np::Status::Ok) return false;
  }
  return true;
}

std::int64_t deadline_in(std::chrono::nanoseconds d) { return np::now() + d.count(); }

}  // namespace

TEST_CASE("netpoll: a read parks only its fiber until the peer writes") {
  for_each_procs([](int) {
    Pair p;
    std::atomic<int> other_ran{0};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      for (int i = 0; i < 100; i++) {
        other_ran++;
        gort::yield();
      }
      gort::sleep_for(20ms);
      np::Status st;
      CHECK(write_all(p.pd[1], p.fd[1], "hello", 5, &st));
      wg.done();
    });
    char buf[16];
    np::Status st;
    ssize_t n = read_some(p.pd[0], p.fd[0], buf, sizeof buf, &st);
    CHECK(n == 5);
    CHECK(std::string(buf, 5) == "hello");
    CHECK(other_ran.load() == 100);
    wg.wait();
  });
}

TEST_CASE("netpoll: ping-pong over many pairs loses no readiness") {
  for_each_procs([](int) {
    constexpr int kPairs = 20, kRounds = 500;
    std::vector<std::unique_ptr<Pair>> pairs;
    for (int i = 0; i < kPairs; i++) pairs.push_back(std::make_unique<Pair>());
    std::atomic<int> done{0}, bad{0};
    gort::WaitGroup wg;
    for (auto& pp : pairs) {
      Pair* p = pp.get();
      wg.add(2);
      gort::go([p, &bad, &wg] {  // echo side
        char c;
        np::Status st;
        for (int r = 0; r < kRounds; r++) {
          if (read_some(p->pd[1], p->fd[1], &c, 1, &st) != 1 || !write_all(p->pd[1], p->fd[1], &c, 1, &st))
            bad++;
        }
        wg.done();
      });
      gort::go([p, &bad, &done, &wg] {
        np::Status st;
        for (int r = 0; r < kRounds; r++) {
          char c = static_cast<char>(r), got = 0;
          if (!write_all(p->pd[0], p->fd[0], &c, 1, &st) ||
              read_some(p->pd[0], p->fd[0], &got, 1, &st) != 1 || got != c)
            bad++;
        }
        done++;
        wg.done();
      });
    }
    wg.wait();
    CHECK(bad.load() == 0);
    CHECK(done.load() == kPairs);
  });
}

TEST_CASE("netpoll: a read deadline wakes the reader with Timeout, never early") {
  for_each_procs([](int) {
    Pair p;
    auto t0 = Clock::now();
    np::set_deadline(p.pd[0], deadline_in(30ms), np::Mode::Read);
    char c;
    np::Status st = np::Status::Ok;
    CHECK(read_some(p.pd[0], p.fd[0], &c, 1, &st) == -1);
    CHECK(st == np::Status::Timeout);
    CHECK(Clock::now() - t0 >= 30ms);
    // Later calls fail at once until the deadline moves; moving it re-enables.
    CHECK(np::prepare(p.pd[0], np::Mode::Read) == np::Status::Timeout);
    np::set_deadline(p.pd[0], 0, np::Mode::Read);
    CHECK(np::prepare(p.pd[0], np::Mode::Read) == np::Status::Ok);
    // The write direction was never affected.
    CHECK(np::prepare(p.pd[0], np::Mode::Write) == np::Status::Ok);
  });
}

TEST_CASE("netpoll: a deadline in the past fails the next wait at once") {
  for_each_procs([](int) {
    Pair p;
    np::set_deadline(p.pd[0], np::now() - 1, np::Mode::ReadWrite);
    CHECK(np::prepare(p.pd[0], np::Mode::Read) == np::Status::Timeout);
    CHECK(np::prepare(p.pd[0], np::Mode::Write) == np::Status::Timeout);
    CHECK(np::wait(p.pd[0], np::Mode::Read) == np::Status::Timeout);
  });
}

TEST_CASE("netpoll: a deadline moved later makes the earlier timer's fire stale") {
  for_each_procs([](int) {
    Pair p;
    auto t0 = Clock::now();
    np::set_deadline(p.pd[0], deadline_in(10ms), np::Mode::Read);
    np::set_deadline(p.pd[0], deadline_in(80ms), np::Mode::Read);
    char c;
    np::Status st = np::Status::Ok;
    CHECK(read_some(p.pd[0], p.fd[0], &c, 1, &st) == -1);
    CHECK(st == np::Status::Timeout);
    CHECK(Clock::now() - t0 >= 80ms);
  });
}

TEST_CASE("netpoll: moving a deadline while a fiber waits applies to that wait") {
  for_each_procs([](int) {
    Pair p;
    np::set_deadline(p.pd[0], deadline_in(10s), np::Mode::Read);
    gort::go([&] {
      gort::sleep_for(20ms);
      np::set_deadline(p.pd[0], np::now() - 1, np::Mode::Read);  // expire it now
    });
    auto t0 = Clock::now();
    char c;
    np::Status st = np::Status::Ok;
    CHECK(read_some(p.pd[0], p.fd[0], &c, 1, &st) == -1);
    CHECK(st == np::Status::Timeout);
    CHECK(Clock::now() - t0 < 5s);
  });
}

TEST_CASE("netpoll: evict wakes a blocked reader and a blocked writer with Closing") {
  for_each_procs([](int) {
    Pair p;
    std::vector<char> big(1 << 20, 'x');
    std::atomic<int> closing{0};
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] {
      char c;
      np::Status st = np::Status::Ok;
      if (read_some(p.pd[0], p.fd[0], &c, 1, &st) == -1 && st == np::Status::Closing) closing++;
      wg.done();
    });
    gort::go([&] {  // nobody reads fd[1]: the socket buffer fills and the writer parks
      np::Status st = np::Status::Ok;
      if (!write_all(p.pd[0], p.fd[0], big.data(), big.size(), &st) && st == np::Status::Closing) closing++;
      wg.done();
    });
    gort::sleep_for(30ms);
    np::evict(p.pd[0]);
    wg.wait();
    CHECK(closing.load() == 2);
  });
}

TEST_CASE("netpoll: a blocked writer resumes when the peer drains the buffer") {
  for_each_procs([](int) {
    Pair p;
    constexpr std::size_t kBytes = 8 << 20;
    std::vector<char> out(kBytes);
    for (std::size_t i = 0; i < kBytes; i++) out[i] = static_cast<char>(i * 7);
    std::vector<char> in;
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      np::Status st;
      CHECK(write_all(p.pd[0], p.fd[0], out.data(), out.size(), &st));
      wg.done();
    });
    char buf[65536];
    np::Status st;
    while (in.size() < kBytes) {
      ssize_t n = read_some(p.pd[1], p.fd[1], buf, sizeof buf, &st);
      REQUIRE(n > 0);
      in.insert(in.end(), buf, buf + n);
    }
    wg.wait();
    CHECK(in == out);
  });
}

TEST_CASE("netpoll: fibers waiting on fds leave the process idle") {
  // The idle Ms block in epoll instead of spinning: CPU time while every
  // fiber waits must be a small part of the wall time.
  for_each_procs([](int) {
    Pair p;
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      char c;
      np::Status st;
      CHECK(read_some(p.pd[0], p.fd[0], &c, 1, &st) == 1);
      wg.done();
    });
    double c0 = cpu_seconds();
    auto t0 = Clock::now();
    gort::sleep_for(300ms);
    double cpu = cpu_seconds() - c0;
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    CHECK(cpu < 0.25 * wall);
    np::Status st;
    CHECK(write_all(p.pd[1], p.fd[1], "x", 1, &st));
    wg.wait();
  });
}

TEST_CASE("netpoll: a fiber parked on an fd is not reported as a deadlock") {
  auto r = gort_test::run_child([] {
    return gort::run([] {
      Pair p;
      gort::go([&] {
        gort::sleep_for(2500ms);  // past two deadlock checks
        np::Status st;
        write_all(p.pd[1], p.fd[1], "x", 1, &st);
      });
      char c;
      np::Status st;
      return read_some(p.pd[0], p.fd[0], &c, 1, &st) == 1 ? 0 : 1;
    });
  });
  CHECK(r.status == 0);
  CHECK(r.err.find("deadlock") == std::string::npos);
}

TEST_CASE("netpoll: a deadlock with the poller idle is still reported") {
  auto r = gort_test::run_child([] {
    return gort::run([] {
      Pair p;  // the netpoller is in use, but nobody waits on an fd
      gort::Chan<int> never(0);
      never.recv();
      return 0;
    });
  });
  CHECK(r.status == 2);
  CHECK(r.err.find("all fibers are asleep - deadlock!") != std::string::npos);
}

TEST_CASE("netpoll: deadlines fire on time while other Ms poll busily") {
  // A deadline's timer must wake the poller even when a busy M's
  // non-blocking poll consumes the break meant for it: the lost wake-up
  // left the poller in epoll_wait for libev's longest wait (59.7 s).
  for_each_procs([](int) {
    constexpr int kPairs = 4;
    std::vector<std::unique_ptr<Pair>> pairs;
    for (int i = 0; i < kPairs; i++) pairs.push_back(std::make_unique<Pair>());
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    for (auto& pp : pairs) {  // ping-pong traffic: Ms poll all the time
      Pair* p = pp.get();
      wg.add(2);
      gort::go([p, &wg] {
        char c = 0;
        np::Status st;
        while (read_some(p->pd[1], p->fd[1], &c, 1, &st) == 1 && write_all(p->pd[1], p->fd[1], &c, 1, &st)) {
        }
        wg.done();
      });
      gort::go([p, &stop, &wg] {
        char c = 0;
        np::Status st;
        while (!stop.load() && write_all(p->pd[0], p->fd[0], &c, 1, &st) &&
               read_some(p->pd[0], p->fd[0], &c, 1, &st) == 1) {
        }
        ::shutdown(p->fd[0], SHUT_WR);  // ends the echo side
        wg.done();
      });
    }
    Pair q;
    std::int64_t worst_ms = 0;
    for (int i = 0; i < 100; i++) {
      auto t0 = Clock::now();
      np::set_deadline(q.pd[0], deadline_in(2ms), np::Mode::Read);
      char c;
      np::Status st = np::Status::Ok;
      CHECK(read_some(q.pd[0], q.fd[0], &c, 1, &st) == -1);
      CHECK(st == np::Status::Timeout);
      worst_ms = std::max<std::int64_t>(
          worst_ms, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
      np::set_deadline(q.pd[0], 0, np::Mode::Read);
    }
    stop = true;
    wg.wait();
    CAPTURE(worst_ms);
    CHECK(worst_ms < 2000);
  });
}
