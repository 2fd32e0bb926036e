// gort/os.hpp: os::File, Go's *os.File for regular files (library
// gort::net): open, read, write, close, so that a fiber can send a file
// down a conn, where io::copy takes sendfile(2) (<gort/io.hpp>).
//
//   auto [f, err] = gort::os::open("index.html");
//   if (!err) gort::io::copy(conn, f);     // sendfile: the bytes stay in the kernel
//
// Reads and writes are plain blocking system calls on the fiber's thread,
// as Go makes them for regular files (which epoll cannot wait on): a page
// cache hit costs a copy; a disk read holds the thread, and after 10 ms
// sysmon hands the thread's P to another M, so other fibers keep running
// (runtime/sysmon.hpp). For a pipe, a terminal or anything else that may
// block indefinitely, run the call under gort::blocking, or use a Conn.
//
// A File reads and writes at its file offset, which reads, writes and
// io::copy's sendfile all advance. One fiber uses a File at a time; close()
// must not race with a call in progress (unlike Conn, a File keeps no
// references: it is a plain descriptor with an owner).
#pragma once

#include <gort/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <sys/types.h>

namespace gort::os {

// File is an open file descriptor. Move-only; destroying an open File
// closes it. Calls on a default, moved-from or closed File fail with
// io_errc::closed.
class File {
 public:
  File() noexcept = default;
  File(int fd, std::string name) noexcept;  // adopts fd
  File(File&& o) noexcept;
  File& operator=(File&& o) noexcept;
  ~File();

  // read reads at least one byte into buf, or returns {0, io_errc::eof} at
  // the end of the file. An empty buf returns {0, {}} at once.
  Result<std::size_t> read(std::span<std::byte> buf);
  Result<std::size_t> read(std::span<char> buf) { return read(std::as_writable_bytes(buf)); }

  // write writes all of buf, or returns the bytes written before the error.
  Result<std::size_t> write(std::span<const std::byte> buf);
  Result<std::size_t> write(std::string_view s) { return write(std::as_bytes(std::span(s))); }

  // seek sets the offset for the next read or write (lseek(2): whence is
  // SEEK_SET, SEEK_CUR or SEEK_END) and returns it.
  Result<std::uint64_t> seek(std::int64_t offset, int whence);
  // size is the file's length now (fstat).
  Result<std::uint64_t> size() const;

  std::error_code close();                 // a second close returns io_errc::closed
  int fd() const noexcept { return fd_; }  // -1 if closed
  const std::string& name() const noexcept { return name_; }

 private:
  int fd_ = -1;
  std::string name_;
};

// open opens name for reading (Go's os.Open).
Result<File> open(std::string_view name);
// create creates or truncates name, for reading and writing, mode 0666
// before the umask (Go's os.Create).
Result<File> create(std::string_view name);
// open_file is open(2) with flags (O_RDONLY, O_WRONLY|O_APPEND, ...) and
// the mode for a created file (Go's os.OpenFile). O_CLOEXEC is always added.
Result<File> open_file(std::string_view name, int flags, ::mode_t perm);

}  // namespace gort::os
