// Tests of net/client_hello.cpp and net/peek.cpp (<gort/client_hello.hpp>):
// real hellos captured from openssl, curl and python (tests/fuzz/corpus/
// client_hello, made by tools/capture-client-hellos.py) parse with their
// names, re-cut into records of any size and cut short anywhere; broken
// hellos are refused with a reason; peek_client_hello reads a conn until it
// knows, under a deadline, and hands back every byte; and live clients run
// as processes are peeked with the names they sent.
#include "gort_net_test.hpp"

#include "../fuzz/hello_bytes.hpp"

#include <gort/blocking.hpp>
#include <gort/client_hello.hpp>
#include <gort/io.hpp>
#include <gort/tls_errors.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);  // tests/fuzz

using namespace gort_test;
namespace net = gort::net;
namespace tls = gort::tls;
using tls::ParseStatus;

namespace {

Bytes load(const std::string& name) {
  std::ifstream f(std::string(GORT_TEST_DATA_DIR) + "/client_hello/" + name, std::ios::binary);
  REQUIRE_MESSAGE(f, "cannot read ", name, ": run tools/capture-client-hellos.py");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return to_bytes(s);
}

tls::ParseResult parse(const Bytes& b) { return tls::parse_client_hello(b); }

// Captured: a file of the corpus and what it must parse to.
struct Captured {
  const char* file;
  std::string sni;
  std::vector<std::string> alpn;
  std::uint16_t max_version;
  std::size_t records;
};

const std::vector<std::string> kH2 = {"h2", "http/1.1"}, kH1 = {"http/1.1"};
const std::string kL63(63, 'a');
const std::string kLongName = kL63 + "." + kL63 + "." + kL63 + "." + std::string(61, 'b');  // 253 bytes
const std::vector<Captured> kCaptured = {
    {"openssl-tls13.bin", "example.com", kH2, 0x0304, 1},
    {"openssl-tls12.bin", "example.com", kH2, 0x0303, 1},
    {"curl.bin", "a.example.test", kH2, 0x0304, 1},
    {"python-tls13.bin", "python.example.org", kH1, 0x0304, 1},
    {"python-tls12.bin", "python.example.org", {}, 0x0303, 1},
    {"python-nosni.bin", "", {}, 0x0304, 1},
    {"synthetic-grease.bin", "example.com", kH2, 0x0304, 1},
    {"synthetic-pq.bin", "example.com", kH2, 0x0304, 1},
    {"synthetic-5500.bin", "a.example.test", kH2, 0x0304, 1},
    {"synthetic-max.bin", "a.example.test", kH2, 0x0304, 2},
    {"synthetic-fragmented.bin", "python.example.org", kH1, 0x0304, 11},
    {"synthetic-ccs-after.bin", "example.com", kH2, 0x0304, 1},
    {"synthetic-many-exts.bin", "python.example.org", kH1, 0x0304, 1},
    {"synthetic-long-name.bin", kLongName, kH1, 0x0304, 1},
};

// message_of: the hello message inside a parsed stream's records.
Bytes message_of(const Bytes& raw) {
  auto r = parse(raw);
  Bytes msg = unframe(raw, r.consumed);
  msg.resize(4 + (std::size_t{u8(msg, 1)} << 16 | std::size_t{u8(msg, 2)} << 8 | u8(msg, 3)));
  return msg;
}

// set_length makes a message's header say its true length.
void set_length(Bytes& m) {
  const std::size_t n = m.size() - 4;
  m[1] = std::byte((n >> 16) & 0xff), m[2] = std::byte((n >> 8) & 0xff), m[3] = std::byte(n & 0xff);
}

// expect_verdict parses b and checks the status and that the reason says `why`.
void expect_verdict(const Bytes& b, ParseStatus s, std::string_view why) {
  auto r = parse(b);
  CHECK_MESSAGE(r.status == s, "reason: ", r.reason);
  CHECK_MESSAGE(r.reason.find(why) != std::string::npos, "reason: ", r.reason, " (want: ", why, ")");
}

}  // namespace

