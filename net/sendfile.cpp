// sendfile.cpp: io::copy from an os::File to a conn with sendfile(2), file
// -> socket inside the kernel (Go's net/sendfile_linux.go and
// internal/poll/sendfile_linux.go).
//
// Each round sends up to 4 MiB from the file's offset (FD::sendfile, under
// dst's write lock), so a close or a deadline on the conn ends the copy at
// the next wait, and io::stats() grows as the copy goes. The copy ends at
// the file's end (sendfile returns 0), at the limit, or at an error.
// EINVAL or ENOSYS before any byte moved means the kernel will not
// sendfile from this descriptor (a pipe, a directory): the caller takes
// the buffered loop.
#include "fd.hpp"
#include "io_stats.hpp"

#include <algorithm>

namespace gort::io::detail {

namespace {

constexpr std::uint64_t kMaxSendfile = std::uint64_t{4} << 20;  // Go's maxSendfileSize

}  // namespace

CopyResult sendfile_copy(net::Conn& dst, os::File& src, std::uint64_t limit, Progress* progress) {
  net::detail::FD* d = net::detail::Access::fd(dst);
  if (!d) return {0, net::detail::errno_code(EINVAL), true};  // as Conn's calls
  if (src.fd() < 0) return {0, make_error_code(io_errc::closed), true};
  CopyResult r;
  while (r.written < limit) {
    auto [n, err] =
        d->sendfile(src.fd(), static_cast<std::size_t>(std::min(kMaxSendfile, limit - r.written)));
    if (r.written == 0 && (err == std::errc::invalid_argument || err == std::errc::function_not_supported)) {
      r.handled = false;
      break;
    }
    r.written += n;
    sendfile_bytes.fetch_add(n, std::memory_order_relaxed);
    if (progress) progress->add(n);
    if (err) {
      r.err = err;
      break;
    }
    if (n == 0) break;  // the end of the file
  }
  return r;
}

}  // namespace gort::io::detail
