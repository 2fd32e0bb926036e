// Tests of net/fd.cpp: the poll descriptor's loops, its locks and its close
// protocol, through Conn.
#include "gort_net_test.hpp"

#include <sys/socket.h>

#include <atomic>
#include <string>
#include <vector>

using namespace gort_test;
namespace net = gort::net;

TEST_CASE("net: close wakes a blocked reader with a closed error") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    auto got = pending_read(p.client);
    gort::sleep_for(20ms);  // the reader is parked in the poller by now
    CHECK(got.len() == 0);
    CHECK_FALSE(p.client.close());
    auto [r, ok] = got.recv();
    CHECK(r.err == gort::io_errc::closed);
    CHECK(r.err.message() == "use of closed network connection");
  });
}

TEST_CASE("net: close wakes a blocked writer with a closed error and the bytes it wrote") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    gort::Chan<gort::Result<std::size_t>> got(1);
    std::vector<char> big(32 << 20, 'x');  // more than the socket buffers hold: the writer parks
    gort::go([&] { got.send(p.client.write(big.data(), big.size())); });
    gort::sleep_for(50ms);
    CHECK(got.len() == 0);
    p.client.close();
    auto [r, ok] = got.recv();
    CHECK(r.err == gort::io_errc::closed);
    CHECK(r.value > 0);
    CHECK(r.value < big.size());
  });
}

TEST_CASE("net: a reader and a writer of one conn run at once") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    gort::Chan<std::string> read(1);
    gort::go([&] {  // parks: nothing comes until the writer below is done
      std::string s;
      read_n(p.client, 5, &s);
      read.send(s);
    });
    gort::sleep_for(10ms);
    // The client writes while its reader is parked; the server echoes.
    auto [n, err] = p.client.write("hello");
    CHECK(n == 5);
    CHECK_FALSE(err);
    std::string s;
    CHECK_FALSE(read_n(p.server, 5, &s));
    CHECK(p.server.write(s).value == 5);
    CHECK(read.recv().value == "hello");
  });
}

TEST_CASE("net: readers are served one at a time and each gets whole reads") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    constexpr int kReaders = 8, kBytes = 64 * 1024;
    std::atomic<long> total{0};
    gort::WaitGroup wg;
    wg.add(kReaders);
    for (int i = 0; i < kReaders; i++)
      gort::go([&] {
        char buf[512];
        for (;;) {
          auto [n, err] = p.client.read(buf);
          total += static_cast<long>(n);
          if (err) break;
        }
        wg.done();
      });
    std::string data(kBytes, 'y');
    CHECK(p.server.write(data).value == data.size());
    p.server.close();  // every reader ends with EOF
    wg.wait();
    CHECK(total == kBytes);
  });
}

TEST_CASE("net: after close every call fails with closed and the fd is gone") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    CHECK(p.client.fd() >= 0);
    CHECK_FALSE(p.client.close());
    char buf[4];
    CHECK(p.client.read(buf).err == gort::io_errc::closed);
    CHECK(p.client.write("x").err == gort::io_errc::closed);
    CHECK(p.client.close() == gort::io_errc::closed);
    CHECK(p.client.set_deadline(Clock::now()) == gort::io_errc::closed);
    CHECK(p.client.close_write() == gort::io_errc::closed);
    CHECK(p.client.fd() == -1);
    // The peer sees the close as EOF.
    CHECK(p.server.read(buf).err == gort::io_errc::eof);
  });
}

TEST_CASE("net: a zero-byte read returns at once") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    auto [n, err] = p.client.read(std::span<char>());
    CHECK(n == 0);
    CHECK_FALSE(err);
  });
}

TEST_CASE("net: write writes all of a large buffer while the peer reads slowly") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    std::string data(8 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); i++) data[i] = static_cast<char>(i * 7 + i / 4096);
    gort::Chan<std::string> got(1);
    gort::go([&] {
      std::string s;
      read_n(p.server, data.size(), &s);
      got.send(std::move(s));
    });
    auto [n, err] = p.client.write(data);
    CHECK(n == data.size());
    CHECK_FALSE(err);
    CHECK(got.recv().value == data);
  });
}

TEST_CASE("net: a write to a peer that is gone fails with an error, not SIGPIPE") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    p.server.close();
    std::error_code err;
    std::string chunk(64 * 1024, 'z');
    for (int i = 0; i < 100 && !err; i++) {  // the first writes may still land in buffers
      err = p.client.write(chunk).err;
      gort::sleep_for(1ms);
    }
    CHECK((err == std::errc::broken_pipe || err == std::errc::connection_reset));
  });
}
