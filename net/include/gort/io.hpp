// gort/io.hpp: Go's package io for fibers: the Reader and Writer
// interfaces, copy, copy_n and read_full over them, and the readers that
// wrap others: LimitReader, MultiReader, BytesReader (library gort::net).
//
//   // a proxy: bytes both ways until either side is done
//   gort::go([&] { gort::io::copy(upstream, client); upstream.close_write(); });
//   auto [n, err] = gort::io::copy(client, upstream);
//
// Reader and Writer are concepts, not base classes: anything with Go's
// Read or Write in gort's form, as net::Conn has:
//   read(std::span<std::byte>) -> Result<std::size_t>
//       at least one byte, or an error (io_errc::eof at the end)
//   write(std::span<const std::byte>) -> Result<std::size_t>
//       all of it, or the bytes before the error
//
// copy picks its path as Go's io.Copy does through ReaderFrom and WriterTo.
// The destination must be a socket (a net::Conn, or a net::PrefixConn,
// whose writes go to its conn) for the first three:
//  - from a net::Conn (stream sockets, TCP or unix): splice(2), socket ->
//    pipe -> socket, so the bytes never enter user space (net/splice.cpp:
//    Go's internal/poll.Splice), for bulk; small messages (a read that does
//    not fill 16 KiB) go through a pooled 16 KiB buffer instead, where a
//    read and a write cost less than two splices. The conns' read and write
//    locks, deadlines and close() apply as to read and write: a passed
//    deadline ends the copy with io_errc::timeout, a close with
//    io_errc::closed. If the kernel refuses splice (EINVAL), every round is
//    a small one.
//  - from an os::File: sendfile(2), file -> socket in the kernel
//    (net/sendfile.cpp: Go's internal/poll.SendFile), from the file's offset
//    on, which it advances. The socket's write deadline and close apply.
//  - from a net::PrefixConn: its prefix is written from memory, then the
//    rest splices from its conn (where Go's io.Copy falls back to a user-space
//    copy behind the talk's prefixConn).
//  - from a LimitReader over any of these: the same path, for at most the
//    limit's bytes (Go's TCPConn.ReadFrom unwraps an io.LimitedReader so).
//  - anything else (a MultiReader, a TLS conn, a user's reader, or a writer
//    that is not a socket): a loop through a 32 KiB heap buffer (Go's
//    copyBuffer).
// Either way, the source's EOF ends the copy without an error (as in Go),
// and the bytes written before an error are returned beside it.
//
// stats() counts the bytes each path has moved, process-wide, so that a
// user (or a test) can see which one ran. A Progress given to copy counts
// one copy's bytes as they go (a proxy's idle timer and live byte counts).
#pragma once

#include <gort/errors.hpp>
#include <gort/net.hpp>
#include <gort/os.hpp>
#include <gort/prefix_conn.hpp>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace gort::io {

// Reader: Go's io.Reader.
template <class R>
concept Reader = requires(R& r, std::span<std::byte> p) {
  { r.read(p) } -> std::same_as<Result<std::size_t>>;
};

// Writer: Go's io.Writer.
template <class W>
concept Writer = requires(W& w, std::span<const std::byte> p) {
  { w.write(p) } -> std::same_as<Result<std::size_t>>;
};

// Stats: bytes moved by each of copy's paths since the process started.
// Relaxed atomic counters, summed over every copy; a copy adds its bytes as
// it goes (per chunk), so a copy in progress shows part of its bytes.
struct Stats {
  std::uint64_t splice_bytes = 0;    // conn to conn through splice(2)
  std::uint64_t sendfile_bytes = 0;  // file to conn through sendfile(2)
  std::uint64_t buffered_bytes = 0;  // the 32 KiB buffered loop, and a PrefixConn's prefix
  std::uint64_t small_bytes = 0;     // conn to conn in small rounds (a 16 KiB buffer; net/splice.cpp)
};
Stats stats() noexcept;

