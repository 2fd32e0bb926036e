// Tests of net/io.cpp and net/splice.cpp (<gort/io.hpp>): io::copy between
// conns over splice(2) through a fiber proxy, the buffered loop for other
// readers, how a copy ends (EOF, close, deadline, a gone peer), memory
// held by a copy into a slow reader, copy_n, read_full, and the readers
// LimitReader, MultiReader and BytesReader. (The sendfile path:
// sendfile_test.cpp; copies from a PrefixConn: prefix_conn_test.cpp.)
#include "gort_net_test.hpp"

#include <gort/io.hpp>

#include <signal.h>
#include <unistd.h>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace gort_test;
namespace io = gort::io;
namespace net = gort::net;

namespace {

// StringReader reads s in pieces of at most `piece` bytes: not a socket.
struct StringReader {
  std::string s;
  std::size_t off = 0, piece = 1000;
  gort::Result<std::size_t> read(std::span<std::byte> p) {
    if (off == s.size()) return {0, gort::io_errc::eof};
    std::size_t n = std::min({p.size(), s.size() - off, piece});
    std::memcpy(p.data(), s.data() + off, n);
    off += n;
    return {n, {}};
  }
};

// StringWriter appends what it is given.
struct StringWriter {
  std::string s;
  gort::Result<std::size_t> write(std::span<const std::byte> p) {
    s.append(reinterpret_cast<const char*>(p.data()), p.size());
    return {p.size(), {}};
  }
};

static_assert(io::Reader<net::Conn> && io::Writer<net::Conn>);
static_assert(io::Reader<StringReader> && io::Writer<StringWriter>);
static_assert(!io::Reader<StringWriter> && !io::Writer<StringReader>);

// fill: chunk k of the test stream (a xorshift sequence seeded by k).
void fill(std::vector<char>& buf, std::uint64_t k) {
  std::uint64_t x = k * 0x9e3779b97f4a7c15ull + 1;
  for (auto& c : buf) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
}

}  // namespace

TEST_CASE("io: copy between two sockets splices 1 GiB, byte-exact") {
  const std::uint64_t size = std::uint64_t(scaled(1000)) << 20;  // 1000 MiB (100 MiB under TSan)
  const io::Stats before = io::stats();
  std::uint64_t sent_sum = 0, got_sum = 0, got_bytes = 0, copied = 0;
  std::error_code copy_err, sink_err;
  int rc = gort::run(gort::Config{.procs = 2}, [&] {
    net::Listener sink = listen_checked("tcp", "127.0.0.1:0");
    net::Listener proxy = listen_checked("tcp", "127.0.0.1:0");
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] {  // the sink: reads everything, hashing it
      auto r = sink.accept();
      sink_err = r.err;
      Fnv h;
      std::vector<char> buf(64 * 1024);
      while (!r.err) {
        auto [n, err] = r.value.read(std::span(buf));
        h.add(buf.data(), n);
        got_bytes += n;
        if (err) {
          if (err != gort::io_errc::eof) sink_err = err;
          break;
        }
      }
      got_sum = h.h;
      wg.done();
    });
    gort::go([&] {  // the proxy: client conn A -> upstream conn B
      auto a = proxy.accept();
      auto b = net::dial("tcp", sink.addr().to_string());
      if (a.err || b.err) {
        copy_err = a.err ? a.err : b.err;
      } else {
        auto r = io::copy(b.value, a.value);
        copied = r.value;
        copy_err = r.err;
        b.value.close_write();
      }
      wg.done();
    });
    auto c = net::dial("tcp", proxy.addr().to_string());
    if (c.err) return;
    Fnv h;
    std::vector<char> buf(1 << 20);
    for (std::uint64_t k = 0; k < size / buf.size(); k++) {
      fill(buf, k);
      h.add(buf.data(), buf.size());
      if (c.value.write(buf.data(), buf.size()).err) break;
    }
    sent_sum = h.h;
    c.value.close_write();
    wg.wait();
  });
  const io::Stats after = io::stats();
  CHECK(rc == 0);
  CHECK(copy_err.message() == std::error_code{}.message());
  CHECK(sink_err.message() == std::error_code{}.message());
  CHECK(copied == size);
  CHECK(got_bytes == size);
  CHECK(got_sum == sent_sum);
  // The conn-to-conn path moved it all, nearly all of it spliced (a small
  // round may go through the 16 KiB buffer), and the buffered loop nothing.
  CHECK(after.splice_bytes + after.small_bytes - before.splice_bytes - before.small_bytes == size);
  CHECK(after.splice_bytes - before.splice_bytes >= size / 2);
  CHECK(after.buffered_bytes == before.buffered_bytes);
}

