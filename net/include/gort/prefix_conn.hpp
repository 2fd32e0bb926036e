// gort/prefix_conn.hpp: PrefixConn, a Conn whose reads first return bytes
// already read from it (library gort::net). The talk's prefixConn: a proxy
// that has read a ClientHello to learn the server name hands the conn on
// with those bytes put back, so the next reader (io::copy to the upstream,
// a TLS server) sees the stream from its first byte.
//
//   Go (the talk):                               gort:
//   type prefixConn struct {                     gort::net::PrefixConn pc(std::move(conn), hello_bytes);
//       net.Conn                                 gort::io::copy(upstream, pc);  // the prefix, then splice
//       io.Reader
//   }
//   func (c prefixConn) Read(b []byte) (int, error) { return c.Reader.Read(b) }
//   c := prefixConn{Conn: conn, Reader: io.MultiReader(&buf, conn)}
//
// read returns prefix bytes (and only those) while any are left, then reads
// the conn. Everything else (write, close, half-close, deadlines, options,
// addresses) goes straight to the conn. io::copy from a PrefixConn to a conn
// writes the prefix and then splices from the conn (<gort/io.hpp>): where
// Go's io.Copy loses its splice behind the wrapper, gort keeps it.
//
// Like Go's io.MultiReader, the prefix is for one reader at a time: one
// fiber reads while another writes, as with a Conn, but two fibers must not
// read at once while prefix bytes are left.
#pragma once

#include <gort/errors.hpp>
#include <gort/net.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace gort::net {

class PrefixConn {
 public:
  PrefixConn() noexcept = default;
  PrefixConn(Conn conn, std::vector<std::byte> prefix) noexcept
      : conn_(std::move(conn)), prefix_(std::move(prefix)) {}
  PrefixConn(Conn conn, std::span<const std::byte> prefix)
      : conn_(std::move(conn)), prefix_(prefix.begin(), prefix.end()) {}
  PrefixConn(Conn conn, std::string_view prefix)
      : PrefixConn(std::move(conn), std::as_bytes(std::span(prefix))) {}

  // read: prefix bytes while any are left (after close: io_errc::closed),
  // then Conn::read.
  Result<std::size_t> read(std::span<std::byte> buf);
  Result<std::size_t> read(std::span<char> buf) { return read(std::as_writable_bytes(buf)); }
  Result<std::size_t> read(void* p, std::size_t n) { return read(std::span(static_cast<std::byte*>(p), n)); }

  Result<std::size_t> write(std::span<const std::byte> buf) { return conn_.write(buf); }
  Result<std::size_t> write(std::string_view s) { return conn_.write(s); }
  Result<std::size_t> write(const void* p, std::size_t n) { return conn_.write(p, n); }

  std::error_code close() { return conn_.close(); }
  std::error_code close_write() { return conn_.close_write(); }
  std::error_code close_read() { return conn_.close_read(); }
  std::error_code set_deadline(Deadline t) { return conn_.set_deadline(t); }
  std::error_code set_read_deadline(Deadline t) { return conn_.set_read_deadline(t); }
  std::error_code set_write_deadline(Deadline t) { return conn_.set_write_deadline(t); }
  const Addr& local_addr() const noexcept { return conn_.local_addr(); }
  const Addr& remote_addr() const noexcept { return conn_.remote_addr(); }
  std::error_code set_nodelay(bool on) { return conn_.set_nodelay(on); }
  std::error_code set_keepalive(bool on) { return conn_.set_keepalive(on); }
  std::error_code set_keepalive_period(std::chrono::seconds p) { return conn_.set_keepalive_period(p); }
  int fd() const noexcept { return conn_.fd(); }

  // buffered is the prefix not yet read, and discard(n) drops its first n
  // bytes (n at most buffered().size()), as Go's bufio.Reader's Buffered
  // and Discard: how io::copy writes the prefix itself before splicing.
  std::span<const std::byte> buffered() const noexcept { return std::span(prefix_).subspan(off_); }
  void discard(std::size_t n) noexcept { off_ += std::min(n, prefix_.size() - off_); }

  // conn is the connection underneath (reads from it skip the prefix).
  Conn& conn() noexcept { return conn_; }

 private:
  Conn conn_;
  std::vector<std::byte> prefix_;
  std::size_t off_ = 0;  // prefix_[off_:] is still to be read
};

}  // namespace gort::net