// Progress: the bytes a copy has moved so far, updated as each chunk is
// written (a splice round, a buffered write), readable from any fiber or
// thread while the copy runs: copy(dst, src, progress).
struct Progress {
  std::atomic<std::uint64_t> bytes{0};
  void add(std::uint64_t n) noexcept { bytes.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t load() const noexcept { return bytes.load(std::memory_order_relaxed); }
};

// LimitReader reads from r but stops with io_errc::eof after n bytes (Go's
// io.LimitReader; here a type, since Go's returns its *LimitedReader). It
// refers to r, which must outlive it; n is what is left.
template <class R>
struct LimitReader {
  R& r;
  std::uint64_t n;
  Result<std::size_t> read(std::span<std::byte> p) {
    if (n == 0) return {0, make_error_code(io_errc::eof)};
    if (p.size() > n) p = p.first(static_cast<std::size_t>(n));
    auto res = r.read(p);
    n -= res.value;
    return res;
  }
};
template <class R>
LimitReader(R&, std::uint64_t) -> LimitReader<R>;

// BytesReader reads the bytes of a span it does not own (Go's bytes.Reader
// and strings.Reader); the bytes must outlive it.
struct BytesReader {
  std::span<const std::byte> b;
  explicit BytesReader(std::span<const std::byte> bytes) noexcept : b(bytes) {}
  explicit BytesReader(std::string_view s) noexcept : b(std::as_bytes(std::span(s))) {}
  Result<std::size_t> read(std::span<std::byte> p) {
    if (b.empty()) return {0, make_error_code(io_errc::eof)};
    std::size_t n = std::min(p.size(), b.size());
    if (n) std::memcpy(p.data(), b.data(), n);
    b = b.subspan(n);
    return {n, {}};
  }
  std::size_t len() const noexcept { return b.size(); }  // bytes left
};

// MultiReader reads its readers one after another, each to its EOF, and
// returns io_errc::eof after the last (Go's io.MultiReader). An error other
// than EOF is returned as it is, and the next read retries that reader. It
// refers to the readers, which must outlive it.
//
//   io::BytesReader head("GET / HTTP/1.0\r\n");
//   io::MultiReader all(head, conn);   // the header, then the conn's bytes
template <Reader... R>
class MultiReader {
 public:
  explicit MultiReader(R&... rs) noexcept : rs_(rs...) {}

  Result<std::size_t> read(std::span<std::byte> p) {
    while (cur_ < sizeof...(R)) {
      auto r = read_at(cur_, p, std::index_sequence_for<R...>{});
      if (r.err == io_errc::eof) {
        cur_++;  // this reader is done; its last bytes are returned without the EOF
        if (r.value > 0) return {r.value, {}};
        continue;
      }
      return r;
    }
    return {0, make_error_code(io_errc::eof)};
  }

 private:
  template <std::size_t... I>
  Result<std::size_t> read_at(std::size_t i, std::span<std::byte> p, std::index_sequence<I...>) {
    Result<std::size_t> r;
    (void)((i == I && (r = std::get<I>(rs_).read(p), true)) || ...);  // the i-th reader only
    return r;
  }

  std::tuple<R&...> rs_;
  std::size_t cur_ = 0;  // the reader being read; sizeof...(R) at the end
};
template <class... R>
MultiReader(R&...) -> MultiReader<R...>;

namespace detail {

inline constexpr std::size_t kBufferSize = 32 * 1024;         // Go's copyBuffer size
inline constexpr std::uint64_t kNoLimit = ~std::uint64_t{0};  // copy: until EOF

void count_buffered(std::size_t n) noexcept;

// CopyResult: what a kernel path (splice_copy, sendfile_copy) moved;
// handled is false if the kernel refused it for these descriptors before
// any byte moved (then copy takes the buffered loop, as Go's handled).
struct CopyResult {
  std::uint64_t written = 0;
  std::error_code err;
  bool handled = true;
};
// splice_copy moves up to limit bytes from src to dst with splice(2), until
// src's EOF or an error (net/splice.cpp).
CopyResult splice_copy(net::Conn& dst, net::Conn& src, std::uint64_t limit, Progress* progress);
// sendfile_copy moves up to limit bytes from src's offset to dst with
// sendfile(2), until the file's end or an error (net/sendfile.cpp).
CopyResult sendfile_copy(net::Conn& dst, os::File& src, std::uint64_t limit, Progress* progress);

// buffered_copy is Go's copyBuffer: read into buf, write it all, until EOF
// (no error), an error, or limit bytes.
template <class W, class R>
Result<std::uint64_t> buffered_copy(W& dst, R& src, std::uint64_t limit, Progress* progress) {
  std::unique_ptr<std::byte[]> buf(new std::byte[kBufferSize]);  // not zeroed
  std::uint64_t written = 0;
  while (written < limit) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kBufferSize, limit - written));
    auto [nr, er] = src.read(std::span<std::byte>(buf.get(), want));
    if (nr > 0) {
      auto [nw, ew] = dst.write(std::span<const std::byte>(buf.get(), nr));
      if (nw > nr) {  // a broken writer: count nothing (Go's errInvalidWrite)
        nw = 0;
        if (!ew) ew = std::make_error_code(std::errc::invalid_argument);
      }
      written += nw;
      count_buffered(nw);
      if (progress) progress->add(nw);
      if (ew) return {written, ew};
      if (nw != nr) return {written, make_error_code(io_errc::short_write)};
    }
    if (er) return {written, er == io_errc::eof ? std::error_code{} : er};
  }
  return {written, {}};
}