TEST_CASE("io: copy from a reader that is not a socket takes the buffered loop") {
  const io::Stats before = io::stats();
  const std::string want = pattern(100 * 1000 + 7);
  StringReader r{want};
  StringWriter w;
  auto [n, err] = io::copy(w, r);
  CHECK_FALSE(err);
  CHECK(n == want.size());
  CHECK(w.s == want);
  // And into a conn: still buffered, since the source is no socket.
  std::string got;
  for_each_procs([&](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    StringReader r2{want};
    auto res = io::copy(p.client, r2);
    CHECK(res.value == want.size());
    CHECK_FALSE(res.err);
    p.client.close_write();
    got.clear();
    CHECK_FALSE(read_all(p.server, &got));
  });
  CHECK(got == want);
  const io::Stats after = io::stats();
  CHECK(after.buffered_bytes - before.buffered_bytes == want.size() * (1 + kProcs.size()));
  CHECK(after.splice_bytes == before.splice_bytes);
}

TEST_CASE("io: a peer that closes in the middle ends the copy with the bytes so far and no error") {
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    auto done = gort::Chan<gort::Result<std::uint64_t>>(1);
    gort::go([&] { done.send(io::copy(dst.client, src.server)); });
    const std::string data = pattern(1 << 20);
    CHECK_FALSE(src.client.write(data).err);
    std::string got;
    CHECK_FALSE(read_n(dst.server, data.size(), &got));  // the copy is under way
    CHECK(got == data);
    src.client.close();  // the peer goes away mid-stream
    auto r = done.recv().value;
    CHECK(r.value == data.size());
    CHECK(r.err.message() == std::error_code{}.message());
  });
}

TEST_CASE("io: a read deadline in the middle ends the copy with io_errc::timeout") {
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    const std::string data = pattern(64 * 1024);
    CHECK_FALSE(src.client.write(data).err);
    CHECK_FALSE(src.server.set_read_deadline(Clock::now() + 100ms));
    auto done = gort::Chan<gort::Result<std::uint64_t>>(1);
    auto start = Clock::now();
    gort::go([&] { done.send(io::copy(dst.client, src.server)); });
    std::string got;
    CHECK_FALSE(read_n(dst.server, data.size(), &got));
    CHECK(got == data);
    auto r = done.recv().value;  // src stays open and silent: only the deadline ends it
    CHECK(ms(Clock::now() - start) >= 90);
    CHECK(r.value == data.size());
    CHECK(r.err == gort::io_errc::timeout);
  });
}

