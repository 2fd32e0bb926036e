// file.cpp: os::File (see <gort/os.hpp>), Go's os.File for regular files:
// blocking read(2), write(2) and lseek(2) on the calling fiber's thread,
// retried on EINTR. Invariant: fd_ is -1 or a descriptor this File owns.
#include <gort/os.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

#include <algorithm>
#include <utility>

namespace gort::os {

namespace {

constexpr std::size_t kMaxRW = std::size_t{1} << 30;  // one syscall's most, as Go's maxRW

std::error_code sys(int e) { return {e, std::system_category()}; }
std::error_code closed() { return make_error_code(io_errc::closed); }

}  // namespace

File::File(int fd, std::string name) noexcept : fd_(fd), name_(std::move(name)) {}

File::File(File&& o) noexcept : fd_(std::exchange(o.fd_, -1)), name_(std::move(o.name_)) {}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    name_ = std::move(o.name_);
  }
  return *this;
}

File::~File() { close(); }

Result<std::size_t> File::read(std::span<std::byte> buf) {
  if (fd_ < 0) return {0, closed()};
  if (buf.empty()) return {0, {}};
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), std::min(buf.size(), kMaxRW));
    if (n > 0) return {static_cast<std::size_t>(n), {}};
    if (n == 0) return {0, make_error_code(io_errc::eof)};
    if (errno != EINTR) return {0, sys(errno)};
  }
}

Result<std::size_t> File::write(std::span<const std::byte> buf) {
  if (fd_ < 0) return {0, closed()};
  std::size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + done, std::min(buf.size() - done, kMaxRW));
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n == 0) {
      return {done, make_error_code(io_errc::short_write)};
    } else if (errno != EINTR) {
      return {done, sys(errno)};
    }
  }
  return {done, {}};
}

Result<std::uint64_t> File::seek(std::int64_t offset, int whence) {
  if (fd_ < 0) return {0, closed()};
  off_t r = ::lseek(fd_, static_cast<off_t>(offset), whence);
  if (r < 0) return {0, sys(errno)};
  return {static_cast<std::uint64_t>(r), {}};
}

Result<std::uint64_t> File::size() const {
  if (fd_ < 0) return {0, closed()};
  struct stat st;
  if (::fstat(fd_, &st) < 0) return {0, sys(errno)};
  return {static_cast<std::uint64_t>(st.st_size), {}};
}

std::error_code File::close() {
  if (fd_ < 0) return closed();
  int r = ::close(std::exchange(fd_, -1));  // Linux frees the descriptor even on EINTR
  return r < 0 && errno != EINTR ? sys(errno) : std::error_code{};
}

Result<File> open_file(std::string_view name, int flags, ::mode_t perm) {
  std::string path(name);
  for (;;) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, perm);
    if (fd >= 0) return {File(fd, std::move(path)), {}};
    if (errno != EINTR) return {File(), sys(errno)};
  }
}

Result<File> open(std::string_view name) { return open_file(name, O_RDONLY, 0); }

Result<File> create(std::string_view name) { return open_file(name, O_RDWR | O_CREAT | O_TRUNC, 0666); }

}  // namespace gort::os