TEST_CASE("client_hello: each captured hello parses with its server name, ALPN and versions") {
  for (const auto& c : kCaptured) {
    CAPTURE(c.file);
    Bytes raw = load(c.file);
    auto r = parse(raw);
    REQUIRE_MESSAGE(r.status == ParseStatus::parsed, r.reason);
    CHECK(r.hello.server_name == c.sni);
    CHECK(r.hello.has_extension(0) == !c.sni.empty());
    CHECK(r.hello.alpn == c.alpn);
    CHECK(r.hello.max_version() == c.max_version);
    CHECK(r.hello.legacy_version == 0x0303);
    CHECK(r.hello.records == c.records);
    CHECK(r.consumed == raw.size() - (std::string_view(c.file) == "synthetic-ccs-after.bin" ? 6 : 0));
    CHECK(r.hello.cipher_suites.size() >= 2);
  }
  CHECK(parse(load("synthetic-many-exts.bin")).hello.extensions.size() > 40);
  // GREASE: kept in the cipher suites and extensions, dropped from the versions.
  auto g = parse(load("synthetic-grease.bin")).hello;
  CHECK(g.cipher_suites.front() == 0x5a5a);
  CHECK(g.extensions.front() == 0x1a1a);
  CHECK(g.extensions.back() == 0x4a4a);
  CHECK(g.supported_versions ==
        std::vector<std::uint16_t>{0x0304, 0x0303, 0x0302, 0x0301});  // 0x7a7a dropped
  CHECK(tls::is_grease(0x5a5a));
  CHECK_FALSE(tls::is_grease(0x0304));
  CHECK_FALSE(tls::is_grease(0x5a5b));
}

TEST_CASE("client_hello: a hello re-cut into records of every size from 1 to 300 bytes parses the same") {
  for (const char* file : {"openssl-tls13.bin", "curl.bin", "synthetic-pq.bin", "synthetic-max.bin"}) {
    CAPTURE(file);
    Bytes msg = message_of(load(file));
    auto want = parse(frame(msg, 16384)).hello;
    std::vector<std::size_t> sizes(300);
    for (std::size_t i = 0; i < sizes.size(); i++) sizes[i] = i + 1;
    sizes.push_back(16384);
    for (std::size_t size : sizes) {
      Bytes raw = frame(msg, size);
      auto r = parse(raw);
      REQUIRE_MESSAGE(r.status == ParseStatus::parsed, "records of ", size, ": ", r.reason);
      CHECK(r.consumed == raw.size());
      CHECK(r.hello.records == (msg.size() + size - 1) / size);
      r.hello.records = want.records;
      CHECK(r.hello == want);
    }
    const std::size_t odd[] = {1, 3, 200, 2, 4, 77, 1, 1, 5};  // boundaries inside every header and field
    auto r = parse(frame_sizes(msg, odd));
    CHECK(r.status == ParseStatus::parsed);
    CHECK(r.hello.server_name == want.server_name);
  }
}

TEST_CASE("client_hello: every prefix of a hello says need_more, with a need that never passes its end") {
  for (const auto& c : kCaptured) {
    CAPTURE(c.file);
    Bytes raw = load(c.file);
    const std::size_t end = parse(raw).consumed;
    for (std::size_t k = 0; k < end; k++) {
      auto r = tls::parse_client_hello(std::span(raw).first(k));
      CAPTURE(k);
      REQUIRE(r.status == ParseStatus::need_more);
      REQUIRE(r.need > k);
      REQUIRE(r.need <= end);
    }
  }
}

