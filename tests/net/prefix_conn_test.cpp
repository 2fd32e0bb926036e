// Tests of net/prefix_conn.cpp (<gort/prefix_conn.hpp>): a PrefixConn reads
// its prefix and then its conn, forwards everything else to the conn, and
// io::copy from it writes the prefix and splices the rest.
#include "gort_net_test.hpp"

#include <gort/io.hpp>
#include <gort/prefix_conn.hpp>

#include <string>

using namespace gort_test;
namespace io = gort::io;
namespace net = gort::net;

static_assert(io::Reader<net::PrefixConn> && io::Writer<net::PrefixConn>);

TEST_CASE("prefix_conn: reads return the prefix first, in order, then the conn's bytes") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    CHECK_FALSE(p.client.write("defg").err);
    net::PrefixConn pc(std::move(p.server), std::string_view("abc"));
    CHECK(pc.buffered().size() == 3);
    char buf[2];
    auto a = pc.read(std::span(buf));  // the prefix only, however small the reads
    CHECK(a.value == 2);
    CHECK(std::string(buf, 2) == "ab");
    auto b = pc.read(std::span(buf));
    CHECK(b.value == 1);  // a read never mixes the prefix and the conn
    CHECK(buf[0] == 'c');
    CHECK(pc.buffered().empty());
    std::string rest;
    char big[16];
    while (rest.size() < 4) {
      auto r = pc.read(std::span(big));
      REQUIRE_FALSE(r.err);
      rest.append(big, r.value);
    }
    CHECK(rest == "defg");
    p.client.close();
    CHECK(pc.read(std::span(big)).err == gort::io_errc::eof);
  });
}

TEST_CASE("prefix_conn: writes, half-close, deadlines, addresses and close go to the conn") {
  for_each_procs([](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    const std::string laddr = p.server.local_addr().to_string(), raddr = p.server.remote_addr().to_string();
    const int fd = p.server.fd();
    net::PrefixConn pc(std::move(p.server), std::string_view("hello"));
    CHECK(pc.local_addr().to_string() == laddr);
    CHECK(pc.remote_addr().to_string() == raddr);
    CHECK(pc.fd() == fd);
    CHECK(pc.write("to the client").value == 13);
    CHECK_FALSE(pc.close_write());  // the client sees EOF after the bytes
    std::string got;
    CHECK_FALSE(read_all(p.client, &got));
    CHECK(got == "to the client");
    // A deadline applies to the conn's reads once the prefix is gone.
    CHECK_FALSE(pc.set_read_deadline(Clock::now() + 50ms));
    char buf[8];
    CHECK(pc.read(std::span(buf)).value == 5);
    CHECK(pc.read(std::span(buf)).err == gort::io_errc::timeout);
    CHECK_FALSE(pc.set_read_deadline({}));
    // Closed: no more prefix bytes either, and a second close says so.
    net::PrefixConn pc2(std::move(pc.conn()), std::string_view("left over"));
    CHECK_FALSE(pc2.close());
    CHECK(pc2.read(std::span(buf)).err == gort::io_errc::closed);
    CHECK(pc2.write("x").err == gort::io_errc::closed);
    CHECK(pc2.close() == gort::io_errc::closed);
  });
}

TEST_CASE("prefix_conn: copy from a PrefixConn writes the prefix, then splices the conn") {
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    const std::string prefix = pattern(1000), data = pattern(1 << 20).substr(1000);
    auto wrote = pending_write(src.client, data);
    net::PrefixConn pc(std::move(src.server), std::string_view(prefix));
    // copy_n inside the prefix: only prefix bytes, the rest stays buffered.
    auto a = io::copy_n(dst.client, pc, 10);
    CHECK(a.value == 10);
    CHECK_FALSE(a.err);
    CHECK(pc.buffered().size() == prefix.size() - 10);
    CHECK(wrote.recv().value.value == data.size());
    src.client.close_write();
    const io::Stats before = io::stats();
    auto b = io::copy(dst.client, pc);
    const io::Stats after = io::stats();
    CHECK(b.value == prefix.size() - 10 + data.size());
    CHECK(b.err.message() == std::error_code{}.message());
    CHECK(after.buffered_bytes - before.buffered_bytes == prefix.size() - 10);  // the prefix from memory
    // the conn's bytes through the conn-to-conn path, which splices the bulk
    CHECK(after.splice_bytes + after.small_bytes - before.splice_bytes - before.small_bytes == data.size());
    CHECK(after.splice_bytes > before.splice_bytes);
    dst.client.close_write();
    std::string got;
    CHECK_FALSE(read_all(dst.server, &got));
    CHECK(got == prefix + data);
  });
}

TEST_CASE("prefix_conn: copy into a PrefixConn splices into its conn") {
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    const std::string data = pattern(256 * 1024);
    net::PrefixConn pc(std::move(dst.client), std::string_view("unread"));
    auto wrote = pending_write(src.client, data);
    const io::Stats before = io::stats();
    auto r = io::copy_n(pc, src.server, data.size());
    const io::Stats after = io::stats();
    CHECK(r.value == data.size());
    CHECK_FALSE(r.err);
    CHECK(after.splice_bytes + after.small_bytes - before.splice_bytes - before.small_bytes == data.size());
    CHECK(after.splice_bytes > before.splice_bytes);
    CHECK(wrote.recv().value.value == data.size());
    std::string got;
    CHECK_FALSE(read_n(dst.server, data.size(), &got));
    CHECK(got == data);
    CHECK(pc.buffered().size() == 6);  // the writer's side never touched the prefix
  });
}
