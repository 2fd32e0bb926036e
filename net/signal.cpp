// signal.cpp: os::Signals (see <gort/signal.hpp>): a sigaction handler per
// signal writes the signal's number into the pipe of the Signals that owns
// it; wait() reads the pipe's other end as a net Conn, parking in the
// netpoller.
//
// The table: owner[sig] is 1 + the write end of the owning pipe, or 0. The
// handler reads it and writes one byte; `inflight` counts handlers between
// their read of the table and their write, so that stop() can clear the
// entry, wait for inflight to drain, and only then close the pipe: no
// handler ever writes to a closed (or reused) descriptor. Everything the
// handler touches is a lock-free atomic, and write(2) is async-signal-safe.
// table_mu (a plain mutex, never held across a park) orders notify and stop.
#include <gort/signal.hpp>

#include "fd.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace gort::os {

namespace {

constexpr int kMaxSig = 65;  // signal numbers 1..64 (NSIG on Linux)

std::atomic<int> owner[kMaxSig];  // 1 + the write end, 0 for none (zero-initialised)
std::atomic<int> inflight{0};
std::mutex table_mu;

void on_signal(int sig) {
  int saved = errno;
  inflight.fetch_add(1, std::memory_order_acq_rel);
  int fd = sig > 0 && sig < kMaxSig ? owner[sig].load(std::memory_order_acquire) - 1 : -1;
  if (fd >= 0) {
    unsigned char b = static_cast<unsigned char>(sig);
    ssize_t n = ::write(fd, &b, 1);  // a full pipe (EAGAIN) drops this arrival
    (void)n;
  }
  inflight.fetch_sub(1, std::memory_order_acq_rel);
  errno = saved;
}

}  // namespace

struct Signals::State {
  net::Conn reader;                                   // the pipe's read end, through the netpoller
  int wfd = -1;                                       // the pipe's write end, for the handler
  std::vector<std::pair<int, struct sigaction>> old;  // each signal and its action before
  bool stopped = false;

  ~State() {
    if (wfd >= 0) ::close(wfd);
  }

  // restore_locked puts back the previous actions and frees the table's
  // entries. Holds table_mu.
  void restore_locked() {
    for (auto& [sig, act] : old) {
      ::sigaction(sig, &act, nullptr);
      owner[sig].store(0, std::memory_order_release);
    }
    old.clear();
  }

  std::error_code stop() {
    {
      std::lock_guard l(table_mu);
      if (stopped) return make_error_code(io_errc::closed);
      stopped = true;
      restore_locked();
    }
    while (inflight.load(std::memory_order_acquire) != 0) std::this_thread::yield();  // a handler mid-write
    ::close(std::exchange(wfd, -1));
    reader.close();  // wakes a waiter with io_errc::closed
    return {};
  }
};

Signals::Signals() noexcept = default;
Signals::Signals(Signals&&) noexcept = default;
Signals& Signals::operator=(Signals&& o) noexcept {
  if (this != &o) {
    if (s_) s_->stop();
    s_ = std::move(o.s_);
  }
  return *this;
}
Signals::~Signals() {
  if (s_) s_->stop();
}

Result<Signals> Signals::notify(std::initializer_list<int> sigs) {
  for (int sig : sigs)
    if (sig <= 0 || sig >= kMaxSig || sig == SIGKILL || sig == SIGSTOP)
      return {Signals(), std::make_error_code(std::errc::invalid_argument)};
  int p[2];
  if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) return {Signals(), net::detail::errno_code(errno)};
  auto [fd, err] = net::detail::FD::open(p[0]);  // closes p[0] on failure
  if (err) {
    ::close(p[1]);
    return {Signals(), err};
  }
  auto s = std::make_unique<State>();
  s->reader = net::Conn(std::move(fd));
  s->wfd = p[1];
  std::lock_guard l(table_mu);
  for (int sig : sigs) {
    bool listed = false;
    for (auto& o : s->old) listed |= o.first == sig;
    if (listed) continue;  // named twice
    std::error_code fail;
    struct sigaction sa {
    }, before{};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (owner[sig].load() != 0) {
      fail = std::make_error_code(std::errc::device_or_resource_busy);  // another Signals has it
    } else {
      owner[sig].store(s->wfd + 1, std::memory_order_release);  // before the handler can run
      if (::sigaction(sig, &sa, &before) < 0) {
        fail = net::detail::errno_code(errno);
        owner[sig].store(0);
      }
    }
    if (fail) {
      s->restore_locked();  // undo what this call did; ~State closes the pipe
      return {Signals(), fail};
    }
    s->old.emplace_back(sig, before);
  }
  Signals out;
  out.s_ = std::move(s);
  return {std::move(out), {}};
}

Result<int> Signals::wait() {
  if (!s_) return {0, make_error_code(io_errc::closed)};
  unsigned char b = 0;
  auto [n, err] = s_->reader.read(&b, 1);
  if (err) return {0, err == io_errc::eof ? make_error_code(io_errc::closed) : err};
  return {b, {}};
}

std::error_code Signals::stop() { return s_ ? s_->stop() : make_error_code(io_errc::closed); }

}  // namespace gort::os