TEST_CASE("client_hello: what follows the hello (ChangeCipherSpec, early data, garbage) is not looked at") {
  Bytes raw = load("openssl-tls13.bin");
  const auto want = parse(raw);
  for (std::string_view after :
       {std::string_view("\x14\x03\x03\x00\x01\x01", 6), std::string_view("\x17\x03\x03\x00\x05hello"),
        std::string_view("\xff\x00garbage", 9)}) {
    Bytes b = raw;
    put(b, after);
    auto r = parse(b);
    CHECK(r.status == ParseStatus::parsed);
    CHECK(r.consumed == raw.size());
    CHECK(r.hello == want.hello);
  }
  // Bytes after the hello inside its own last record are ignored too.
  Bytes msg = message_of(raw);
  put(msg, "\x0f\x00\x00\x00");
  auto r = parse(frame(msg, 16384));
  CHECK(r.status == ParseStatus::parsed);
  CHECK(r.hello.server_name == "example.com");
}

TEST_CASE("client_hello: a hello without SNI, or without any extension, parses with an empty server_name") {
  auto r = parse(HelloBuilder{}.alpn({"h2"}).records());
  CHECK(r.status == ParseStatus::parsed);
  CHECK(r.hello.server_name.empty());
  CHECK(r.hello.alpn == std::vector<std::string>{"h2"});
  HelloBuilder bare;
  bare.no_extensions = true;
  r = parse(bare.records());
  CHECK(r.status == ParseStatus::parsed);
  CHECK(r.hello.extensions.empty());
  CHECK(r.hello.max_version() == 0x0303);
}

TEST_CASE("client_hello: SSLv2-compatible hellos, HTTP and other records are not TLS") {
  expect_verdict(load("synthetic-sslv2.bin"), ParseStatus::not_tls, "SSLv2-compatible ClientHello");
  expect_verdict(to_bytes("\x80"), ParseStatus::not_tls, "SSLv2-compatible ClientHello");
  expect_verdict(load("synthetic-http.bin"), ParseStatus::not_tls, "first byte 0x47 ('G'");
  expect_verdict(to_bytes("G"), ParseStatus::not_tls, "not a TLS handshake record");
  expect_verdict(to_bytes("SSH-2.0-OpenSSH_9.2\r\n"), ParseStatus::not_tls, "plain text");
  expect_verdict(to_bytes(std::string_view("\x15\x03\x01\x00\x02\x02\x28", 7)), ParseStatus::not_tls,
                 "type 21");
  expect_verdict(to_bytes("\x16GET / HTTP/1.1"), ParseStatus::not_tls, "record version 0x4745");
  expect_verdict(to_bytes(std::string_view("\x16\x03\x05\x00\x01\x01", 6)), ParseStatus::not_tls, "0x0305");
  CHECK(parse(to_bytes("\x16\x03")).status == ParseStatus::need_more);  // not enough to tell
}

TEST_CASE("client_hello: a handshake record that holds no ClientHello is malformed") {
  Bytes server_hello = HelloBuilder{}.message();
  server_hello[0] = std::byte{2};
  expect_verdict(frame(server_hello, 16384), ParseStatus::malformed, "handshake message type 2");
  Bytes msg = HelloBuilder{}.sni("a.test").message();
  expect_verdict(frame(msg, 3), ParseStatus::parsed, "");
  Bytes two = frame(msg, 3);  // a record of another type inside the hello
  two[8] = std::byte{23};
  expect_verdict(two, ParseStatus::malformed, "record 2 (at offset 8) has type 23");
  Bytes bad_version = frame(msg, 3);
  bad_version[10] = std::byte{9};
  expect_verdict(bad_version, ParseStatus::malformed, "has version 0x0309");
  expect_verdict(to_bytes(std::string_view("\x16\x03\x01\x00\x00", 5)), ParseStatus::malformed, "is empty");
  expect_verdict(to_bytes(std::string_view("\x16\x03\x01\x40\x01", 5)), ParseStatus::malformed, "over 2^14");
}

