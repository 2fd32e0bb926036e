// Tests of net/sendfile.cpp: io::copy from an os::File to a conn takes
// sendfile(2), from the file's offset, for at most a LimitReader's bytes,
// and ends on a gone peer or a deadline; other descriptors fall back.
#include "gort_net_test.hpp"

#include <gort/io.hpp>
#include <gort/os.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

using namespace gort_test;
namespace io = gort::io;
namespace os = gort::os;

namespace {

// temp_file: a file in /tmp holding data, open for reading and already
// unlinked (it goes when the File is closed).
os::File temp_file(const std::string& data) {
  char path[] = "/tmp/gort-sendfile-test-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return {};
  ::unlink(path);
  os::File f(fd, path);
  if (f.write(data).err || f.seek(0, SEEK_SET).err) return {};
  return f;
}

}  // namespace

TEST_CASE("sendfile: copy from a file to a conn takes sendfile, byte-exact, from the file's offset") {
  const std::string data = pattern((8 << 20) + 123);  // more than one 4 MiB round
  for_each_procs([&](int) {
    os::File f = temp_file(data);
    REQUIRE(f.fd() >= 0);
    auto p = tcp_pair();
    REQUIRE(p.ok);
    CHECK(f.seek(100, SEEK_SET).value == 100);
    const io::Stats before = io::stats();
    auto done = gort::Chan<gort::Result<std::uint64_t>>(1);
    gort::go([&] {
      auto r = io::copy(p.client, f);
      p.client.close_write();
      done.send(r);
    });
    std::string got;
    CHECK_FALSE(read_all(p.server, &got));
    auto r = done.recv().value;
    const io::Stats after = io::stats();
    CHECK(r.value == data.size() - 100);
    CHECK(r.err.message() == std::error_code{}.message());
    CHECK(got == data.substr(100));
    CHECK(after.sendfile_bytes - before.sendfile_bytes == data.size() - 100);
    CHECK(after.buffered_bytes == before.buffered_bytes);
    CHECK(f.seek(0, SEEK_CUR).value == data.size());  // the offset moved to the end
  });
}

TEST_CASE("sendfile: copy_n and a LimitReader over a file send at most their bytes") {
  const std::string data = pattern(100 * 1000);
  for_each_procs([&](int) {
    os::File f = temp_file(data);
    REQUIRE(f.fd() >= 0);
    auto p = tcp_pair();
    REQUIRE(p.ok);
    const io::Stats before = io::stats();
    auto a = io::copy_n(p.client, f, 1000);
    CHECK(a.value == 1000);
    CHECK_FALSE(a.err);
    io::LimitReader lr{f, 2000};
    auto b = io::copy(p.client, lr);
    CHECK(b.value == 2000);
    CHECK_FALSE(b.err);
    CHECK(lr.n == 0);
    CHECK(io::stats().sendfile_bytes - before.sendfile_bytes == 3000);
    std::string got;
    CHECK_FALSE(read_n(p.server, 3000, &got));
    CHECK(got == data.substr(0, 3000));
    CHECK(f.seek(0, SEEK_CUR).value == 3000);
    // Past the end: copy_n says eof with the bytes there were.
    auto c = io::copy_n(p.client, f, data.size());
    CHECK(c.value == data.size() - 3000);
    CHECK(c.err == gort::io_errc::eof);
  });
}

TEST_CASE("sendfile: an empty file copies nothing, and a pipe falls back to the buffered loop") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    os::File empty = temp_file("");
    REQUIRE(empty.fd() >= 0);
    auto e = io::copy(p.client, empty);
    CHECK(e.value == 0);
    CHECK_FALSE(e.err);
    // A pipe's read end as a File: the kernel refuses sendfile from it
    // (EINVAL), so copy reads it in user space.
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    CHECK(::write(fds[1], "through a pipe", 14) == 14);
    ::close(fds[1]);
    os::File pipe_file(fds[0], "pipe");
    const io::Stats before = io::stats();
    auto r = io::copy(p.client, pipe_file);
    const io::Stats after = io::stats();
    CHECK(r.value == 14);
    CHECK_FALSE(r.err);
    CHECK(after.buffered_bytes - before.buffered_bytes == 14);
    CHECK(after.sendfile_bytes == before.sendfile_bytes);
    std::string got;
    CHECK_FALSE(read_n(p.server, 14, &got));
    CHECK(got == "through a pipe");
  });
}

TEST_CASE("sendfile: a write deadline ends the copy into a conn nobody reads with io_errc::timeout") {
  const std::string data = pattern(64 << 20);  // far more than the socket buffers hold
  for_each_procs([&](int) {
    os::File f = temp_file(data);
    REQUIRE(f.fd() >= 0);
    auto p = tcp_pair();
    REQUIRE(p.ok);
    CHECK_FALSE(p.client.set_write_deadline(Clock::now() + 100ms));
    auto start = Clock::now();
    auto r = io::copy(p.client, f);
    CHECK(ms(Clock::now() - start) >= 90);
    CHECK(r.err == gort::io_errc::timeout);
    CHECK(r.value > 0);
    CHECK(r.value < data.size());
    CHECK(f.seek(0, SEEK_CUR).value == r.value);  // the offset says what was sent
  });
}

TEST_CASE("sendfile: a peer that is gone ends the copy with its error, and no SIGPIPE kills the process") {
  // SIGPIPE's default action ends the process: make sure it is in force.
  struct sigaction dfl {
  }, old{};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, &old);
  const std::string data = pattern(16 << 20);
  for_each_procs([&](int) {
    os::File f = temp_file(data);
    REQUIRE(f.fd() >= 0);
    auto p = tcp_pair();
    REQUIRE(p.ok);
    p.server.close();  // the reader goes: the kernel resets the sender
    auto r = io::copy(p.client, f);
    CHECK((r.err == std::errc::broken_pipe || r.err == std::errc::connection_reset));
    CHECK(r.value < data.size());
  });
  ::sigaction(SIGPIPE, &old, nullptr);
}
