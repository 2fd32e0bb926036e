// io.cpp: the counters behind io::stats() (see <gort/io.hpp>); copy,
// copy_n, read_full and the readers are templates in the header, the kernel
// paths are in splice.cpp and sendfile.cpp. Invariant: the counters only
// grow, by relaxed atomic adds.
#include "io_stats.hpp"

namespace gort::io {

namespace detail {

std::atomic<std::uint64_t> splice_bytes{0};
std::atomic<std::uint64_t> sendfile_bytes{0};
std::atomic<std::uint64_t> buffered_bytes{0};
std::atomic<std::uint64_t> small_bytes{0};

void count_buffered(std::size_t n) noexcept {
  if (n) buffered_bytes.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace detail

Stats stats() noexcept {
  return {detail::splice_bytes.load(std::memory_order_relaxed),
          detail::sendfile_bytes.load(std::memory_order_relaxed),
          detail::buffered_bytes.load(std::memory_order_relaxed),
          detail::small_bytes.load(std::memory_order_relaxed)};
}

}  // namespace gort::io