TEST_CASE("client_hello: bad lengths and truncated fields are malformed, with the offset in the reason") {
  auto with = [](auto change) {
    HelloBuilder h;
    h.sni("example.com");
    change(h);
    return h.records();
  };
  expect_verdict(with([](HelloBuilder& h) { h.version = 0x0202; }), ParseStatus::malformed,
                 "legacy_version 0x0202");
  expect_verdict(with([](HelloBuilder& h) { h.session_id.resize(33); }), ParseStatus::malformed,
                 "legacy_session_id of 33 bytes");
  expect_verdict(with([](HelloBuilder& h) { h.suites.clear(); }), ParseStatus::malformed,
                 "cipher_suites of 0 bytes");
  expect_verdict(with([](HelloBuilder& h) { h.compression.clear(); }), ParseStatus::malformed,
                 "no compression");
  expect_verdict(with([](HelloBuilder& h) { h.ext(0, HelloBuilder::sni_body("b.test")); }),
                 ParseStatus::malformed, "extension 0 appears twice at byte 103");
  expect_verdict(with([](HelloBuilder& h) {
                   h.exts.insert(h.exts.begin(), {41, Bytes(3)});
                 }),
                 ParseStatus::malformed, "pre_shared_key is not the last");
  CHECK(parse(with([](HelloBuilder& h) { h.ext(41, Bytes(3)); })).status == ParseStatus::parsed);
  auto many = [](HelloBuilder& h) {  // past 32 extensions the check takes another path
    for (std::size_t t = 0xff00; t < 0xff28; t++) h.ext(t, {});
  };
  CHECK(parse(with(many)).status == ParseStatus::parsed);
  expect_verdict(with([&](HelloBuilder& h) { many(h), h.ext(0xff05, {}); }), ParseStatus::malformed,
                 "extension 65285 appears twice");
  expect_verdict(with([&](HelloBuilder& h) { many(h), h.ext(0, {}); }), ParseStatus::malformed,
                 "extension 0 appears twice");

  // Lengths that point past their end, byte by byte through the message.
  Bytes msg = HelloBuilder{}.sni("example.com").alpn({"h2"}).versions({0x0304}).message();
  Bytes odd_suites = msg;
  odd_suites[4 + 2 + 32 + 1 + 32 + 1] = std::byte{5};  // cipher_suites length 5
  expect_verdict(frame(odd_suites, 16384), ParseStatus::malformed, "cipher_suites");
  Bytes trailing = msg;
  put(trailing, "xyz");  // three bytes after the extensions
  set_length(trailing);
  expect_verdict(frame(trailing, 16384), ParseStatus::malformed, "3 bytes after the extensions");
  HelloBuilder bare;
  bare.no_extensions = true;
  const std::size_t no_extensions = bare.message().size();  // the one cut that is a valid hello
  for (std::size_t cut = 4; cut < msg.size(); cut++) {      // a message cut short, its header fixed
    Bytes m(msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(cut));
    set_length(m);
    auto r = parse(frame(m, 16384));
    CAPTURE(cut);
    CHECK(r.status == (cut == no_extensions ? ParseStatus::parsed : ParseStatus::malformed));
    if (cut != no_extensions) CHECK(r.reason.find(" at byte ") != std::string::npos);
  }
}