TEST_CASE("io: two copies in opposite directions proxy a conn, and closing either end ends both") {
  for (bool client_closes : {true, false}) {
    CAPTURE(client_closes);
    for_each_procs([client_closes](int) {
      auto down = tcp_pair(), up = tcp_pair();  // client <-> proxy, proxy <-> upstream
      REQUIRE(down.ok);
      REQUIRE(up.ok);
      auto to_up = gort::Chan<gort::Result<std::uint64_t>>(1);
      auto to_down = gort::Chan<gort::Result<std::uint64_t>>(1);
      gort::go([&] {  // go copy(upstream, conn); then close both, as the talk's proxy
        auto r = io::copy(up.client, down.server);
        up.client.close();
        down.server.close();
        to_up.send(r);  // last: the conns must outlive the closes
      });
      gort::go([&] {  // copy(conn, upstream); then close both
        auto r = io::copy(down.server, up.client);
        up.client.close();
        down.server.close();
        to_down.send(r);
      });
      CHECK(down.client.write("hello, proxy").value == 12);  // client -> upstream
      std::string got;
      CHECK_FALSE(read_n(up.server, 12, &got));
      CHECK(got == "hello, proxy");
      CHECK(up.server.write("and back").value == 8);  // upstream -> client
      got.clear();
      CHECK_FALSE(read_n(down.client, 8, &got));
      CHECK(got == "and back");
      (client_closes ? down.client : up.server).close();  // one end goes
      auto r1 = to_up.recv().value;
      auto r2 = to_down.recv().value;
      CHECK(r1.value == 12);
      CHECK(r2.value == 8);
      // The side whose peer left ends at its EOF; the other is woken by the close.
      const auto& clean = client_closes ? r1.err : r2.err;
      const auto& woken = client_closes ? r2.err : r1.err;
      CHECK(clean.message() == std::error_code{}.message());
      CHECK(woken == gort::io_errc::closed);
      // And the far end sees the proxy's close.
      std::string rest;
      CHECK_FALSE(read_all(client_closes ? up.server : down.client, &rest));
    });
  }
}

TEST_CASE("io: copy between conns passes each small message on at once, and splices a bulk stream") {
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    auto done = gort::Chan<gort::Result<std::uint64_t>>(1);
    gort::go([&] { done.send(io::copy(dst.client, src.server)); });
    // A request/response shape: each 64-byte message must come out before
    // the next goes in (a copy that waited to fill its buffer would hang).
    const io::Stats before = io::stats();
    const std::string msg = pattern(64);
    for (int i = 0; i < 200; i++) {
      REQUIRE_FALSE(src.client.write(msg).err);
      std::string got;
      REQUIRE_FALSE(read_n(dst.server, msg.size(), &got));
      REQUIRE(got == msg);
    }
    // The copy counts a round after its write returns, so the last message
    // may be read here before it is counted: give it a moment.
    for (int i = 0; i < 5000 && io::stats().small_bytes - before.small_bytes < 200 * msg.size(); i++)
      gort::sleep_for(1ms);
    const io::Stats mid = io::stats();
    CHECK(mid.small_bytes - before.small_bytes == 200 * msg.size());  // small rounds, no pipe
    CHECK(mid.splice_bytes == before.splice_bytes);
    // Then a bulk stream: the first full 16 KiB read turns the copy to splice.
    const std::string bulk = pattern(8 << 20);
    auto wrote = pending_write(src.client, bulk);
    std::string got;
    CHECK_FALSE(read_n(dst.server, bulk.size(), &got));
    CHECK(got == bulk);
    CHECK(wrote.recv().value.value == bulk.size());
    src.client.close_write();
    auto r = done.recv().value;
    CHECK_FALSE(r.err);
    CHECK(r.value == 200 * msg.size() + bulk.size());
    const io::Stats after = io::stats();
    CHECK(after.splice_bytes - mid.splice_bytes >= bulk.size() / 2);
    CHECK(after.splice_bytes + after.small_bytes - mid.splice_bytes - mid.small_bytes == bulk.size());
  });
}

