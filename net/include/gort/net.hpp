// gort/net.hpp: Go's package net for fibers: listeners and connections
// whose blocking-style calls park only the calling fiber (library gort::net).
//
//   auto [ln, err] = gort::net::listen("tcp", ":8080");
//   for (;;) {
//     auto [conn, err] = ln.accept();        // parks until a client comes
//     if (err) break;                        // io_errc::closed once ln.close()
//     gort::go([c = std::move(conn)]() mutable {
//       char buf[4096];
//       for (;;) {
//         auto [n, err] = c.read(buf);       // at least one byte, or an error
//         if (err) return;                   // io_errc::eof: the client is done
//         if (c.write(buf, n).err) return;   // all n bytes, or an error
//       }
//     });
//   }
//
// Networks and addresses, as Go's: "tcp" (IPv4 and IPv6), "tcp4", "tcp6"
// take "host:port": ":8080" (every interface; for "tcp" one dual-stack
// socket), "localhost:0" (port 0: the kernel picks one), "127.0.0.1:80",
// "[::1]:443", "[fe80::1%eth0]:80", "example.com:80" (resolved with
// getaddrinfo on gort's pool for blocking calls, so it never blocks an M);
// ports are numbers. "unix" takes a path, or "@name" for Linux's abstract
// namespace. Errors follow <gort/errors.hpp>: nothing here throws on I/O.
//
// Concurrency (Go's): a Conn may be used by several fibers at once. Reads
// are serialised among readers and writes among writers, but one reader and
// one writer run side by side (a proxy's two directions), and close() from
// any fiber wakes both with io_errc::closed. The descriptor is closed only
// once every call in progress on it has returned, so its number cannot be
// reused under a fiber still inside read(); close() returns after that.
// As with any C++ object, destroy a Conn or Listener only once no other
// fiber is inside a call on it.
//
// Deadlines (Go's SetDeadline): absolute steady_clock times; a
// default-constructed time_point means none. Once a deadline passes, calls
// in that direction, pending and later, fail with io_errc::timeout until it
// is moved; moving it re-enables the conn, and a pending call sees the new
// one. The bytes of a timed-out read are not lost.
//
// Call these from fibers. Outside one (a thread of its own, during a run)
// they block the thread instead of parking: the poller falls back to
// poll(2), and a name lookup runs in place, not bounded by a deadline.
// What parks on something else throws std::logic_error there: accept's
// back-off sleep, and a wait behind another reader or writer of the conn.
#pragma once

#include <gort/context.hpp>
#include <gort/errors.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace gort::net {

namespace detail {
struct FD;      // the poll descriptor: net/fd.hpp (Go's internal/poll.FD)
struct Access;  // net/'s and io's own way to a Conn's FD (fd.hpp): for splice(2)
}  // namespace detail

// Deadline: a point on the steady clock; Deadline{} is "no deadline".
using Deadline = std::chrono::steady_clock::time_point;

// Addr is a socket address: Go's TCPAddr or UnixAddr. Empty by default.
class Addr {
 public:
  Addr() noexcept = default;
  Addr(const ::sockaddr* sa, ::socklen_t len) noexcept;  // copies it (at most sizeof(sockaddr_storage))

  // network is "tcp" for IPv4 and IPv6, "unix", or "" for an empty Addr.
  std::string_view network() const noexcept;
  // to_string is Go's form: "127.0.0.1:8080", "[::1]:443", "[fe80::1%eth0]:80",
  // an IPv4-mapped IPv6 address as IPv4; a path or "@name" for unix; "" if empty.
  std::string to_string() const;
  int port() const noexcept;  // 0 for unix and empty
  int family() const noexcept { return ss_.ss_family; }
  bool empty() const noexcept { return len_ == 0; }
  const ::sockaddr* sockaddr() const noexcept { return reinterpret_cast<const ::sockaddr*>(&ss_); }
  ::socklen_t size() const noexcept { return len_; }

 private:
  ::sockaddr_storage ss_{};
  ::socklen_t len_ = 0;
};

// split_host_port splits "host:port", "[host]:port" or "[host%zone]:port"
// into host (without brackets) and port; errors as Go's SplitHostPort.
struct HostPort {
  std::string host, port;
};
Result<HostPort> split_host_port(std::string_view hostport);
// join_host_port is the inverse: brackets around a host with a colon.
std::string join_host_port(std::string_view host, std::string_view port);
// resolve_addr is Go's ResolveTCPAddr / ResolveUnixAddr: the first address
// for network and address (a host name is looked up, which parks).
Result<Addr> resolve_addr(std::string_view network, std::string_view address);

// Conn is a connected stream socket (Go's net.Conn, a TCPConn or UnixConn).
// Move-only; destroying an open Conn closes it. A default-constructed or
// moved-from Conn is invalid: its calls fail with std::errc::invalid_argument.
class Conn {
 public:
  Conn() noexcept;
  Conn(Conn&&) noexcept;
  Conn& operator=(Conn&&) noexcept;
  ~Conn();

