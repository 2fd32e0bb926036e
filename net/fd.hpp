// fd.hpp: the poll descriptor, gort's internal/poll.FD (Go's
// internal/poll/fd_unix.go and fd_mutex.go), internal to net/.
//
// An FD owns one non-blocking socket and its netpoll::PollDesc, and runs the
// loops every I/O call is made of: prepare, syscall, on EAGAIN park until
// the poller says the socket may be ready, retry (EINTR is retried at once).
//
// References (Go's fdMutex). state_ counts the calls in progress, plus a
// closed bit. Every call takes a reference first (incref fails once closed:
// io_errc::closed) and drops it last. close() sets the bit (so no call can
// start), evicts the poll descriptor (netpoll::evict wakes a parked reader
// and writer with Closing), then waits on csema_ until the other references
// are gone, and only then unregisters and ::closes the socket: a fiber still
// inside read() never sees its fd number reused. The decref that leaves
// exactly the closer's reference releases csema_, once.
//
// Locks: readers are serialised by rmu_ and writers by wmu_ (gort::Mutex,
// which parks the fiber), at most one fiber per direction waits in the
// poller as netpoll requires, and a reader and a writer run at once. A
// fiber waiting for rmu_ holds a reference, so close() waits for it too; it
// gets the lock once the evicted reader lets go, and prepare() says Closing.
//
// Lifetime: the FD object belongs to its Conn or Listener and outlives
// close(); calls on it after close() fail with io_errc::closed.
#pragma once

#include <gort/detail/netpoll.hpp>
#include <gort/detail/sema.hpp>
#include <gort/errors.hpp>
#include <gort/mutex.hpp>
#include <gort/net.hpp>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>

namespace gort::net::detail {

inline std::error_code errno_code(int e) noexcept { return {e, std::system_category()}; }

// is(err, e): err == e without a virtual call. UBSan checks a virtual call
// it has not seen before with a pipe(2), and the paths that use this run
// where the process may be out of descriptors (accept's EMFILE back-off).
inline bool is(const std::error_code& err, io_errc e) noexcept {
  return &err.category() == &io_category() && err.value() == static_cast<int>(e);
}
inline bool is_system(const std::error_code& err) noexcept {
  return &err.category() == &std::system_category();
}

struct FD {
  FD(int fd, netpoll::PollDesc* p) noexcept : sysfd(fd), pd(p) {}
  FD(const FD&) = delete;
  FD& operator=(const FD&) = delete;
  ~FD() { close(); }

  // open registers sysfd, which must be non-blocking, with the poller. On
  // failure it closes sysfd.
  static Result<std::unique_ptr<FD>> open(int sysfd);

  // read: at least one byte, or eof (a stream's read of 0), or an error.
  Result<std::size_t> read(std::span<std::byte> p);
  // wait_read parks until the socket is readable (or its deadline passes,
  // or it is closed) without reading: for a caller that knows its last read
  // emptied the socket, and so skips the read that would say EAGAIN.
  std::error_code wait_read();
  // write: all of p, or the bytes written before the error.
  Result<std::size_t> write(std::span<const std::byte> p);
  // accept: a connected socket, non-blocking and close-on-exec; its address
  // in *sa. Retries EINTR and ECONNABORTED; the listener handles the rest.
  Result<int> accept(::sockaddr_storage* sa, ::socklen_t* len);
  // connect: a non-blocking connect, then a wait for writable and SO_ERROR,
  // bounded by deadline (nanotime, 0 = none).
  std::error_code connect(const ::sockaddr* sa, ::socklen_t len, std::int64_t deadline);
  std::error_code close();
  std::error_code set_deadline(std::int64_t deadline, netpoll::Mode mode);

  // splice_drain moves up to max bytes from this socket into an empty pipe
  // (its write end, non-blocking) under the read lock, parking in the
  // poller while the socket has none; 0 bytes and no error is the peer's
  // EOF. splice_pump moves all in_pipe bytes from the pipe's read end into
  // this socket under the write lock, parking while the socket is full; on
  // an error it returns the bytes moved before it. Both honour deadlines and
  // close() as read and write do (Go's spliceDrain and splicePump,
  // internal/poll/splice_linux.go).
  Result<std::size_t> splice_drain(int pipe_wfd, std::size_t max);
  // progress, if given, grows by each partial write as it happens (a slow
  // reader takes a pipe's worth in many writes).
  Result<std::size_t> splice_pump(int pipe_rfd, std::size_t in_pipe,
                                  std::atomic<std::uint64_t>* progress = nullptr);
  // sendfile moves up to max bytes from the file src, at its offset (which
  // it advances), into this socket under the write lock, parking while the
  // socket is full; 0 bytes and no error is the end of the file. Deadlines
  // and close() apply as to write (Go's internal/poll.SendFile, one chunk).
  Result<std::size_t> sendfile(int src, std::size_t max);

  // call runs f(sysfd), a system call returning -1 and errno on failure,
  // holding a reference: for setsockopt, shutdown, getsockname.
  template <class F>
  std::error_code call(F&& f) {
    if (!incref()) return make_error_code(io_errc::closed);
    int r = f(sysfd);
    int e = errno;
    decref();
    return r < 0 ? errno_code(e) : std::error_code{};
  }

  bool closed() const noexcept { return state_.load(std::memory_order_acquire) & kClosed; }
  bool incref() noexcept;
  void decref() noexcept;

  const int sysfd;
  netpoll::PollDesc* const pd;
  Addr laddr, raddr;  // set once before the FD is shared (Go keeps them in netFD)

 private:
  static constexpr std::uint32_t kClosed = 1u << 31;
  std::atomic<std::uint32_t> state_{0};  // kClosed | the number of references
  gort::Mutex rmu_, wmu_;                // one reader, one writer at a time
  gort::detail::Sema csema_;             // close() waits here for the last reference
};

// Access reaches a Conn's FD (null if the Conn is invalid): for io::copy's
// splice path (net/splice.cpp), which works on two FDs at once.
struct Access {
  static FD* fd(Conn& c) noexcept { return c.fd_.get(); }
};

}  // namespace gort::net::detail