TEST_CASE("io: copy_n copies exactly n bytes, or returns io_errc::eof if the source ends first") {
  StringReader r{"hello, world"};
  StringWriter w;
  auto a = io::copy_n(w, r, 5);
  CHECK(a.value == 5);
  CHECK_FALSE(a.err);
  CHECK(w.s == "hello");
  CHECK(r.off == 5);  // not a byte more was read
  auto b = io::copy_n(w, r, 100);
  CHECK(b.value == 7);
  CHECK(b.err == gort::io_errc::eof);
  CHECK(w.s == "hello, world");
  // Between conns (the splice path): stops at n, the rest stays in src.
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    const std::string data = pattern(300 * 1000);
    auto wrote = pending_write(src.client, data);
    auto r1 = io::copy_n(dst.client, src.server, 200 * 1000 + 1);
    CHECK(r1.value == 200 * 1000 + 1);
    CHECK_FALSE(r1.err);
    std::string got, rest;
    CHECK_FALSE(read_n(dst.server, 200 * 1000 + 1, &got));
    CHECK(got == data.substr(0, 200 * 1000 + 1));
    CHECK_FALSE(read_n(src.server, data.size() - got.size(), &rest));
    CHECK(got + rest == data);
    CHECK(wrote.recv().value.value == data.size());  // and data outlives the send
    src.client.close();
    auto r2 = io::copy_n(dst.client, src.server, 10);
    CHECK(r2.value == 0);
    CHECK(r2.err == gort::io_errc::eof);
  });
}

TEST_CASE("io: a LimitReader stops at its limit, and over a conn still splices") {
  StringReader r{"hello, world"};
  io::LimitReader lr{r, 5};
  StringWriter w;
  auto a = io::copy(w, lr);
  CHECK(a.value == 5);
  CHECK_FALSE(a.err);
  CHECK(w.s == "hello");
  CHECK(lr.n == 0);
  char c;
  CHECK(lr.read(std::as_writable_bytes(std::span(&c, 1))).err == gort::io_errc::eof);
  // Over a conn: the splice path, for exactly the limit's bytes.
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    const std::string data = pattern(300 * 1000);
    auto wrote = pending_write(src.client, data);
    const auto before = io::stats();
    io::LimitReader limited{src.server, 100 * 1000};
    auto r1 = io::copy(dst.client, limited);
    const auto after = io::stats();
    CHECK(r1.value == 100 * 1000);
    CHECK_FALSE(r1.err);
    CHECK(limited.n == 0);
    CHECK(after.splice_bytes + after.small_bytes - before.splice_bytes - before.small_bytes == 100 * 1000);
    CHECK(after.splice_bytes > before.splice_bytes);
    CHECK(after.buffered_bytes == before.buffered_bytes);
    std::string got, rest;
    CHECK_FALSE(read_n(dst.server, 100 * 1000, &got));
    CHECK(got == data.substr(0, 100 * 1000));
    CHECK_FALSE(read_n(src.server, data.size() - got.size(), &rest));
    CHECK(got + rest == data);
    CHECK(wrote.recv().value.value == data.size());  // and data outlives the send
  });
}

TEST_CASE("io: read_full fills the buffer, or says eof or unexpected_eof") {
  StringReader r{"abcdef"};
  r.piece = 1;  // one byte per read: read_full has to loop
  char buf[4];
  auto a = io::read_full(r, std::span(buf));
  CHECK(a.value == 4);
  CHECK_FALSE(a.err);
  CHECK(std::string(buf, 4) == "abcd");
  auto b = io::read_full(r, std::span(buf));
  CHECK(b.value == 2);
  CHECK(b.err == gort::io_errc::unexpected_eof);
  CHECK(b.err.message() == "unexpected EOF");
  auto c = io::read_full(r, std::span(buf));
  CHECK(c.value == 0);
  CHECK(c.err == gort::io_errc::eof);
  auto d = io::read_full(r, std::span(buf, 0));
  CHECK(d.value == 0);
  CHECK_FALSE(d.err);
}

