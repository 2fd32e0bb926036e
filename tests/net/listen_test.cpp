// Tests of net/listen.cpp: listen and Listener: accept, its deadline and
// close, socket options, unix sockets, and accept's back-off when the
// process runs out of descriptors (in child processes).
#include "gort_net_test.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

using namespace gort_test;
namespace net = gort::net;

namespace {

int sockopt(int fd, int level, int opt) {
  int v = -1;
  socklen_t len = sizeof v;
  getsockopt(fd, level, opt, &v, &len);
  return v;
}

// unix_path: a fresh socket path for this process.
std::string unix_path() {
  static int n = 0;
  std::string p = "/tmp/gort-net-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".sock";
  unlink(p.c_str());
  return p;
}

// fill_fds opens /dev/null until the process is out of descriptors. It
// looks again after a pause until a look finds none free: another thread
// may hold one for a moment (under UBSan, the pipe its checks make).
std::vector<int> fill_fds() {
  std::vector<int> fds;
  for (;;) {
    std::size_t before = fds.size();
    for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds.push_back(fd);
    if (fds.size() == before) return fds;
    gort::sleep_for(20ms);
  }
}

// EmfileSetup: a child with a low descriptor limit, a listener whose accept
// fiber reports on `accepted`, and one client whose connection waits in the
// backlog while accept4 says EMFILE (every other descriptor taken).
struct EmfileSetup {
  net::Listener ln;
  net::Conn client;
  std::vector<int> filler;
  gort::Chan<std::error_code> accepted{16};
  int fail = 0;  // non-zero: what went wrong (the child's exit status)

  explicit EmfileSetup(const net::ListenConfig& lc = {}) {
    // Let gort::run finish starting (its sysmon thread) before descriptors
    // run out: under UBSan a new thread's first virtual call needs a pipe.
    gort::sleep_for(100ms);
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) fail = 10;
    auto [l, err] = net::listen("tcp", "127.0.0.1:0", lc);
    if (err) fail = 11;
    ln = std::move(l);
    gort::go([this] {
      for (;;) {
        auto [c, err] = ln.accept();
        accepted.send(err);
        if (err) return;
        echo(std::move(c));
      }
    });
    filler = fill_fds();
    close(filler.back());  // one descriptor left: the client's socket
    filler.pop_back();
    auto [c, derr] = net::dial("tcp", ln.addr().to_string());
    if (derr) fail = 12;
    client = std::move(c);
  }
  void free_fds() {
    for (int fd : filler) close(fd);
    filler.clear();
  }
  // stop closes the client and the listener and waits for the accept fiber
  // to return, so that it is done with *this.
  void stop() {
    client.close();
    ln.close();
    while (accepted.recv().value != gort::io_errc::closed) {
    }
  }
};

int emfile_child() {
  return gort::run([] {
    EmfileSetup s;
    if (s.fail) return s.fail;
    double cpu0 = cpu_seconds();
    gort::sleep_for(500ms);
    double cpu = cpu_seconds() - cpu0;
    std::fprintf(stderr, "cpu %.3f s over 0.5 s; accepted %zu\n", cpu, s.accepted.len());
    if (s.accepted.len() != 0) return 20;  // nothing can be accepted without a descriptor
    if (cpu > 0.15) return 21;             // a busy loop would burn 0.5 s per thread
    s.free_fds();
    s.client.set_deadline(Clock::now() + 5s);  // the back-off is at most 1 s
    s.client.write("e");
    char c = 0;
    auto [n, err] = s.client.read(&c, 1);
    if (err || c != 'e') return 22;
    if (s.accepted.recv().value) return 23;
    s.stop();
    return 0;
  });
}

int emfile_close_child() {
  return gort::run([] {
    EmfileSetup s;
    if (s.fail) return s.fail;
    gort::sleep_for(700ms);  // back-off: 5+10+...+320 ms slept, now in a 640 ms sleep
    auto t0 = Clock::now();
    s.ln.close();
    auto err = s.accepted.recv().value;
    long long waited = ms(Clock::now() - t0);
    s.free_fds();  // before anything virtual: UBSan checks those with a pipe
    std::fprintf(stderr, "accept returned '%s' %lld ms after close\n", err.message().c_str(), waited);
    if (err != gort::io_errc::closed) return 20;
    if (waited > 200) return 21;
    return 0;  // the accept fiber has returned
  });
}

