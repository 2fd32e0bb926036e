// gort_net_test.hpp: helpers shared by the net tests (tests/net/).
//
// As in gort_test.hpp, results are collected inside fibers and checked on
// the main fiber or after gort::run returns; these helpers never assert.
#pragma once

#include "gort_test.hpp"

#include <gort/net.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gort_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// raise_nofile raises RLIMIT_NOFILE, the hard limit too where the process
// may (root with CAP_SYS_RESOURCE, as on CI: up to 65,536), the soft limit
// to the hard one, and returns the new soft limit: tests that hold thousands
// of sockets call it first.
inline long raise_nofile() {
  constexpr rlim_t kWant = 65536;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < kWant) {
    rlimit want{kWant, kWant};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;  // else: not privileged, keep the hard limit
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : static_cast<long>(rl.rlim_cur);
}

// ms: a duration in whole milliseconds, for messages and comparisons.
template <class D>
long long ms(D d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// read_all reads until EOF or an error (returned); what came is in *out.
inline std::error_code read_all(gort::net::Conn& c, std::string* out) {
  char buf[1024];
  for (;;) {
    auto [n, err] = c.read(buf);
    out->append(buf, n);
    if (err) return err == gort::io_errc::eof ? std::error_code{} : err;
  }
}

// read_n reads exactly n bytes into *out, unless an error comes first.
inline std::error_code read_n(gort::net::Conn& c, std::size_t n, std::string* out) {
  char buf[1024];
  while (out->size() < n) {
    auto [got, err] = c.read(buf, std::min(sizeof buf, n - out->size()));
    out->append(buf, got);
    if (err) return err;
  }
  return {};
}

// round_trip dials address, writes msg, half-closes, and returns what comes
// back before EOF (or what failed); *remote, if given, gets the peer's address.
inline std::string round_trip(std::string_view network, const std::string& address, std::string_view msg,
                              std::string* remote = nullptr) {
  auto r = gort::net::dial(network, address);
  if (r.err) return "dial: " + r.err.message();
  if (remote) *remote = r.value.remote_addr().to_string();
  r.value.write(msg);
  r.value.close_write();
  std::string got;
  if (auto err = read_all(r.value, &got)) return "read: " + err.message();
  return got;
}

// pending_read starts a fiber that reads once from c (at most 64 bytes) and
// sends the result; c must outlive it.
inline gort::Chan<gort::Result<std::size_t>> pending_read(gort::net::Conn& c) {
  gort::Chan<gort::Result<std::size_t>> got(1);
  gort::go([&c, got]() mutable {
    char buf[64];
    got.send(c.read(buf));
  });
  return got;
}

// pending_write starts a fiber that writes all of data to c and sends the
// result; c and data must outlive it (receive the result before they go).
inline gort::Chan<gort::Result<std::size_t>> pending_write(gort::net::Conn& c, std::string_view data) {
  gort::Chan<gort::Result<std::size_t>> wrote(1);
  gort::go([&c, data, wrote]() mutable { wrote.send(c.write(data)); });
  return wrote;
}

// echo copies what c reads back to it until EOF or an error, then closes it.
inline void echo(gort::net::Conn c) {
  char buf[1024];
  for (;;) {
    auto [n, err] = c.read(buf);
    if (err || c.write(buf, n).err) break;
  }
  c.close();
}

// EchoServer serves ln: a fiber accepts until ln is closed and starts a
// fiber per conn that echoes it (echo above). stop() closes ln and waits for
// all those fibers, so that ln may then be destroyed; the conns' clients
// must have closed them by then. Declare it after ln and the clients.
class EchoServer {
 public:
  explicit EchoServer(gort::net::Listener& ln) : ln_(ln) {
    wg_.add(1);
    gort::go([this] {
      serve();
      wg_.done();
    });
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  ~EchoServer() { stop(); }

  void stop() {
    ln_.close();
    wg_.wait();
  }
  int served() const { return served_.load(); }

 private:
  void serve() {
    for (;;) {
      auto [c, err] = ln_.accept();
      if (err) return;
      served_++;
      wg_.add(1);
      gort::go(
          [this](gort::net::Conn c) {
            echo(std::move(c));
            wg_.done();
          },
          std::move(c));
    }
  }

  gort::net::Listener& ln_;
  gort::WaitGroup wg_;  // the accept fiber and the echo fibers
  std::atomic<int> served_{0};
};

// listen_checked: a listener (an invalid one, after a failed CHECK, if
// listen fails). For tests whose fibers capture it: clang < 16 cannot
// capture a structured binding.
inline gort::net::Listener listen_checked(std::string_view network, std::string_view address,
                                          const gort::net::ListenConfig& cfg = {}) {
  auto r = gort::net::listen(network, address, cfg);
  CHECK_MESSAGE(!r.err, "listen ", network, " ", address, ": ", r.err.message());
  return std::move(r.value);
}

// pattern: n test bytes that do not repeat with a short period.
inline std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i++) s[i] = static_cast<char>(i * 7 + i / 251);
  return s;
}

// Fnv: FNV-1a over a byte stream, however it is cut into pieces.
struct Fnv {
  std::uint64_t h = 1469598103934665603ull;
  void add(const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; i++) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  }
};

// Pair: both ends of one loopback TCP connection (ok is false if the
// listen, dial or accept failed).
struct Pair {
  gort::net::Conn client, server;
  bool ok = false;
};

inline Pair tcp_pair() {
  Pair p;
  auto [ln, err] = gort::net::listen("tcp", "127.0.0.1:0");
  if (err) return p;
  auto [c, derr] = gort::net::dial("tcp", ln.addr().to_string());
  if (derr) return p;
  auto [s, aerr] = ln.accept();
  if (aerr) return p;
  p.client = std::move(c);
  p.server = std::move(s);
  p.ok = true;
  return p;
}

}  // namespace gort_test