TEST_CASE("io: a MultiReader reads each reader to its end in turn, then says eof") {
  io::BytesReader a("hello, "), empty(""), c("ld");
  StringReader b{"wor"};
  b.piece = 1;
  io::MultiReader mr(a, empty, b, c);
  static_assert(io::Reader<decltype(mr)> && io::Reader<io::BytesReader>);
  StringWriter w;
  auto r = io::copy(w, mr);
  CHECK(r.value == 12);
  CHECK_FALSE(r.err);
  CHECK(w.s == "hello, world");
  char buf[4];
  CHECK(mr.read(std::as_writable_bytes(std::span(buf))).err == gort::io_errc::eof);
  // A reader's error other than EOF is returned, and the next read retries it.
  struct FailOnce {
    bool failed = false;
    io::BytesReader rest{std::string_view("after")};
    gort::Result<std::size_t> read(std::span<std::byte> p) {
      if (!failed) {
        failed = true;
        return {0, std::make_error_code(std::errc::connection_reset)};
      }
      return rest.read(p);
    }
  } fail;
  io::BytesReader head("head,");
  io::MultiReader mr2(head, fail);
  StringWriter w2;
  auto r2 = io::copy(w2, mr2);
  CHECK(r2.value == 5);
  CHECK(r2.err == std::errc::connection_reset);
  auto r3 = io::copy(w2, mr2);
  CHECK(r3.value == 5);
  CHECK_FALSE(r3.err);
  CHECK(w2.s == "head,after");
}

TEST_CASE("io: a MultiReader of bytes and a conn copies both into a conn, in order") {
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    const std::string head = "PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n", body = pattern(200 * 1000);
    auto wrote = pending_write(src.client, body);
    io::BytesReader h(head);
    io::MultiReader mr(h, src.server);
    const io::Stats before = io::stats();
    auto r = io::copy_n(dst.client, mr, head.size() + body.size());
    CHECK(r.value == head.size() + body.size());
    CHECK_FALSE(r.err);
    CHECK(io::stats().buffered_bytes - before.buffered_bytes == r.value);  // the buffered loop
    std::string got;
    CHECK_FALSE(read_n(dst.server, r.value, &got));
    CHECK(got == head + body);
    CHECK(wrote.recv().value.value == body.size());
  });
}

namespace {

// rss_bytes: this process's resident set now.
std::uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("io: a copy into a slow reader holds no more memory as more bytes pass") {
  // The writer is much faster than the reader: a copy that queued what it
  // read would grow by most of the 64 MiB. Splice holds at most a pipe's
  // worth in the kernel, and the sockets' buffers push back on the writer.
  const std::uint64_t size = 64 << 20;
  std::uint64_t base = 0, peak = 0, got_bytes = 0, copied = 0;
  std::error_code copy_err;
  int rc = gort::run(gort::Config{.procs = 2}, [&] {
    auto src = tcp_pair(), dst = tcp_pair();
    if (!src.ok || !dst.ok) return;
    std::vector<char> chunk(1 << 20);
    fill(chunk, 1);
    std::vector<char> sink_buf(64 * 1024);
    base = rss_bytes();
    peak = base;
    gort::WaitGroup wg;
    std::atomic<bool> done{false};
    wg.add(3);
    gort::go([&] {  // the fast writer
      for (std::uint64_t sent = 0; sent < size; sent += chunk.size())
        if (src.client.write(chunk.data(), chunk.size()).err) break;
      src.client.close_write();
      wg.done();
    });
    gort::go([&] {  // the proxy
      auto r = io::copy(dst.client, src.server);
      copied = r.value;
      copy_err = r.err;
      dst.client.close_write();
      wg.done();
    });
    gort::go([&] {  // the slow reader: 64 KiB, then a pause
      for (;;) {
        auto [n, err] = dst.server.read(std::span(sink_buf));
        got_bytes += n;
        if (err) break;
        gort::sleep_for(1ms);
      }
      done = true;
      wg.done();
    });
    while (!done) {  // sample the resident set while the bytes flow
      peak = std::max(peak, rss_bytes());
      gort::sleep_for(2ms);
    }
    wg.wait();
  });
  CHECK(rc == 0);
  CHECK(copy_err.message() == std::error_code{}.message());
  CHECK(copied == size);
  CHECK(got_bytes == size);
  MESSAGE("resident set grew by " << (peak - base) / 1024 << " KiB while " << (size >> 20) << " MiB passed");
  CHECK(peak - base < (16u << 20));
}

TEST_CASE("io: a copy into a peer that is gone ends with its error, and no SIGPIPE kills the process") {
  // SIGPIPE's default action ends the process: make sure it is in force.
  struct sigaction dfl {
  }, old{};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, &old);
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    dst.server.close();  // the reader of the copy's output goes: the kernel resets the sender
    const std::string data = pattern(8 << 20);
    auto wrote = pending_write(src.client, data);
    const io::Stats before = io::stats();
    auto r = io::copy(dst.client, src.server);
    CHECK((r.err == std::errc::broken_pipe || r.err == std::errc::connection_reset));
    const io::Stats after = io::stats();  // the conn-to-conn path met it
    CHECK(after.splice_bytes + after.small_bytes - before.splice_bytes - before.small_bytes == r.value);
    // A writer still blocked (the copy no longer reads) is released; or it
    // finished already: the socket buffers may have taken all 8 MiB.
    src.server.close();
    wrote.recv();
  });
  ::sigaction(SIGPIPE, &old, nullptr);
}

