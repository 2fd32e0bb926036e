// io_stats.hpp: io::stats()'s counters, shared by io.cpp, splice.cpp and
// sendfile.cpp (internal to net/). Each only grows, by relaxed atomic adds.
#pragma once

#include <gort/io.hpp>

#include <atomic>
#include <cstdint>

namespace gort::io::detail {

extern std::atomic<std::uint64_t> splice_bytes;    // Stats::splice_bytes
extern std::atomic<std::uint64_t> sendfile_bytes;  // Stats::sendfile_bytes
extern std::atomic<std::uint64_t> buffered_bytes;  // Stats::buffered_bytes
extern std::atomic<std::uint64_t> small_bytes;     // Stats::small_bytes

}  // namespace gort::io::detail
