// splice.cpp: io::copy between two conns with splice(2), socket -> pipe ->
// socket (Go's internal/poll/splice_linux.go: Splice, and its pipe pool).
//
// Each round drains up to one pipe's worth from src into an empty pipe
// (FD::splice_drain, under src's read lock) and pumps all of it into dst
// (FD::splice_pump, under dst's write lock); the bytes stay in the kernel.
// The locks are taken per round, as Go's, so a close or a deadline on
// either conn ends the copy at the next wait.
//
// Pipes: non-blocking and close-on-exec, grown to 1 MiB where the kernel
// allows (F_SETPIPE_SZ; an error keeps the default 64 KiB), and kept in a
// small pool for the next copy. Invariant: a pooled pipe is empty. A pipe
// that still holds bytes (the copy failed between drain and pump) is closed.
#include "fd.hpp"
#include "io_stats.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace gort::io::detail {

namespace {

using net::detail::Access;
using net::detail::FD;

constexpr int kMaxPipeSize = 1 << 20;  // Go's maxSpliceSize
constexpr std::size_t kMaxPooled = 16;

struct Pipe {
  int rfd = -1, wfd = -1;
  std::size_t size = 0;  // its capacity: the most one round moves
  std::size_t data = 0;  // bytes in it now
};

void close_pipe(const Pipe& p) {
  ::close(p.rfd);
  ::close(p.wfd);
}

// Pool: empty pipes for reuse. A std::mutex is fine: it is held for a
// vector push or pop, never across a park.
struct Pool {
  std::mutex mu;
  std::vector<Pipe> pipes;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: copies may run during exit
  return *p;
}

Result<Pipe> get_pipe() {
  {
    Pool& pl = pool();
    std::lock_guard lock(pl.mu);
    if (!pl.pipes.empty()) {
      Pipe p = pl.pipes.back();
      pl.pipes.pop_back();
      return {p, {}};
    }
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return {{}, net::detail::errno_code(errno)};
  Pipe p;
  p.rfd = fds[0];
  p.wfd = fds[1];
  ::fcntl(p.wfd, F_SETPIPE_SZ, kMaxPipeSize);  // errors tolerated (EPERM over pipe-max-size)
  int sz = ::fcntl(p.wfd, F_GETPIPE_SZ);
  p.size = sz > 0 ? static_cast<std::size_t>(sz) : 64 * 1024;
  return {p, {}};
}

void put_pipe(Pipe p) {
  if (p.data != 0) {  // bytes we could not deliver: the pipe is not reusable
    close_pipe(p);
    return;
  }
  Pool& pl = pool();
  {
    std::lock_guard lock(pl.mu);
    if (pl.pipes.size() < kMaxPooled) {
      pl.pipes.push_back(p);
      return;
    }
  }
  close_pipe(p);
}

}  // namespace

CopyResult splice_copy(net::Conn& dst, net::Conn& src, std::uint64_t limit, Progress* progress) {
  FD* d = Access::fd(dst);
  FD* s = Access::fd(src);
  if (!d || !s) return {0, net::detail::errno_code(EINVAL), true};  // as Conn's calls
  auto [p, perr] = get_pipe();
  if (perr) return {0, {}, false};  // no pipe: the buffered loop will do
  CopyResult r;
  r.handled = false;
  while (limit - r.written > 0) {
    std::size_t max = static_cast<std::size_t>(std::min<std::uint64_t>(p.size, limit - r.written));
    auto [in, derr] = s->splice_drain(p.wfd, max);
    // EINVAL on the first round: these sockets do not splice; the caller
    // falls back (Go's handled = false). Anything else is ours to report.
    if (!r.handled && derr == std::errc::invalid_argument) break;
    r.handled = true;
    if (derr) {
      r.err = derr;
      break;
    }
    if (in == 0) break;  // src's EOF
    p.data += in;
    auto [out, werr] = d->splice_pump(p.rfd, in, progress ? &progress->bytes : nullptr);
    p.data -= out;
    r.written += out;
    splice_bytes.fetch_add(out, std::memory_order_relaxed);
    if (werr) {
      r.err = werr;
      break;
    }
  }
  put_pipe(p);
  return r;
}

}  // namespace gort::io::detail