// emfile_backoff_child: ListenConfig::accept_backoff hears of every
// back-off sleep, EMFILE with 5 ms then doubling (gort-proxy logs them: a
// proxy out of fds said nothing while its clients queued; issue 9's fd
// exhaustion scenario, tools/reliability/s5_fds.py).
int emfile_backoff_child() {
  return gort::run([] {
    std::atomic<int> calls{0}, bad{0};
    std::atomic<long long> last{0};
    net::ListenConfig lc;
    lc.accept_backoff = [&](std::error_code e, std::chrono::milliseconds d) {
      long long want = calls == 0 ? 5 : std::min(2 * last.load(), 1000LL);
      // e.value(), not e != errc: comparing with an errc is a virtual call,
      // which UBSan's vptr check verifies through a pipe, and no fd is left.
      if (e.value() != EMFILE || d.count() != want) ++bad;
      last = d.count();
      ++calls;
    };
    EmfileSetup s(lc);
    if (s.fail) return s.fail;
    gort::sleep_for(500ms);  // 5+10+...+160 ms: six sleeps begun
    int n = calls;
    s.free_fds();  // before anything virtual: UBSan checks those with a pipe
    std::fprintf(stderr, "accept_backoff: %d calls, %d unexpected, last %lld ms\n", n, bad.load(), last.load());
    if (n < 3) return 20;
    if (bad) return 21;
    s.client.set_deadline(Clock::now() + 5s);
    s.client.write("e");
    char c = 0;
    auto [k, err] = s.client.read(&c, 1);
    if (err || c != 'e') return 22;
    s.stop();
    return 0;
  });
}

}  // namespace

TEST_CASE("net: close wakes a blocked accept with a closed error") {
  for_each_procs([](int) {
    net::Listener ln = listen_checked("tcp", "127.0.0.1:0");
    REQUIRE(ln.fd() >= 0);
    gort::Chan<std::error_code> got(1);
    gort::go([&] { got.send(ln.accept().err); });
    gort::sleep_for(20ms);
    CHECK(got.len() == 0);
    CHECK_FALSE(ln.close());
    CHECK(got.recv().value == gort::io_errc::closed);
    CHECK(ln.accept().err == gort::io_errc::closed);
    CHECK(ln.close() == gort::io_errc::closed);
  });
}

TEST_CASE("net: an accept deadline fires, and never early") {
  for_each_procs([](int) {
    net::Listener ln = listen_checked("tcp", "127.0.0.1:0");
    REQUIRE(ln.fd() >= 0);
    auto deadline = Clock::now() + 50ms;
    CHECK_FALSE(ln.set_deadline(deadline));
    auto [c, aerr] = ln.accept();
    auto now = Clock::now();
    CHECK(aerr == gort::io_errc::timeout);
    CHECK(now >= deadline);
    CHECK(ms(now - deadline) < 1000);
    ln.set_deadline(net::Deadline{});
    gort::go([&] { net::dial("tcp", ln.addr().to_string()); });
    CHECK_FALSE(ln.accept().err);  // works again
  });
}

TEST_CASE("net: 1,000 silent connections do not stop a new client being served") {
  raise_nofile();
  for_each_procs([](int) {
    net::Listener ln = listen_checked("tcp", "127.0.0.1:0");
    REQUIRE(ln.fd() >= 0);
    std::vector<net::Conn> silent;
    EchoServer server(ln);
    for (int i = 0; i < 1000; i++) {
      auto [c, derr] = net::dial("tcp", ln.addr().to_string());
      if (derr) break;
      silent.push_back(std::move(c));
    }
    CHECK(silent.size() == 1000);
    auto t0 = Clock::now();
    CHECK(round_trip("tcp", ln.addr().to_string(), "ping") == "ping");
    CHECK(ms(Clock::now() - t0) < 2000);
    CHECK(server.served() == 1001);
    for (auto& c : silent) c.close();
    server.stop();
  });
}

TEST_CASE("net: listen on ':0' is one dual-stack socket with its real port") {
  for_each_procs([](int) {
    net::Listener ln = listen_checked("tcp", ":0");
    REQUIRE(ln.fd() >= 0);
    int port = ln.addr().port();
    CHECK(port > 0);
    CHECK(ln.addr().to_string() == "[::]:" + std::to_string(port));
    CHECK(sockopt(ln.fd(), SOL_SOCKET, SO_REUSEADDR) == 1);
    EchoServer server(ln);
    CHECK(round_trip("tcp", "127.0.0.1:" + std::to_string(port), "v4") == "v4");
    CHECK(round_trip("tcp", "[::1]:" + std::to_string(port), "v6") == "v6");
    CHECK(round_trip("tcp4", ":" + std::to_string(port), "local") == "local");
    server.stop();
  });
}