TEST_CASE("client_hello: server names are held to OpenSSL's and Go's rules, and lower-cased") {
  auto sni = [](std::string_view name) { return HelloBuilder{}.sni(name).records(); };
  CHECK(parse(sni("WWW.Example.COM")).hello.server_name == "www.example.com");
  CHECK(parse(sni("_acme.internal-host.example")).hello.server_name == "_acme.internal-host.example");
  CHECK(parse(sni(std::string(63, 'a') + ".b")).status == ParseStatus::parsed);
  CHECK(parse(sni(std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                  std::string(63, 'd')))
            .status == ParseStatus::parsed);  // 255 bytes
  expect_verdict(sni("example.com."), ParseStatus::malformed, "ends with a dot");
  expect_verdict(sni(""), ParseStatus::malformed, "server_name of 0 bytes");
  expect_verdict(sni(std::string(64, 'a') + ".b"), ParseStatus::malformed, "label over 63");
  expect_verdict(sni(".example.com"), ParseStatus::malformed, "empty label");
  expect_verdict(sni("a..b"), ParseStatus::malformed, "empty label");
  expect_verdict(sni("exa mple.com"), ParseStatus::malformed, "byte 0x20");
  expect_verdict(sni(std::string_view("evil.com\0.good.com", 18)), ParseStatus::malformed, "byte 0x00");
  expect_verdict(sni("host:443"), ParseStatus::malformed, "byte 0x3a");
  expect_verdict(sni("b\xc3\xbcro.example"), ParseStatus::malformed, "byte 0xc3");
  std::string long_name(300, 'a');
  for (std::size_t i = 50; i < 300; i += 50) long_name[i] = '.';
  expect_verdict(sni(long_name), ParseStatus::malformed, "server_name of 300 bytes");
  expect_verdict(HelloBuilder{}.ext(0, HelloBuilder::sni_body("a.test", 1)).records(), ParseStatus::malformed,
                 "server_name type 1, not host_name");
  Bytes two = HelloBuilder::sni_body("a.test");  // two host_name entries in one list
  put8(two, 0), put16(two, 6), put(two, "b.test");
  two[1] = std::byte(u8(two, 1) + 9);
  expect_verdict(HelloBuilder{}.ext(0, two).records(), ParseStatus::malformed,
                 "more than one server_name entry");
  Bytes extra = HelloBuilder::sni_body("a.test");
  put8(extra, 0);  // a byte after the list
  expect_verdict(HelloBuilder{}.ext(0, extra).records(), ParseStatus::malformed, "length is wrong");
}

TEST_CASE("client_hello: ALPN and supported_versions are checked, and GREASE versions dropped") {
  auto r = parse(HelloBuilder{}
                     .alpn({"h2", "\x01\x02 binary", "http/1.1"})
                     .versions({0x2a2a, 0x0304, 0x0303})
                     .records());
  CHECK(r.status == ParseStatus::parsed);
  CHECK(r.hello.alpn == std::vector<std::string>{"h2", "\x01\x02 binary", "http/1.1"});
  CHECK(r.hello.supported_versions == std::vector<std::uint16_t>{0x0304, 0x0303});
  CHECK(r.hello.max_version() == 0x0304);
  expect_verdict(HelloBuilder{}.alpn({"h2", ""}).records(), ParseStatus::malformed,
                 "empty ALPN protocol name");
  expect_verdict(HelloBuilder{}.ext(16, Bytes(2)).records(), ParseStatus::malformed, "empty ALPN list");
  expect_verdict(
      HelloBuilder{}.ext(43, Bytes{std::byte{3}, std::byte{3}, std::byte{4}, std::byte{3}}).records(),
      ParseStatus::malformed, "supported_versions of 3 bytes");
  expect_verdict(HelloBuilder{}.ext(43, Bytes(1)).records(), ParseStatus::malformed,
                 "supported_versions of 0");
}

TEST_CASE("client_hello: a hello over 16 KiB is too_large from its header alone, 16 KiB exactly parses") {
  CHECK(parse(load("synthetic-max.bin")).status == ParseStatus::parsed);
  expect_verdict(load("synthetic-too-large.bin"), ParseStatus::too_large,
                 "16385 bytes, over the 16384-byte cap");
  Bytes header =
      to_bytes(std::string_view("\x16\x03\x01\x00\x04\x01\x00\x40\x01", 9));  // nothing more needed
  expect_verdict(header, ParseStatus::too_large, "16385");
  expect_verdict(to_bytes(std::string_view("\x16\x03\x01\x00\x04\x01\xff\xff\xff", 9)),
                 ParseStatus::too_large, "16777215");
}

