// peek.cpp: peek_client_hello (see <gort/client_hello.hpp>): read a conn
// until parse_client_hello gives a verdict, then hand the conn back as a
// PrefixConn holding every byte read. Kept apart from client_hello.cpp so
// that the parser needs no runtime (the fuzz target links it alone).
//
// Invariants: buf[0:n) is every byte read from the conn, in order, and all
// of it goes into the returned PrefixConn, on every path; the parser is
// asked again only once n reaches its `need`, so a hello dripping in one
// byte at a time is parsed a few times, not once per byte; a read asks for
// at most max(need - n, kReadAhead) bytes, so nothing is read once the
// hello is whole, and never more than kReadAhead - 1 bytes past it.
#include <gort/client_hello.hpp>
#include <gort/tls_errors.hpp>

#include <algorithm>
#include <utility>

namespace gort::tls {

namespace {

std::error_code verdict_error(ParseStatus s) {
  switch (s) {
    case ParseStatus::not_tls: return tls_errc::not_tls;
    case ParseStatus::malformed: return tls_errc::malformed_hello;
    case ParseStatus::too_large: return tls_errc::hello_too_large;
    case ParseStatus::need_more:
    case ParseStatus::parsed: break;
  }
  return {};
}

}  // namespace

PeekResult peek_client_hello(net::PrefixConn pc, net::Deadline deadline) {
  PeekResult out;
  std::vector<std::byte> buf(pc.buffered().begin(), pc.buffered().end());  // bytes already read (a PROXY header's tail)
  std::size_t n = buf.size();
  pc.discard(n);
  net::Conn& conn = pc.conn();
  std::error_code err = conn.set_read_deadline(deadline);
  for (std::size_t need = 1; !err;) {
    if (n >= need) {
      ParseResult r = parse_client_hello(std::span(buf.data(), n));
      if (r.status == ParseStatus::need_more) {
        need = r.need;
        continue;
      }
      err = verdict_error(r.status);
      out.reason = std::move(r.reason);
      out.hello = std::move(r.hello);
      break;
    }
    const std::size_t want = std::max(need - n, kReadAhead);
    if (buf.size() < n + want) buf.resize(n + want);
    auto [got, rerr] = conn.read(std::span(buf).subspan(n, want));
    n += got;
    if (rerr == io_errc::eof && n > 0) rerr = io_errc::unexpected_eof;
    err = rerr;
  }
  conn.set_read_deadline({});
  buf.resize(n);
  out.conn = net::PrefixConn(std::move(conn), std::move(buf));
  out.err = err;
  return out;
}

PeekResult peek_client_hello(net::Conn conn, net::Deadline deadline) {
  return peek_client_hello(net::PrefixConn(std::move(conn), std::vector<std::byte>{}), deadline);
}

}  // namespace gort::tls