TEST_CASE("net: listen on tcp4 and tcp6 takes only that family") {
  for_each_procs([](int) {
    auto [ln4, err4] = net::listen("tcp4", ":0");
    REQUIRE_FALSE(err4);
    CHECK(ln4.addr().to_string() == "0.0.0.0:" + std::to_string(ln4.addr().port()));
    auto [ln6, err6] = net::listen("tcp6", "[::1]:0");
    REQUIRE_FALSE(err6);
    CHECK(ln6.addr().to_string() == "[::1]:" + std::to_string(ln6.addr().port()));
    CHECK(net::dial("tcp", "127.0.0.1:" + std::to_string(ln6.addr().port())).err ==
          std::errc::connection_refused);
  });
}

TEST_CASE("net: SO_REUSEPORT lets two listeners share a port") {
  for_each_procs([](int) {
    net::ListenConfig cfg{.reuse_port = true};
    auto [a, err] = net::listen("tcp", "127.0.0.1:0", cfg);
    REQUIRE_FALSE(err);
    auto [b, berr] = net::listen("tcp", a.addr().to_string(), cfg);
    CHECK_FALSE(berr);
    CHECK(b.addr().port() == a.addr().port());
    // Without it the port is taken.
    CHECK(net::listen("tcp", a.addr().to_string()).err == std::errc::address_in_use);
  });
}

TEST_CASE("net: a unix listener round-trips and removes its socket file on close") {
  for_each_procs([](int) {
    std::string path = unix_path();
    net::Listener ln = listen_checked("unix", path);
    REQUIRE(ln.fd() >= 0);
    CHECK(ln.addr().to_string() == path);
    CHECK(ln.addr().network() == "unix");
    CHECK(access(path.c_str(), F_OK) == 0);
    gort::go([&] {
      auto [c, err] = ln.accept();
      if (err) return;
      c.write(c.remote_addr().to_string() == "" ? "unnamed peer" : "named peer");
      c.close();
    });
    auto [c, derr] = net::dial("unix", path);
    REQUIRE_FALSE(derr);
    CHECK(c.remote_addr().to_string() == path);
    std::string got;
    CHECK_FALSE(read_all(c, &got));
    CHECK(got == "unnamed peer");
    CHECK_FALSE(ln.close());
    CHECK(access(path.c_str(), F_OK) != 0);
    CHECK(net::dial("unix", path).err == std::errc::no_such_file_or_directory);
  });
}

TEST_CASE("net: an abstract unix socket round-trips") {
  for_each_procs([](int procs) {
    std::string name = "@gort-net-test-" + std::to_string(getpid()) + "-" + std::to_string(procs);
    net::Listener ln = listen_checked("unix", name);
    REQUIRE(ln.fd() >= 0);
    CHECK(ln.addr().to_string() == name);
    EchoServer server(ln);
    CHECK(round_trip("unix", name, "abstract") == "abstract");
    server.stop();
  });
}

TEST_CASE("net: listen reports bad networks and addresses as errors") {
  gort::run([] {
    CHECK(net::listen("udp", ":0").err == gort::io_errc::unknown_network);
    CHECK(net::listen("tcp", "127.0.0.1").err == gort::io_errc::missing_port);
    CHECK(net::listen("unix", "").err == gort::io_errc::missing_address);
    CHECK(net::listen("unix", std::string(200, 'x')).err == std::errc::invalid_argument);
    CHECK(net::listen("tcp", "192.0.2.1:0").err == std::errc::address_not_available);
  });
}

TEST_CASE("net: accept rides out EMFILE without spinning and serves again once descriptors are freed") {
  auto r = run_child(emfile_child);
  INFO(r.err);
  CHECK(r.status == 0);
}

TEST_CASE("net: ListenConfig::accept_backoff hears of each EMFILE back-off, 5 ms then doubling") {
  auto r = run_child(emfile_backoff_child);
  INFO(r.err);
  CHECK(r.status == 0);
}

TEST_CASE("net: close during accept's EMFILE back-off ends it at once with closed") {
  auto r = run_child(emfile_close_child);
  INFO(r.err);
  CHECK(r.status == 0);
}
