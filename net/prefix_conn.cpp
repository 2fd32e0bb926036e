// prefix_conn.cpp: PrefixConn::read (see <gort/prefix_conn.hpp>; the rest
// forwards to the conn inline). Invariant: off_ <= prefix_.size(), and
// prefix bytes are returned in order, each once, before any conn byte.
#include <gort/prefix_conn.hpp>

#include <algorithm>
#include <cstring>

namespace gort::net {

Result<std::size_t> PrefixConn::read(std::span<std::byte> buf) {
  std::span<const std::byte> left = buffered();
  if (left.empty()) return conn_.read(buf);
  if (conn_.fd() < 0) return {0, make_error_code(io_errc::closed)};  // closed, or an invalid conn
  if (buf.empty()) return {0, {}};
  std::size_t n = std::min(buf.size(), left.size());
  std::memcpy(buf.data(), left.data(), n);
  off_ += n;
  return {n, {}};
}

}  // namespace gort::net
