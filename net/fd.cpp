// fd.cpp: the poll descriptor's loops and its close protocol (see fd.hpp;
// Go's internal/poll/fd_unix.go, fd_mutex.go and fd_poll_runtime.go).
#include "fd.hpp"

#include <gort/fiber.hpp>

#include <fcntl.h>  // splice
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <thread>

namespace gort::net::detail {

namespace {

// kMaxRW caps one read or write syscall, as Go's maxRW (1 GiB).
constexpr std::size_t kMaxRW = std::size_t{1} << 30;

std::error_code poll_error(netpoll::Status st) {
  return make_error_code(st == netpoll::Status::Closing ? io_errc::closed : io_errc::timeout);
}

// without_sigpipe runs write_call, a system call that writes up to len
// bytes to a socket and has no MSG_NOSIGNAL (splice, sendfile), without the
// SIGPIPE a gone peer raises. The kernel raises it with EPIPE, but may then
// return another error (ECONNRESET) or the bytes moved before it, so after
// any short call a pending SIGPIPE is taken (sigtimedwait, no wait). On a
// fiber's thread (an M) SIGPIPE is blocked for the thread's life (mstart.cpp),
// so that is all; the fiber does not park in between, so it is still on the
// thread the signal was raised on. Elsewhere (a thread outside the runtime),
// SIGPIPE is blocked around the call only. errno is the call's.
template <class F>
ssize_t without_sigpipe(std::size_t len, F&& write_call) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  const bool on_m = gort::fiber_id() != 0;
  if (!on_m) pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t n = write_call();
  int e = errno;
  if ((n < 0 || static_cast<std::size_t>(n) < len) && (on_m || !sigismember(&old, SIGPIPE))) {
    timespec zero{};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  if (!on_m) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = e;
  return n;
}

// Ref holds a reference for one call (incref has succeeded).
struct Ref {
  FD* fd;
  ~Ref() { fd->decref(); }
};

}  // namespace

Result<std::unique_ptr<FD>> FD::open(int sysfd) {
  netpoll::PollDesc* pd = netpoll::open(sysfd);
  if (!pd) {
    int e = errno;
    ::close(sysfd);
    return {nullptr, errno_code(e)};
  }
  return {std::make_unique<FD>(sysfd, pd), {}};
}

bool FD::incref() noexcept {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  do {
    if (s & kClosed) return false;
  } while (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed));
  return true;
}

void FD::decref() noexcept {
  // Leaving exactly the closer's reference: the closer waits for this.
  if (state_.fetch_sub(1, std::memory_order_acq_rel) - 1 == (kClosed | 1)) csema_.release();
}