template <class T>
inline constexpr bool is_socket = std::is_same_v<T, net::Conn> || std::is_same_v<T, net::PrefixConn>;
template <class T>
inline constexpr bool is_limit_reader = false;
template <class T>
inline constexpr bool is_limit_reader<LimitReader<T>> = true;

// socket: the conn a socket writer writes to.
inline net::Conn& socket(net::Conn& c) noexcept { return c; }
inline net::Conn& socket(net::PrefixConn& c) noexcept { return c.conn(); }

// copy_limit: copy's dispatch (see the top of this file), with a limit for
// copy_n. The kernel paths need a socket to write to.
template <Writer W, Reader R>
Result<std::uint64_t> copy_limit(W& dst, R& src, std::uint64_t limit, Progress* progress) {
  if constexpr (is_socket<W>) {
    if constexpr (std::is_same_v<R, net::Conn>) {
      CopyResult r = splice_copy(socket(dst), src, limit, progress);
      if (r.handled) return {r.written, r.err};
    } else if constexpr (std::is_same_v<R, os::File>) {
      CopyResult r = sendfile_copy(socket(dst), src, limit, progress);
      if (r.handled) return {r.written, r.err};
    } else if constexpr (std::is_same_v<R, net::PrefixConn>) {
      // The prefix from memory, then the conn underneath (which splices).
      std::span<const std::byte> pre = src.buffered();
      if (pre.size() > limit) pre = pre.first(static_cast<std::size_t>(limit));
      std::uint64_t written = 0;
      if (!pre.empty()) {
        auto [nw, ew] = dst.write(pre);
        src.discard(nw);
        count_buffered(nw);
        if (progress) progress->add(nw);
        written = nw;
        if (ew) return {written, ew};
      }
      if (written == limit) return {written, {}};
      auto r = copy_limit(dst, src.conn(), limit - written, progress);
      return {written + r.value, r.err};
    } else if constexpr (is_limit_reader<R>) {
      // Unwrap, as Go's splice and sendfile paths do for an *io.LimitedReader.
      if (src.n == 0) return {0, {}};
      auto r = copy_limit(dst, src.r, std::min(limit, src.n), progress);
      src.n -= r.value;
      return r;
    }
  }
  return buffered_copy(dst, src, limit, progress);
}

}  // namespace detail

// copy copies from src to dst until src's EOF or an error, and returns the
// bytes copied; EOF is not an error (Go's io.Copy).
template <Writer W, Reader R>
Result<std::uint64_t> copy(W& dst, R& src) {
  return detail::copy_limit(dst, src, detail::kNoLimit, nullptr);
}

// copy with a Progress that counts the bytes as they are written.
template <Writer W, Reader R>
Result<std::uint64_t> copy(W& dst, R& src, Progress& progress) {
  return detail::copy_limit(dst, src, detail::kNoLimit, &progress);
}

// copy_n copies exactly n bytes, or fewer and an error: io_errc::eof if src
// ended first (Go's io.CopyN). It reads no byte past the n-th from src.
template <Writer W, Reader R>
Result<std::uint64_t> copy_n(W& dst, R& src, std::uint64_t n) {
  auto r = detail::copy_limit(dst, src, n, nullptr);
  if (r.value == n) return {n, {}};
  if (!r.err) r.err = make_error_code(io_errc::eof);
  return r;
}

// read_full reads exactly buf.size() bytes into buf (Go's io.ReadFull). The
// error is io_errc::eof only if no byte was read, io_errc::unexpected_eof if
// the input ended part way, or the reader's error (beside the bytes read).
template <Reader R>
Result<std::size_t> read_full(R& src, std::span<std::byte> buf) {
  std::size_t n = 0;
  std::error_code err;
  while (n < buf.size() && !err) {
    auto r = src.read(buf.subspan(n));
    n += r.value;
    err = r.err;
  }
  if (n == buf.size()) return {n, {}};
  if (n > 0 && err == io_errc::eof) err = make_error_code(io_errc::unexpected_eof);
  return {n, err};
}
template <Reader R>
Result<std::size_t> read_full(R& src, std::span<char> buf) {
  return read_full(src, std::as_writable_bytes(buf));
}

}  // namespace gort::io
