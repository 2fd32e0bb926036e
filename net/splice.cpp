// splice.cpp: io::copy between two conns (net/fd's sockets, TCP or unix):
// splice(2) for bulk, a small pooled buffer for small messages (Go's
// internal/poll/splice_linux.go: Splice, and its pipe pool; HAProxy's
// splice-auto makes the same choice).
//
// A copy goes in rounds, each in one of two ways:
//  - small: read up to kSmallBuf (16 KiB) into a buffer from a pool, write
//    it all, give the buffer back. Two system calls per message, and the
//    buffer is held only while the round runs (an idle conn holds none).
//  - splice: drain up to one pipe's worth from src into an empty pipe
//    (FD::splice_drain, under src's read lock) and pump all of it into dst
//    (FD::splice_pump, under dst's write lock); the bytes stay in the kernel.
// A copy starts small. A small read that fills the buffer says a bulk
// stream is coming: the next rounds splice. A splice round that moved less
// than kSmallBuf goes back to small, and gives its pipe back. Measured on
// loopback, two splices cost more than a read and a write for a 64-byte
// message (more context switches), and far less for bulk.
// A round that moved less than it asked for emptied the socket, so the next
// one parks for readiness first instead of trying and meeting EAGAIN (the
// poller is level-triggered, so nothing that came in between is missed).
// The locks are taken per round, as Go's, so a close or a deadline on
// either conn ends the copy at the next wait.
//
// Pipes: non-blocking and close-on-exec, grown to 1 MiB where the kernel
// allows (F_SETPIPE_SZ; an error keeps the default 64 KiB), and kept in a
// pool: at most 256 pipes, and at most one (two fds) per 16 entries of the
// fd table (RLIMIT_NOFILE), so that idle pipes never hold much of a small
// table. Invariant: a pooled pipe is empty; a pipe that still holds bytes
// (the copy failed between drain and pump) is closed. Small buffers are
// pooled likewise (at most 256, 4 MiB).
#include "fd.hpp"
#include "io_stats.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

namespace gort::io::detail {

namespace {

using net::detail::Access;
using net::detail::FD;

constexpr int kMaxPipeSize = 1 << 20;  // Go's maxSpliceSize
constexpr std::size_t kMaxPooledCap = 256;
constexpr std::size_t kSmallBuf = 16 * 1024;

std::size_t max_pooled() {
  static const std::size_t n = [] {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kMaxPooledCap;
    return std::min<std::size_t>(kMaxPooledCap, static_cast<std::size_t>(rl.rlim_cur / 16));
  }();
  return n;
}

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
    if (pl.pipes.size() < max_pooled()) {
      pl.pipes.push_back(p);
      return;
    }
  }
  close_pipe(p);
}

// The small rounds' buffers. A std::mutex, as the pipe pool's.
struct BufPool {
  std::mutex mu;
  std::vector<std::unique_ptr<std::byte[]>> bufs;
};

BufPool& buf_pool() {
  static BufPool* p = new BufPool;  // never destroyed: copies may run during exit
  return *p;
}

std::unique_ptr<std::byte[]> get_buf() {
  BufPool& pl = buf_pool();
  {
    std::lock_guard lock(pl.mu);
    if (!pl.bufs.empty()) {
      auto b = std::move(pl.bufs.back());
      pl.bufs.pop_back();
      return b;
    }
  }
  return std::unique_ptr<std::byte[]>(new std::byte[kSmallBuf]);  // not zeroed
}

void put_buf(std::unique_ptr<std::byte[]> b) {
  BufPool& pl = buf_pool();
  std::lock_guard lock(pl.mu);
  if (pl.bufs.size() < kMaxPooledCap) pl.bufs.push_back(std::move(b));
}

// Copy: one splice_copy's state between rounds.
struct Copy {
  FD* d;
  FD* s;
  Progress* progress;
  CopyResult r;
  bool wait_first = false;  // the last round emptied src: park before reading
  bool splicing = false;    // rounds splice (else small)
  bool can_splice = true;   // false once the kernel refused splice for these fds
  bool spliced = false;     // a splice round has moved bytes
  Pipe pipe;                // while splicing (rfd -1: none)

  // small_round moves up to max (<= kSmallBuf) bytes through a pooled
  // buffer; false when the copy is over (EOF or an error in r).
  bool small_round(std::size_t max) {
    if (wait_first) {
      if (auto err = s->wait_read()) return fail(err);
    }
    auto buf = get_buf();
    auto [in, rerr] = s->read(std::span<std::byte>(buf.get(), max));
    if (rerr) {
      put_buf(std::move(buf));
      if (rerr == io_errc::eof) return false;
      return fail(rerr);
    }
    auto [out, werr] = d->write(std::span<const std::byte>(buf.get(), in));
    put_buf(std::move(buf));
    count(small_bytes, out);
    if (werr) return fail(werr);
    wait_first = in < max;
    splicing = can_splice && in == kSmallBuf;
    return true;
  }

  // splice_round moves up to max bytes through the pipe; false when the
  // copy is over.
  bool splice_round(std::size_t max) {
    if (pipe.rfd < 0) {
      auto [p, perr] = get_pipe();
      if (perr) {  // no pipe (the fd table is full?): stay small
        splicing = false;
        return true;
      }
      pipe = p;
    }
    if (wait_first) {
      if (auto err = s->wait_read()) return fail(err);
    }
    max = std::min(max, pipe.size);
    auto [in, derr] = s->splice_drain(pipe.wfd, max);
    if (derr == std::errc::invalid_argument && !spliced) {
      // The kernel does not splice these descriptors: small rounds only.
      can_splice = splicing = false;
      return true;
    }
    if (derr) return fail(derr);
    if (in == 0) return false;  // src's EOF
    spliced = true;
    pipe.data += in;
    auto [out, werr] = d->splice_pump(pipe.rfd, in, progress ? &progress->bytes : nullptr);
    pipe.data -= out;
    r.written += out;
    splice_bytes.fetch_add(out, std::memory_order_relaxed);
    if (werr) return fail(werr);
    wait_first = in < max;
    if (in < kSmallBuf) {  // small messages now: give the pipe back
      splicing = false;
      put_pipe(pipe);
      pipe = Pipe{};
    }
    return true;
  }

  void count(std::atomic<std::uint64_t>& counter, std::size_t n) {
    r.written += n;
    counter.fetch_add(n, std::memory_order_relaxed);
    if (progress && n) progress->add(n);
  }
  bool fail(std::error_code err) {
    r.err = err;
    return false;
  }
};

}  // namespace

CopyResult splice_copy(net::Conn& dst, net::Conn& src, std::uint64_t limit, Progress* progress) {
  FD* d = Access::fd(dst);
  FD* s = Access::fd(src);
  if (!d || !s) return {0, net::detail::errno_code(EINVAL), true};  // as Conn's calls
  Copy c{d, s, progress, {}, false, false, true, false, {}};
  for (;;) {
    const std::uint64_t left = limit - c.r.written;
    if (left == 0) break;
    const bool more =
        c.splicing ? c.splice_round(static_cast<std::size_t>(std::min<std::uint64_t>(left, kMaxPipeSize)))
                   : c.small_round(static_cast<std::size_t>(std::min<std::uint64_t>(left, kSmallBuf)));
    if (!more) break;
  }
  if (c.pipe.rfd >= 0) put_pipe(c.pipe);
  return c.r;
}

}  // namespace gort::io::detail
