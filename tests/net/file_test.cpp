// Tests of net/file.cpp (<gort/os.hpp>): os::File opens, creates, reads,
// writes, seeks and closes regular files, with Go's errors.
#include "gort_net_test.hpp"

#include <gort/io.hpp>
#include <gort/os.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

using namespace gort_test;
namespace io = gort::io;
namespace os = gort::os;

static_assert(io::Reader<os::File> && io::Writer<os::File>);

namespace {

// TempDir: a fresh directory, removed with what is in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gort-file-test-XXXXXX";
    path = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() {
    if (!path.empty()) std::system(("rm -rf '" + path + "'").c_str());
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

}  // namespace

TEST_CASE("os: a created file reads back what was written, from where seek puts it") {
  TempDir dir;
  REQUIRE_FALSE(dir.path.empty());
  int rc = gort::run([&] {
    auto [f, err] = os::create(dir / "a.txt");
    REQUIRE_FALSE(err);
    CHECK(f.name() == dir / "a.txt");
    CHECK(f.write("hello, file").value == 11);
    CHECK(f.size().value == 11);
    CHECK(f.seek(7, SEEK_SET).value == 7);
    char buf[16];
    auto r = f.read(std::span(buf));
    CHECK(r.value == 4);
    CHECK(std::string(buf, 4) == "file");
    CHECK(f.read(std::span(buf)).err == gort::io_errc::eof);
    CHECK(f.read(std::span(buf, 0)).value == 0);
    CHECK_FALSE(f.close());
    // open: read-only, from the start.
    auto [g, gerr] = os::open(dir / "a.txt");
    REQUIRE_FALSE(gerr);
    std::string all(11, '\0');
    CHECK(io::read_full(g, std::span(all)).value == 11);
    CHECK(all == "hello, file");
    CHECK(g.write("no").err == std::errc::bad_file_descriptor);
    // open_file: append.
    auto [h, herr] = os::open_file(dir / "a.txt", O_WRONLY | O_APPEND, 0);
    REQUIRE_FALSE(herr);
    CHECK(h.write("!").value == 1);
    CHECK(h.size().value == 12);
  });
  CHECK(rc == 0);
}

TEST_CASE("os: a missing file is an error, and a closed File says closed") {
  TempDir dir;
  auto [f, err] = os::open(dir / "missing");
  CHECK(err == std::errc::no_such_file_or_directory);
  CHECK(f.fd() == -1);
  char buf[4];
  CHECK(f.read(std::span(buf)).err == gort::io_errc::closed);
  auto [g, gerr] = os::create(dir / "b");
  REQUIRE_FALSE(gerr);
  const int fd = g.fd();
  os::File moved = std::move(g);  // the descriptor goes with the move
  CHECK(moved.fd() == fd);
  CHECK(g.fd() == -1);
  CHECK_FALSE(moved.close());
  CHECK(moved.close() == gort::io_errc::closed);
  CHECK(moved.write("x").err == gort::io_errc::closed);
  CHECK(moved.size().err == gort::io_errc::closed);
  CHECK(::fcntl(fd, F_GETFD) == -1);  // really closed
}