TEST_CASE("client_hello: random mutations of real hellos keep every promise of the parser") {
  // The fuzz target's checks (tests/fuzz/client_hello_fuzz.cpp) over byte
  // flips, cuts and duplicated runs of captured hellos: a short fuzz run in
  // every build. A broken promise aborts the test.
  std::mt19937 rng(6);
  std::vector<Bytes> seeds;
  for (const char* f :
       {"openssl-tls13.bin", "python-tls12.bin", "synthetic-fragmented.bin", "synthetic-grease.bin"})
    seeds.push_back(load(f));
  const int runs = scaled(3000);
  for (int i = 0; i < runs; i++) {
    Bytes b = seeds[rng() % seeds.size()];
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; flips--) {
      std::size_t at = rng() % b.size();
      switch (rng() % 3) {
        case 0: b[at] = std::byte(rng()); break;
        case 1: b.resize(std::max<std::size_t>(at, 1)); break;
        default: {  // a run of the first bytes again: a second header, a repeated field
          Bytes run(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(at, 9)));
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), run.begin(), run.end());
        }
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
  }
  CHECK(runs > 0);
}

namespace {

std::string str(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// drip writes b to c one byte at a time, yielding after each and sleeping
// now and then, so that the reader sees the hello in many small reads;
// then `after`, then it half-closes c. The result says the writes went.
gort::Chan<bool> drip(net::Conn& c, const Bytes& b, std::string_view after) {
  gort::Chan<bool> done(1);
  gort::go([&c, &b, after, done]() mutable {
    bool ok = true;
    for (std::size_t i = 0; ok && i < b.size(); i++) {
      ok = !c.write(&b[i], 1).err;
      gort::yield();
      if (i % 64 == 0) gort::sleep_for(200us);
    }
    ok = ok && !c.write(after).err && !c.close_write();
    done.send(ok);
  });
  return done;
}

}  // namespace

TEST_CASE(
    "client_hello: peek of a hello written one byte at a time gets its name, and the conn replays every "
    "byte") {
  const Bytes hello = load("synthetic-pq.bin");  // 1.5 KB: over one TCP segment's worth of small writes
  for_each_procs([&](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    auto wrote = drip(p.client, hello, "and then the rest of the stream");
    auto r = tls::peek_client_hello(std::move(p.server), Clock::now() + 20s);
    CHECK_MESSAGE(!r.err, r.err.message(), " ", r.reason);
    CHECK(r.hello.server_name == "example.com");
    CHECK(r.hello.alpn == kH2);
    const std::string held = str(r.conn.buffered());  // the hello, and maybe some of what came after
    CHECK(held.substr(0, hello.size()) == str(hello));
    CHECK(held.size() < hello.size() + tls::kReadAhead);
    auto q = tcp_pair();  // replay: copy the PrefixConn to another conn and read it there
    REQUIRE(q.ok);
    auto copied = gort::io::copy(q.client, r.conn);
    CHECK_FALSE(copied.err);
    CHECK_FALSE(q.client.close_write());
    std::string got;
    CHECK_FALSE(read_all(q.server, &got));
    CHECK(got == str(hello) + "and then the rest of the stream");
    CHECK(wrote.recv().value);
  });
}

TEST_CASE("client_hello: peek reads nothing past a whole hello, and at most kReadAhead - 1 bytes past it") {
  for_each_procs([](int) {
    for (const char* file : {"openssl-tls13.bin", "synthetic-5500.bin", "synthetic-fragmented.bin"}) {
      const Bytes hello = load(file);
      auto p = tcp_pair();
      REQUIRE(p.ok);
      CHECK_FALSE(p.client.write(hello).err);
      auto r = tls::peek_client_hello(std::move(p.server), Clock::now() + 10s);
      CHECK_FALSE(r.err);
      CHECK_MESSAGE(r.conn.buffered().size() == hello.size(), file);  // and no read waited for more
      Bytes more = hello;
      put(more, pattern(3000));
      auto p2 = tcp_pair();
      REQUIRE(p2.ok);
      CHECK_FALSE(p2.client.write(more).err);  // the hello and 3,000 bytes at once
      auto r2 = tls::peek_client_hello(std::move(p2.server), Clock::now() + 10s);
      CHECK_FALSE(r2.err);
      CHECK(r2.conn.buffered().size() >= hello.size());
      CHECK(r2.conn.buffered().size() < hello.size() + tls::kReadAhead);
      CHECK(str(r2.conn.buffered()) == str(more).substr(0, r2.conn.buffered().size()));
    }
  });
}

TEST_CASE(
    "client_hello: peek of a silent client times out at the deadline and returns the conn, deadline "
    "cleared") {
  for_each_procs([](int) {
    for (std::string_view sent : {std::string_view(), std::string_view("\x16\x03\x01", 3)}) {
      auto p = tcp_pair();
      REQUIRE(p.ok);
      CHECK_FALSE(p.client.write(sent).err);
      const auto start = Clock::now();
      auto r = tls::peek_client_hello(std::move(p.server), start + 100ms);
      const auto took = Clock::now() - start;
      CHECK(r.err == gort::io_errc::timeout);
      CHECK(took >= 100ms);
      CHECK_MESSAGE(took < 3s, ms(took), " ms");
      CHECK(str(r.conn.buffered()) == sent);
      CHECK(r.conn.fd() >= 0);
      // The deadline is gone: a late byte is read, however long it takes.
      gort::go([&c = p.client] {
        gort::sleep_for(150ms);
        c.write("late");
      });
      std::string got;
      CHECK_FALSE(read_n(r.conn.conn(), 4, &got));
      CHECK(got == "late");
    }
  });
}

TEST_CASE("client_hello: peek of a client that closes returns eof, or unexpected_eof inside the hello") {
  for_each_procs([](int) {
    const Bytes hello = load("curl.bin");
    for (std::size_t cut :
         {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{100}, hello.size() - 1}) {
      auto p = tcp_pair();
      REQUIRE(p.ok);
      CHECK_FALSE(p.client.write(std::span(hello).first(cut)).err);
      CHECK_FALSE(p.client.close_write());
      auto r = tls::peek_client_hello(std::move(p.server), Clock::now() + 10s);
      CHECK_MESSAGE(r.err == (cut == 0 ? gort::io_errc::eof : gort::io_errc::unexpected_eof), "cut ", cut);
      CHECK(r.conn.buffered().size() == cut);
    }
  });
}

TEST_CASE(
    "client_hello: peek of HTTP, SSLv2, a broken and an oversized hello returns the tls_errc, reason and "
    "bytes") {
  struct Case {
    Bytes sent;
    gort::tls_errc want;
    std::string_view why;
  };
  Bytes no_ch = HelloBuilder{}.message();
  no_ch[0] = std::byte{2};
  const std::vector<Case> cases = {
      {load("synthetic-http.bin"), gort::tls_errc::not_tls, "plain text"},
      {load("synthetic-sslv2.bin"), gort::tls_errc::not_tls, "SSLv2-compatible ClientHello"},
      {frame(no_ch, 16384), gort::tls_errc::malformed_hello, "handshake message type 2"},
      {HelloBuilder{}.sni("example.com.").records(), gort::tls_errc::malformed_hello, "ends with a dot"},
      {load("synthetic-too-large.bin"), gort::tls_errc::hello_too_large, "over the 16384-byte cap"},
  };
  for_each_procs([&](int) {
    for (const auto& c : cases) {
      auto p = tcp_pair();
      REQUIRE(p.ok);
      const std::string sent = str(c.sent);  // pending_write holds a view of it
      auto wrote = pending_write(p.client, sent);
      auto r = tls::peek_client_hello(std::move(p.server), Clock::now() + 10s);
      CHECK_MESSAGE(r.err == c.want, r.err.message());
      CHECK_MESSAGE(r.reason.find(c.why) != std::string::npos, r.reason);
      CHECK(!r.conn.buffered().empty());
      CHECK(r.conn.buffered().size() <= tls::kReadAhead);
      CHECK(str(r.conn.buffered()) == sent.substr(0, r.conn.buffered().size()));
      r.conn.close();  // the writer of the oversized hello may be blocked: the close ends it
      wrote.recv();
    }
  });
}

TEST_CASE("client_hello: live openssl, curl and python clients are peeked with the names they send") {
  struct Client {
    std::vector<std::string> argv;  // "PORT" is replaced by the listener's port
    std::string sni;
    std::vector<std::string> alpn;
  };
  struct Got {
    std::string sni, error;
    std::vector<std::string> alpn;
  };
  const std::string py =
      "import socket, ssl, sys\n"
      "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
      "ctx.check_hostname = False\n"
      "ctx.verify_mode = ssl.CERT_NONE\n"
      "ctx.set_alpn_protocols(['h2'])\n"
      "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)\n"
      "ctx.wrap_socket(s, server_hostname='py.example.net')\n";
  std::vector<Client> clients = {
      {{"openssl", "s_client", "-connect", "127.0.0.1:PORT", "-servername", "example.com", "-alpn",
        "h2,http/1.1"},
       "example.com",
       kH2},
      {{"openssl", "s_client", "-tls1_2", "-connect", "127.0.0.1:PORT", "-servername", "tls12.example.com"},
       "tls12.example.com",
       {}},
      {{"curl", "-sk", "--max-time", "10", "--resolve", "a.example.test:PORT:127.0.0.1",
        "https://a.example.test:PORT/"},
       "a.example.test",
       kH2},
      {{"python3", "-c", py, "PORT"}, "py.example.net", {"h2"}},
  };
  std::vector<Got> got(clients.size());
  int rc = gort::run(gort::Config{.procs = 2}, [&] {
    auto ln = listen_checked("tcp", "127.0.0.1:0");
    const std::string port = std::to_string(ln.addr().port());
    for (std::size_t i = 0; i < clients.size(); i++) {
      auto& c = clients[i];
      auto& g = got[i];
      for (auto& a : c.argv)
        if (auto at = a.find("PORT"); at != std::string::npos) a.replace(at, 4, port);
      auto ran = gort::Chan<ChildResult>(1);  // the client, run on the blocking pool
      gort::go([&] { ran.send(gort::blocking([&] { return run_command(c.argv, "", 30s); })); });
      ln.set_deadline(Clock::now() + 30s);
      auto [conn, err] = ln.accept();
      if (err) {
        g.error = "accept: " + err.message();
      } else {
        auto r = tls::peek_client_hello(std::move(conn), Clock::now() + 30s);
        if (r.err) g.error = "peek: " + r.err.message() + " " + r.reason;
        g.sni = r.hello.server_name;
        g.alpn = r.hello.alpn;
        r.conn.close();  // nobody answers: the client gives up
      }
      auto child = ran.recv().value;
      if (child.status < 0) g.error = child.err;  // it could not start
    }
  });
  CHECK(rc == 0);
  for (std::size_t i = 0; i < clients.size(); i++) {
    const auto& c = clients[i];
    const auto& g = got[i];
    CAPTURE(c.argv[0]);
    CHECK(g.error == "");
    CHECK(g.sni == c.sni);
    CHECK(g.alpn == c.alpn);
  }
}

TEST_CASE("client_hello: peek over a PrefixConn takes its prefix as the first bytes of the hello") {
  const Bytes hello = load("curl.bin");
  for_each_procs([&](int) {
    auto p = tcp_pair();
    REQUIRE(p.ok);
    // The first 7 bytes were read already (say, with a PROXY header); the rest comes from the conn.
    CHECK_FALSE(p.client.write(std::span(hello).subspan(7)).err);
    net::PrefixConn pc(std::move(p.server), std::span(hello).first(7));
    auto r = tls::peek_client_hello(std::move(pc), Clock::now() + 10s);
    CHECK_MESSAGE(!r.err, r.reason);
    CHECK(r.hello.server_name == "a.example.test");
    CHECK(str(r.conn.buffered()) == str(hello));  // every byte, the prefix's first
  });
}