  // read reads at least one byte into buf, parking until there is one, or
  // returns {0, io_errc::eof} once the peer has closed its side. An empty
  // buf returns {0, {}} at once.
  Result<std::size_t> read(std::span<std::byte> buf);
  Result<std::size_t> read(std::span<char> buf) { return read(std::as_writable_bytes(buf)); }
  Result<std::size_t> read(void* p, std::size_t n) { return read(std::span(static_cast<std::byte*>(p), n)); }

  // write writes all of buf, parking while the socket's buffer is full; on an
  // error it returns the bytes written before it (Go's semantics).
  Result<std::size_t> write(std::span<const std::byte> buf);
  Result<std::size_t> write(std::string_view s) { return write(std::as_bytes(std::span(s))); }
  Result<std::size_t> write(const void* p, std::size_t n) {
    return write(std::span(static_cast<const std::byte*>(p), n));
  }

  // close closes the connection, waking pending reads and writes with
  // io_errc::closed; a second close returns io_errc::closed.
  std::error_code close();
  std::error_code close_write();  // shutdown(SHUT_WR): the peer reads EOF, this side still reads
  std::error_code close_read();   // shutdown(SHUT_RD)

  std::error_code set_deadline(Deadline t);  // both directions
  std::error_code set_read_deadline(Deadline t);
  std::error_code set_write_deadline(Deadline t);

  const Addr& local_addr() const noexcept;   // empty for an invalid Conn
  const Addr& remote_addr() const noexcept;  // empty for an unnamed unix peer

  // TCP only. New TCP conns have TCP_NODELAY on and keep-alives every 15 s, as Go's.
  std::error_code set_nodelay(bool on);
  std::error_code set_keepalive(bool on);
  std::error_code set_keepalive_period(std::chrono::seconds period);  // idle time and interval

  // fd is the socket (-1 if invalid or closed), for options gort does not
  // wrap and for splice(2). Do not close it, nor keep it past close().
  int fd() const noexcept;

  explicit Conn(std::unique_ptr<detail::FD> fd) noexcept;  // net/'s own: takes a connected socket

 private:
  friend struct detail::Access;
  std::unique_ptr<detail::FD> fd_;
};

// ListenConfig: options for listen (Go's ListenConfig).
struct ListenConfig {
  int backlog = 0;          // the accept queue; 0: the kernel's maximum (net.core.somaxconn)
  bool reuse_port = false;  // SO_REUSEPORT: several listeners share the port (TCP)
  // accept_backoff, if set, is called by accept before each back-off sleep
  // (out of descriptors or memory: the error, and the sleep), from the
  // accepting fiber: what http.Server logs as "Accept error: ...; retrying
  // in ...". Without it, the back-off is silent.
  std::function<void(std::error_code err, std::chrono::milliseconds delay)> accept_backoff = {};
};

// Listener is a listening socket (Go's TCPListener or UnixListener).
// Move-only; destroying an open Listener closes it.
class Listener {
 public:
  Listener() noexcept;
  Listener(Listener&&) noexcept;
  Listener& operator=(Listener&&) noexcept;
  ~Listener();

  // accept parks until a connection arrives, and returns it. It rides out
  // what Go's http.Server Serve loop rides out: a connection reset or
  // aborted before it was accepted is skipped; running out of descriptors
  // or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) is retried after a sleep of
  // 5 ms doubling up to 1 s, which close() cuts short (and reported first to
  // ListenConfig::accept_backoff, if set). Other errors return.
  Result<Conn> accept();
  // close stops listening: a pending accept returns io_errc::closed. A unix
  // listener removes its socket file (not an abstract one).
  std::error_code close();
  std::error_code set_deadline(Deadline t);  // for accept
  const Addr& addr() const noexcept;         // the bound address: the real port for ":0"
  int fd() const noexcept;                   // -1 if invalid or closed

 private:
  friend Result<Listener> listen(std::string_view, std::string_view, const ListenConfig&);
  std::unique_ptr<detail::FD> fd_;
  Context stop_;  // cancelled by close(): ends accept's back-off sleep
  CancelFunc cancel_;
  std::string unlink_;  // a unix socket's path, removed by close()
  std::function<void(std::error_code, std::chrono::milliseconds)> backoff_;  // ListenConfig::accept_backoff
};

// listen announces on a local address (Go's net.Listen). Sockets get
// SO_REUSEADDR (TCP), as Go's.
Result<Listener> listen(std::string_view network, std::string_view address, const ListenConfig& cfg = {});

// Dialer: options for dial (Go's net.Dialer). The host's addresses are tried
// one after another until one connects (Go's dialSerial); each gets an equal
// share of the time left, at least 2 s of it.
struct Dialer {
  std::chrono::steady_clock::duration timeout{};  // 0: none; covers resolving and connecting
  Deadline deadline{};                            // {}: none; the earlier of the two applies

  Result<Conn> dial(std::string_view network, std::string_view address) const;
};

// dial connects to address (Go's net.Dial); an empty host is the local system.
Result<Conn> dial(std::string_view network, std::string_view address);
// dial_timeout is dial that gives up with io_errc::timeout after timeout.
Result<Conn> dial_timeout(std::string_view network, std::string_view address,
                          std::chrono::steady_clock::duration timeout);

}  // namespace gort::net