TEST_CASE("io: a Progress counts a copy's bytes while it runs, on the splice and buffered paths") {
  for_each_procs([](int) {
    auto src = tcp_pair(), dst = tcp_pair();
    REQUIRE(src.ok);
    REQUIRE(dst.ok);
    io::Progress progress;
    auto done = gort::Chan<gort::Result<std::uint64_t>>(1);
    gort::go([&] { done.send(io::copy(dst.client, src.server, progress)); });
    CHECK_FALSE(src.client.write("first").err);
    std::string got;
    CHECK_FALSE(read_n(dst.server, 5, &got));  // the copy is still running: it waits for more
    // The copy counts right after its write returns, which may be a moment
    // after the bytes reached the reader: wait for it, boundedly.
    for (int i = 0; i < 1000 && progress.load() < 5; i++) gort::sleep_for(1ms);
    CHECK(progress.load() == 5);
    const std::string more = pattern(3 << 20);
    auto wrote = pending_write(src.client, more);
    CHECK_FALSE(read_n(dst.server, 5 + more.size(), &got));
    CHECK(wrote.recv().value.value == more.size());
    src.client.close_write();
    auto r = done.recv().value;
    CHECK(r.value == 5 + more.size());
    CHECK(progress.load() == r.value);
    // The buffered path counts too.
    io::Progress p2;
    io::BytesReader b("buffered bytes");
    CHECK(io::copy(dst.client, b, p2).value == 14);
    CHECK(p2.load() == 14);
  });
}

TEST_CASE("io: copy between unix stream sockets splices too") {
  const std::string path = "/tmp/gort-io-test-" + std::to_string(::getpid()) + ".sock";
  const std::string data = pattern(3 << 20);
  for_each_procs([&](int) {
    auto ln = listen_checked("unix", path);
    auto c = net::dial("unix", path);
    REQUIRE_FALSE(c.err);
    auto s = ln.accept();
    REQUIRE_FALSE(s.err);
    auto dst = tcp_pair();
    REQUIRE(dst.ok);
    auto wrote = pending_write(c.value, data);
    const io::Stats before = io::stats();
    auto r = io::copy_n(dst.client, s.value, data.size());  // unix -> TCP
    CHECK(r.value == data.size());
    CHECK_FALSE(r.err);
    const io::Stats after = io::stats();
    CHECK(after.splice_bytes + after.small_bytes - before.splice_bytes - before.small_bytes == data.size());
    CHECK(after.splice_bytes > before.splice_bytes);
    std::string got;
    CHECK_FALSE(read_n(dst.server, data.size(), &got));
    CHECK(got == data);
    CHECK(wrote.recv().value.value == data.size());
  });
}