std::error_code FD::close() {
  // Take a reference and set the closed bit in one step (Go's increfAndClose).
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  do {
    if (s & kClosed) return make_error_code(io_errc::closed);
  } while (!state_.compare_exchange_weak(s, (s + 1) | kClosed, std::memory_order_acq_rel,
                                         std::memory_order_relaxed));
  netpoll::evict(pd);
  if (s != 0) {  // calls were in progress: the last one to leave releases csema_
    if (gort::fiber_id() != 0) {
      csema_.acquire(false, "net: close");
    } else {  // a thread outside the runtime cannot park: poll instead
      while (state_.load(std::memory_order_acquire) != (kClosed | 1))
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  // The poller closes the descriptor (Linux frees it even when close fails,
  // EINTR included).
  int e = netpoll::close(pd);
  return e ? errno_code(e) : std::error_code{};
}

std::error_code FD::set_deadline(std::int64_t deadline, netpoll::Mode mode) {
  if (!incref()) return make_error_code(io_errc::closed);
  Ref ref{this};
  netpoll::set_deadline(pd, deadline, mode);
  return {};
}

Result<std::size_t> FD::read(std::span<std::byte> p) {
  if (!incref()) return {0, make_error_code(io_errc::closed)};
  Ref ref{this};
  std::lock_guard lock(rmu_);
  if (p.empty()) return {0, {}};  // Go: a zero-byte read returns at once
  if (auto st = netpoll::prepare(pd, netpoll::Mode::Read); st != netpoll::Status::Ok)
    return {0, poll_error(st)};
  std::size_t len = std::min(p.size(), kMaxRW);
  for (;;) {
    ssize_t n = ::read(sysfd, p.data(), len);
    if (n > 0) return {static_cast<std::size_t>(n), {}};
    if (n == 0) return {0, make_error_code(io_errc::eof)};
    int e = errno;  // before anything that may park (errno is per thread)
    if (e == EINTR) continue;
    if (e != EAGAIN) return {0, errno_code(e)};
    if (auto st = netpoll::wait(pd, netpoll::Mode::Read); st != netpoll::Status::Ok)
      return {0, poll_error(st)};
  }
}

std::error_code FD::wait_read() {
  if (!incref()) return make_error_code(io_errc::closed);
  Ref ref{this};
  std::lock_guard lock(rmu_);
  // prepare drops a readiness the poller may have reported for bytes the
  // last read took; the level-triggered poller reports bytes still there.
  auto st = netpoll::prepare(pd, netpoll::Mode::Read);
  if (st == netpoll::Status::Ok) st = netpoll::wait(pd, netpoll::Mode::Read);
  return st == netpoll::Status::Ok ? std::error_code{} : poll_error(st);
}

Result<std::size_t> FD::write(std::span<const std::byte> p) {
  if (!incref()) return {0, make_error_code(io_errc::closed)};
  Ref ref{this};
  std::lock_guard lock(wmu_);
  if (auto st = netpoll::prepare(pd, netpoll::Mode::Write); st != netpoll::Status::Ok)
    return {0, poll_error(st)};
  std::size_t done = 0;
  while (done < p.size()) {
    // MSG_NOSIGNAL: a peer that is gone is EPIPE, not a SIGPIPE that kills the process.
    ssize_t n = ::send(sysfd, p.data() + done, std::min(p.size() - done, kMaxRW), MSG_NOSIGNAL);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    int e = errno;
    if (e == EINTR) continue;
    if (e != EAGAIN) return {done, errno_code(e)};
    if (auto st = netpoll::wait(pd, netpoll::Mode::Write); st != netpoll::Status::Ok)
      return {done, poll_error(st)};
  }
  return {done, {}};
}

Result<std::size_t> FD::splice_drain(int pipe_wfd, std::size_t max) {
  if (!incref()) return {0, make_error_code(io_errc::closed)};
  Ref ref{this};
  std::lock_guard lock(rmu_);
  if (auto st = netpoll::prepare(pd, netpoll::Mode::Read); st != netpoll::Status::Ok)
    return {0, poll_error(st)};
  for (;;) {
    // The pipe is empty, so EAGAIN means the socket has nothing to read.
    ssize_t n = ::splice(sysfd, nullptr, pipe_wfd, nullptr, max, SPLICE_F_NONBLOCK);
    if (n >= 0) return {static_cast<std::size_t>(n), {}};  // 0: the peer's EOF
    int e = errno;
    if (e == EINTR) continue;
    if (e != EAGAIN) return {0, errno_code(e)};
    if (auto st = netpoll::wait(pd, netpoll::Mode::Read); st != netpoll::Status::Ok)
      return {0, poll_error(st)};
  }
}

Result<std::size_t> FD::splice_pump(int pipe_rfd, std::size_t in_pipe, std::atomic<std::uint64_t>* progress) {
  if (!incref()) return {0, make_error_code(io_errc::closed)};
  Ref ref{this};
  std::lock_guard lock(wmu_);
  if (auto st = netpoll::prepare(pd, netpoll::Mode::Write); st != netpoll::Status::Ok)
    return {0, poll_error(st)};
  std::size_t done = 0;
  while (done < in_pipe) {
    // The pipe holds the bytes, so EAGAIN means the socket's buffer is full.
    const std::size_t len = in_pipe - done;
    ssize_t n = without_sigpipe(
        len, [&] { return ::splice(pipe_rfd, nullptr, sysfd, nullptr, len, SPLICE_F_NONBLOCK); });
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      if (progress) progress->fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
      continue;
    }
    int e = n == 0 ? EPIPE : errno;  // 0 from a pipe we know holds data: treat as broken
    if (e == EINTR) continue;
    if (e != EAGAIN) return {done, errno_code(e)};
    if (auto st = netpoll::wait(pd, netpoll::Mode::Write); st != netpoll::Status::Ok)
      return {done, poll_error(st)};
  }
  return {done, {}};
}

Result<std::size_t> FD::sendfile(int src, std::size_t max) {
  if (!incref()) return {0, make_error_code(io_errc::closed)};
  Ref ref{this};
  std::lock_guard lock(wmu_);
  if (auto st = netpoll::prepare(pd, netpoll::Mode::Write); st != netpoll::Status::Ok)
    return {0, poll_error(st)};
  for (;;) {
    ssize_t n = without_sigpipe(max, [&] { return ::sendfile(sysfd, src, nullptr, max); });
    if (n >= 0) return {static_cast<std::size_t>(n), {}};  // 0: the end of the file
    int e = errno;
    if (e == EINTR) continue;
    if (e != EAGAIN) return {0, errno_code(e)};
    if (auto st = netpoll::wait(pd, netpoll::Mode::Write); st != netpoll::Status::Ok)
      return {0, poll_error(st)};
  }
}

Result<int> FD::accept(::sockaddr_storage* sa, ::socklen_t* len) {
  if (!incref()) return {-1, make_error_code(io_errc::closed)};
  Ref ref{this};
  std::lock_guard lock(rmu_);
  if (auto st = netpoll::prepare(pd, netpoll::Mode::Read); st != netpoll::Status::Ok)
    return {-1, poll_error(st)};
  for (;;) {
    ::socklen_t l = sizeof(::sockaddr_storage);
    int s = ::accept4(sysfd, reinterpret_cast<::sockaddr*>(sa), &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s >= 0) {
      *len = l;
      return {s, {}};
    }
    int e = errno;
    // ECONNABORTED: the connection was reset while queued; take the next one (Go).
    if (e == EINTR || e == ECONNABORTED) continue;
    if (e != EAGAIN) return {-1, errno_code(e)};
    if (auto st = netpoll::wait(pd, netpoll::Mode::Read); st != netpoll::Status::Ok)
      return {-1, poll_error(st)};
  }
}

std::error_code FD::connect(const ::sockaddr* sa, ::socklen_t len, std::int64_t deadline) {
  if (!incref()) return make_error_code(io_errc::closed);
  Ref ref{this};
  std::lock_guard lock(wmu_);
  int r = ::connect(sysfd, sa, len);
  int e = r < 0 ? errno : 0;
  if (r == 0 || e == EISCONN) return {};
  // EINTR: the connection goes on in the background, as with EINPROGRESS.
  if (e != EINPROGRESS && e != EALREADY && e != EINTR) return errno_code(e);
  if (deadline != 0) netpoll::set_deadline(pd, deadline, netpoll::Mode::Write);
  std::error_code err;
  for (;;) {
    if (auto st = netpoll::wait(pd, netpoll::Mode::Write); st != netpoll::Status::Ok) {
      err = poll_error(st);
      break;
    }
    int soerr = 0;
    ::socklen_t l = sizeof soerr;
    if (::getsockopt(sysfd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0) {
      err = errno_code(errno);
      break;
    }
    if (soerr == EINPROGRESS || soerr == EALREADY || soerr == EINTR) continue;
    if (soerr != 0 && soerr != EISCONN) {
      err = errno_code(soerr);
      break;
    }
    // The poller may wake us before the connection is made (Go's issue
    // 19289): check that there is a peer, else wait again.
    ::sockaddr_storage peer;
    ::socklen_t pl = sizeof peer;
    if (::getpeername(sysfd, reinterpret_cast<::sockaddr*>(&peer), &pl) == 0) break;
    if (errno != ENOTCONN) {
      err = errno_code(errno);
      break;
    }
  }
  if (deadline != 0) netpoll::set_deadline(pd, 0, netpoll::Mode::Write);
  return err;
}

}  // namespace gort::net::detail
