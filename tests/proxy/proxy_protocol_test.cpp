// Tests of proxy/proxy_protocol.cpp: the PROXY protocol's bytes against the
// spec (hand-written vectors, and one HAProxy 2.6 sent), round trips, the
// parser's rules and invariants (every truncation says need_more with need
// within the header; a verdict never changes as bytes are appended),
// read_header over loopback sockets, and real HAProxy both ways: its
// accept-proxy takes our headers and its send-proxy(-v2) headers parse.
#include "gort_net_test.hpp"

#include "proxy_protocol.hpp"

#include <gort/blocking.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

extern char** environ;

using namespace gort_test;
namespace net = gort::net;
namespace pp = gort::proxy::pp;
using pp::ParseStatus;

namespace {

net::Addr addr(std::string_view network, std::string_view a) { return net::resolve_addr(network, a).value; }
net::Addr tcp(std::string_view a) { return addr("tcp", a); }

std::string str(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
std::string v2(const net::Addr& s, const net::Addr& d, std::vector<pp::Tlv> tlvs = {}, bool crc = false) {
  return str(pp::encode_v2(s, d, tlvs, crc).value);
}
// sig: the v2 signature, then the rest (written out byte by byte in the tests).
std::string sig(std::string_view rest) { return std::string("\r\n\r\n\0\r\nQUIT\n", 12) + std::string(rest); }

std::string status_name(ParseStatus s) {
  switch (s) {
    case ParseStatus::need_more: return "need_more";
    case ParseStatus::parsed: return "parsed";
    case ParseStatus::not_proxy: return "not_proxy";
    case ParseStatus::malformed: return "malformed";
  }
  return "?";
}

// Valid headers of every kind, for the truncation and mutation tests.
std::vector<std::string> valid_headers() {
  return {
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
      "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n",
      "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
      "PROXY TCP6 :: :: 0 0\r\n",
      "PROXY TCP6 2001:db8::1 2001:db8::2 1234 443\r\n",
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
      "65535\r\n",
      "PROXY TCP6 ::ffff:192.0.2.1 ::1 80 8080\r\n",
      "PROXY UNKNOWN\r\n",
      "PROXY UNKNOWN ffff:f::ffff 1.2.3.4 whatever\r\n",
      v2(tcp("192.0.2.1:56324"), tcp("198.51.100.2:443")),
      v2(tcp("[2001:db8::1]:1234"), tcp("[2001:db8::2]:443"), {{pp::tlv::authority, "a.test"}}, true),
      v2({}, {}),
      v2({}, {}, {{pp::tlv::unique_id, std::string(300, 'u')}}),
  };
}

}  // namespace

TEST_CASE(
    "proxy_protocol: v1 headers are byte-exact for IPv4, IPv6, mapped and mixed addresses, and UNKNOWN") {
  CHECK(pp::encode_v1(tcp("192.0.2.1:56324"), tcp("198.51.100.2:443")) ==
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
  CHECK(pp::encode_v1(tcp("[2001:db8::1]:1234"), tcp("[2001:DB8::2]:443")) ==
        "PROXY TCP6 2001:db8::1 2001:db8::2 1234 443\r\n");
  // A dual-stack listener's IPv4 client: sent as IPv4.
  CHECK(pp::encode_v1(tcp("[::ffff:192.0.2.1]:80"), tcp("[::ffff:10.0.0.1]:8080")) ==
        "PROXY TCP4 192.0.2.1 10.0.0.1 80 8080\r\n");
  // One of each family: both as IPv6.
  CHECK(pp::encode_v1(tcp("192.0.2.1:80"), tcp("[2001:db8::2]:443")) ==
        "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 80 443\r\n");
  CHECK(pp::encode_v1(addr("unix", "/run/a.sock"), addr("unix", "/run/b.sock")) == "PROXY UNKNOWN\r\n");
  CHECK(pp::encode_v1({}, tcp("127.0.0.1:1")) == "PROXY UNKNOWN\r\n");
}

TEST_CASE("proxy_protocol: v2 headers are byte-exact as the spec lays them out") {
  // PROXY, TCP over IPv4, 21 bytes: the addresses, the ports, an AUTHORITY TLV.
  CHECK(v2(tcp("192.0.2.1:56324"), tcp("198.51.100.2:443"), {{pp::tlv::authority, "a.test"}}) ==
        sig(std::string("\x21\x11\x00\x15"
                        "\xc0\x00\x02\x01"
                        "\xc6\x33\x64\x02"
                        "\xdc\x04\x01\xbb"
                        "\x02\x00\x06"
                        "a.test",
                        25)));
  CHECK(v2(tcp("[2001:db8::1]:1234"), tcp("[2001:db8::2]:443")) ==
        sig(std::string("\x21\x21\x00\x24"
                        "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
                        "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02"
                        "\x04\xd2\x01\xbb",
                        40)));
  // No address pair: LOCAL, UNSPEC, no addresses (HAProxy's health checks send exactly this).
  CHECK(v2(addr("unix", "/run/a.sock"), addr("unix", "/run/b.sock")) ==
        sig(std::string("\x20\x00\x00\x00", 4)));
  auto big = pp::encode_v2(tcp("1.2.3.4:1"), tcp("1.2.3.4:2"),
                           std::vector<pp::Tlv>{{pp::tlv::noop, std::string(65535 - 12 - 3, 'x')}});
  CHECK(!big.err);
  CHECK(big.value.size() == 16 + 65535);
  auto over = pp::encode_v2(tcp("1.2.3.4:1"), tcp("1.2.3.4:2"),
                            std::vector<pp::Tlv>{{pp::tlv::noop, std::string(65535 - 12 - 2, 'x')}});
  CHECK(over.err == pp::pp_errc::too_large);
  CHECK(over.err.message() == "PROXY protocol header too large");
}

TEST_CASE("proxy_protocol: a header HAProxy 2.6 sent, with its CRC32C, parses to what it said") {
  // send-proxy-v2 proxy-v2-options authority,crc32c,unique-id, relaying
  // 203.0.113.7:4711 -> 198.51.100.1:443 with the authority example.com.
  const std::string h =
      sig(std::string("\x21\x11\x00\x24"
                      "\xcb\x00\x71\x07\xc6\x33\x64\x01\x12\x67\x01\xbb"
                      "\x03\x00\x04\x07\x3a\xdb\xca"
                      "\x02\x00\x0b"
                      "example.com"
                      "\x05\x00\x00",
                      40));
  auto r = pp::parse(h + "hello");
  REQUIRE_MESSAGE(r.status == ParseStatus::parsed, r.reason);
  CHECK(r.consumed == h.size());
  CHECK(r.header.version == 2);
  CHECK_FALSE(r.header.local);
  CHECK(r.header.src.to_string() == "203.0.113.7:4711");
  CHECK(r.header.dst.to_string() == "198.51.100.1:443");
  REQUIRE(r.header.find(pp::tlv::authority));
  CHECK(r.header.find(pp::tlv::authority)->value == "example.com");
  CHECK(r.header.tlvs.size() == 3);
  std::string flipped = h;
  flipped[17] ^= 1;  // one bit of the source address
  CHECK(pp::parse(flipped).status == ParseStatus::malformed);
  CHECK(pp::parse(flipped).reason.find("CRC32C") != std::string::npos);
}

TEST_CASE("proxy_protocol: v1 and v2 headers round-trip through encode and parse") {
  struct Pair {
    std::string src, dst;
  };
  for (auto p : {Pair{"192.0.2.1:56324", "198.51.100.2:443"}, Pair{"[2001:db8::1]:0", "[::1]:65535"}}) {
    net::Addr s = tcp(p.src), d = tcp(p.dst);
    std::vector<pp::Tlv> tlvs = {{pp::tlv::authority, "api.example.com"},
                                 {pp::tlv::alpn, "h2"},
                                 {0xe0, std::string("\0\x01\xff", 3)},
                                 {pp::tlv::noop, ""}};
    for (const std::string& h : {pp::encode_v1(s, d), v2(s, d), v2(s, d, tlvs), v2(s, d, tlvs, true)}) {
      auto r = pp::parse(h);
      CHECK_MESSAGE(r.status == ParseStatus::parsed, r.reason);
      CHECK(r.consumed == h.size());
      CHECK(r.header.version == (h[0] == 'P' ? 1 : 2));
      CHECK_FALSE(r.header.local);
      CHECK(r.header.src.to_string() == p.src);
      CHECK(r.header.dst.to_string() == p.dst);
    }
    auto r = pp::parse(v2(s, d, tlvs, true));
    REQUIRE(r.header.tlvs.size() == 5);
    CHECK(std::vector<pp::Tlv>(r.header.tlvs.begin(), r.header.tlvs.end() - 1) == tlvs);
    CHECK(r.header.tlvs.back().type == pp::tlv::crc32c);
  }
  for (const std::string& h : {pp::encode_v1({}, {}), v2({}, {}, {{pp::tlv::authority, "x.test"}})}) {
    auto r = pp::parse(h);
    CHECK(r.status == ParseStatus::parsed);
    CHECK(r.header.local);
    CHECK(r.header.src.empty());
    CHECK(r.header.dst.empty());
  }
}

TEST_CASE("proxy_protocol: every truncation of a valid header says need_more, never past the header's end") {
  for (const std::string& h : valid_headers()) {
    for (std::size_t k = 0; k < h.size(); k++) {
      auto r = pp::parse(std::string_view(h).substr(0, k));
      if (r.status != ParseStatus::need_more || r.need <= k || r.need > h.size())
        FAIL_CHECK(status_name(r.status), " need ", r.need, " at ", k, " of ", h.size(), ": ", r.reason);
    }
    auto r = pp::parse(h + "GET / HTTP/1.1\r\n\r\n");
    CHECK_MESSAGE(r.status == ParseStatus::parsed, r.reason);
    CHECK(r.consumed == h.size());
  }
}

TEST_CASE("proxy_protocol: malformed v1 lines are refused, each by its rule, and stay refused") {
  const std::string long_unknown = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
  CHECK(long_unknown.size() == 107);
  CHECK(pp::parse(long_unknown).status == ParseStatus::parsed);
  const std::pair<std::string, ParseStatus> cases[] = {
      {"GET / HTTP/1.1\r\n", ParseStatus::not_proxy},
      {std::string("PROX\0", 5), ParseStatus::not_proxy},
      {"PROXY\r\n", ParseStatus::malformed},
      {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", ParseStatus::malformed},
      {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY UNKNOWNX\r\n", ParseStatus::malformed},
      {"PROXY TCP4\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n", ParseStatus::malformed},
      {"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP6 1::2::3 ::1 1 2\r\n", ParseStatus::malformed},
      {"PROXY TCP6 ::1:: ::1 1 2\r\n", ParseStatus::malformed},
      {"PROXY UNKNOWN " + std::string(107 - 15, 'x') + "\r\n", ParseStatus::malformed},  // 108 bytes
      {"PROXY UNKNOWN " + std::string(200, 'x'), ParseStatus::malformed},                // no CRLF in 107
      {"PROXY TCP4 1.2.3.4 5.6.7.8 99999", ParseStatus::malformed},  // known before the CRLF
      {"PROXY TCP6 1111:2222:3333:4444:5555:6666:7777:8888 1111:2222:3333:4444:5555:6666:7777:8888:99999999",
       ParseStatus::malformed},
  };
  for (const auto& c : cases) {
    auto r = pp::parse(c.first);
    CHECK_MESSAGE(r.status == c.second, c.first, ": ", status_name(r.status), " ", r.reason);
    CHECK_MESSAGE(!r.reason.empty(), c.first);
    auto later = pp::parse(c.first + " 0 0\r\n\r\nPROXY UNKNOWN\r\n");
    CHECK_MESSAGE(later.status == c.second, c.first, ": ", later.reason);
  }
}

TEST_CASE(
    "proxy_protocol: malformed v2 headers are refused, LOCAL and datagrams give no address, unix paths do") {
  const std::string addrs4 = std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x00\x50\x01\xbb", 12);
  const std::pair<std::string, ParseStatus> cases[] = {
      {std::string("\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c", 16) + addrs4, ParseStatus::not_proxy},
      {sig(std::string("\x11\x11\x00\x0c", 4)) + addrs4, ParseStatus::malformed},  // version 1
      {sig(std::string("\x22\x11\x00\x0c", 4)) + addrs4, ParseStatus::malformed},  // command 2
      {sig(std::string("\x21\x13\x00\x0c", 4)) + addrs4, ParseStatus::malformed},  // transport 3
      {sig(std::string("\x21\x41\x00\x0c", 4)) + addrs4, ParseStatus::malformed},  // family 4
      {sig(std::string("\x21\x11\x00\x0b", 4)) + addrs4, ParseStatus::malformed},  // 11 bytes for IPv4's 12
      {sig(std::string("\x21\x21\x00\x0c", 4)) + addrs4, ParseStatus::malformed},  // 12 bytes for IPv6's 36
      {sig(std::string("\x21\x11\x00\x0e", 4)) + addrs4 + std::string("\x04\x00", 2),
       ParseStatus::malformed},  // a cut TLV header
      {sig(std::string("\x21\x11\x00\x11", 4)) + addrs4 + std::string("\x04\x00\x03xy", 5),
       ParseStatus::malformed},  // a TLV past the end
      {sig(std::string("\x21\x11\x00\x12", 4)) + addrs4 + std::string("\x03\x00\x03xyz", 6),
       ParseStatus::malformed},  // a CRC32C of 3 bytes
  };
  for (const auto& c : cases) {
    auto r = pp::parse(c.first);
    CHECK_MESSAGE(r.status == c.second, status_name(r.status), " ", r.reason);
    CHECK(!r.reason.empty());
    CHECK(pp::parse(c.first + std::string(70000, '\xff')).status == c.second);
  }
  // LOCAL with addresses: the addresses are ignored.
  auto local = pp::parse(sig(std::string("\x20\x11\x00\x0c", 4)) + addrs4);
  CHECK(local.status == ParseStatus::parsed);
  CHECK(local.header.local);
  CHECK(local.header.src.empty());
  // UDP over IPv4: a stream proxy falls back to the conn's own addresses.
  auto udp = pp::parse(sig(std::string("\x21\x12\x00\x0c", 4)) + addrs4);
  CHECK(udp.status == ParseStatus::parsed);
  CHECK(udp.header.local);
  // UNIX stream: two 108-byte paths; a path, then an abstract name.
  std::string paths(216, '\0');
  paths.replace(0, 11, "/run/a.sock");
  paths.replace(109, 4, "name");
  auto unix = pp::parse(sig(std::string("\x21\x31\x00\xd8", 4)) + paths);
  REQUIRE_MESSAGE(unix.status == ParseStatus::parsed, unix.reason);
  CHECK_FALSE(unix.header.local);
  CHECK(unix.header.src.network() == "unix");
  CHECK(unix.header.src.to_string() == "/run/a.sock");
  CHECK(unix.header.dst.to_string() == "@name");
  // A second CRC32C TLV is refused even where the first matched.
  auto crc = v2(tcp("1.2.3.4:1"), tcp("5.6.7.8:2"), {}, true);
  CHECK(pp::parse(crc).status == ParseStatus::parsed);
  std::string twice = crc + crc.substr(crc.size() - 7);
  twice[15] = static_cast<char>(twice[15] + 7);
  CHECK(pp::parse(twice).status == ParseStatus::malformed);
  CHECK(pp::parse(twice).reason.find("second") != std::string::npos);
}

TEST_CASE("proxy_protocol: random mutations of valid headers never overrun, and verdicts never change") {
  std::mt19937 rng(20240501);
  auto headers = valid_headers();
  int checked = 0;
  for (int i = 0; i < 3000; i++) {
    std::string m = headers[rng() % headers.size()] + "tail";
    for (int k = 1 + static_cast<int>(rng() % 3); k > 0; k--) {
      std::size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0: m[at] = static_cast<char>(rng()); break;
        case 1: m.erase(at, 1); break;
        default: m.insert(at, 1, " 0.:\r\n\x01\x11"[rng() % 9]); break;
      }
    }
    auto whole = pp::parse(m);
    for (std::size_t k = 0; k < m.size(); k++) {
      auto r = pp::parse(std::string_view(m).substr(0, k));
      bool ok = r.status == ParseStatus::need_more
                    ? r.need > k && (whole.status != ParseStatus::parsed || r.need <= whole.consumed)
                    : r.status == whole.status && r.consumed == whole.consumed;
      if (!ok)
        FAIL_CHECK("prefix ", k, " of a mutation: ", status_name(r.status), " then ",
                   status_name(whole.status));
      checked++;
    }
    if (whole.status == ParseStatus::parsed) CHECK(whole.consumed <= m.size());
  }
  CHECK(checked > 0);
}

namespace {

// read_rest reads c until EOF or an error, under a deadline.
std::string read_rest(net::PrefixConn& c) {
  c.set_read_deadline(Clock::now() + 10s);
  std::string out;
  char buf[4096];
  for (;;) {
    auto [n, err] = c.read(buf);
    out.append(buf, n);
    if (err) return out;
  }
}

}  // namespace

TEST_CASE("proxy_protocol: read_header takes a header dripping in byte by byte, and reads nothing past it") {
  int rc = gort::run([] {
    for (const std::string& h :
         {pp::encode_v1(tcp("192.0.2.1:56324"), tcp("198.51.100.2:443")),
          v2(tcp("192.0.2.1:56324"), tcp("198.51.100.2:443"), {{pp::tlv::alpn, "h2"}})}) {
      Pair p = tcp_pair();
      CHECK(p.ok);
      const std::string sent = h + "after the header";
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&] {
        for (char c : sent) {
          p.client.write(&c, 1);
          gort::sleep_for(1ms);
        }
        wg.done();
      });
      auto r = pp::read_header(std::move(p.server), Clock::now() + 10s);
      CHECK_MESSAGE(!r.err, r.err.message(), " ", r.reason);
      CHECK(r.header.src.to_string() == "192.0.2.1:56324");
      CHECK(r.header.dst.to_string() == "198.51.100.2:443");
      CHECK(r.conn.buffered().empty());
      std::string rest;
      std::error_code err = read_n(r.conn.conn(), 16, &rest);
      CHECK(!err);
      CHECK(rest == "after the header");
      wg.wait();
    }
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy_protocol: a payload in the same write as the header stays on the conn, byte for byte") {
  int rc = gort::run([] {
    const std::string payload = pattern(200000);
    for (const std::string& h : {pp::encode_v1(tcp("[2001:db8::1]:1"), tcp("[2001:db8::2]:2")),
                                 v2(tcp("[2001:db8::1]:1"), tcp("[2001:db8::2]:2"), {}, true)}) {
      Pair p = tcp_pair();
      CHECK(p.ok);
      const std::string sent = h + payload;
      auto wrote = pending_write(p.client, sent);
      auto r = pp::read_header(std::move(p.server), Clock::now() + 10s);
      CHECK_MESSAGE(!r.err, r.err.message(), " ", r.reason);
      CHECK(r.header.src.to_string() == "[2001:db8::1]:1");
      CHECK(r.conn.buffered().empty());  // so r.conn.conn() alone has the whole stream after the header
      std::string rest;
      std::error_code err = read_n(r.conn.conn(), payload.size(), &rest);
      CHECK(!err);
      CHECK(rest == payload);
      const std::size_t n = wrote.recv().value.value;  // parks: outside the CHECK
      CHECK(n == sent.size());
    }
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy_protocol: write_header's bytes read back through read_header") {
  int rc = gort::run([] {
    for (int version : {1, 2}) {
      Pair p = tcp_pair();
      CHECK(p.ok);
      std::error_code werr = pp::write_header(p.client, version, tcp("203.0.113.5:999"), tcp("127.0.0.1:443"),
                                              std::vector<pp::Tlv>{{pp::tlv::authority, "b.test"}});
      CHECK(!werr);
      auto r = pp::read_header(std::move(p.server), Clock::now() + 10s);
      CHECK_MESSAGE(!r.err, r.reason);
      CHECK(r.header.version == version);
      CHECK(r.header.src.to_string() == "203.0.113.5:999");
      CHECK(r.header.tlvs.size() == (version == 2 ? 1u : 0u));
    }
    Pair p = tcp_pair();
    CHECK(pp::write_header(p.client, 3, {}, {}) == std::errc::invalid_argument);
  });
  CHECK(rc == 0);
}

TEST_CASE(
    "proxy_protocol: read_header gives up on a silent client at the deadline, and clears the deadline") {
  int rc = gort::run([] {
    for (std::string_view start : {std::string_view(), std::string_view("PROXY TCP4 1.")}) {
      Pair p = tcp_pair();
      CHECK(p.ok);
      p.client.write(start);
      const auto t0 = Clock::now();
      auto r = pp::read_header(std::move(p.server), t0 + 200ms);
      const auto took = Clock::now() - t0;
      CHECK(r.err == gort::io_errc::timeout);
      CHECK(took >= 190ms);
      CHECK(took < 3s);
      CHECK(str(r.conn.buffered()) == start);  // what came is kept
      // The deadline is gone: a read well after it still waits for the data.
      gort::sleep_for(100ms);
      p.client.write("late");
      p.client.close_write();
      const std::string rest = read_rest(r.conn);
      CHECK(rest == std::string(start) + "late");
    }
  });
  CHECK(rc == 0);
}

TEST_CASE("proxy_protocol: read_header reports EOF, a cut header, and a stream that is no PROXY header") {
  int rc = gort::run([] {
    struct Case {
      std::string sent;
      std::error_code want;
    };
    for (const Case& c : {Case{"", gort::io_errc::eof}, Case{"PROXY TCP4 1.2", gort::io_errc::unexpected_eof},
                          Case{"GET / HTTP/1.0\r\n\r\n", pp::pp_errc::not_proxy},
                          Case{"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", pp::pp_errc::malformed}}) {
      Pair p = tcp_pair();
      CHECK(p.ok);
      p.client.write(c.sent);
      p.client.close_write();
      auto r = pp::read_header(std::move(p.server), Clock::now() + 10s);
      CHECK_MESSAGE(r.err == c.want, c.sent, ": ", r.err.message());
      CHECK((r.err.category() == pp::pp_category()) == !r.reason.empty());
      // Whatever was read is replayed, then the rest of the stream.
      const std::string rest = read_rest(r.conn);
      CHECK(rest == c.sent);
    }
  });
  CHECK(rc == 0);
}

namespace {

std::string haproxy_path() {
  for (const char* p : {"/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

// Haproxy: `haproxy -db -f <cfg>` as a child process, in the foreground,
// its log (stderr) in a file; stop() ends it with SIGTERM and reaps it.
class Haproxy {
 public:
  explicit Haproxy(const std::string& cfg) {
    char tmpl[] = "/tmp/gort-pp-haproxy-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    dir_ = tmpl;
    std::ofstream(dir_ + "/haproxy.cfg") << cfg;
    const std::string log = dir_ + "/log", conf = dir_ + "/haproxy.cfg", bin = haproxy_path();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;  // as run_command: no signal blocked (the runtime's threads block some)
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    // Under timeout(1), which passes our SIGTERM on: a test that crashes
    // leaves no HAProxy behind for more than two minutes.
    const char* argv[] = {"timeout", "120", bin.c_str(), "-db", "-f", conf.c_str(), nullptr};
    if (::posix_spawnp(&pid_, "timeout", &fa, &attr, const_cast<char**>(argv), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  Haproxy(const Haproxy&) = delete;
  Haproxy& operator=(const Haproxy&) = delete;
  ~Haproxy() {
    stop();
    for (const char* f : {"/haproxy.cfg", "/log"}) ::unlink((dir_ + f).c_str());
    ::rmdir(dir_.c_str());
  }
  bool started() const { return pid_ > 0; }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    gort::blocking([this] { ::waitpid(pid_, nullptr, 0); });
    pid_ = -1;
  }
  std::string log() const {
    std::ifstream f(dir_ + "/log");
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

// kHaproxyCfg: the HAProxy of the real-peer test; fill() puts in the
// frontends' ports (@P0@..@P2@), the gort backend (@BE@) and the gort
// listener its health checks go to (@HC@).
constexpr const char* kHaproxyCfg = R"(global
  log stderr format raw local0 info
defaults
  mode tcp
  log global
  option tcplog
  timeout connect 5s
  timeout client 30s
  timeout server 30s
# a client straight in: HAProxy's own view of it, as v2 with a CRC32C
listen plain_v2
  bind 127.0.0.1:@P0@
  server s @BE@ send-proxy-v2 proxy-v2-options crc32c
# our header in; HAProxy's v2 out, with the authority it received
listen relay_v2
  bind 127.0.0.1:@P1@ accept-proxy
  server s @BE@ send-proxy-v2 proxy-v2-options authority,crc32c
# our header in; HAProxy's v1 line out
listen relay_v1
  bind 127.0.0.1:@P2@ accept-proxy
  server s @BE@ send-proxy
# health checks that send the v2 LOCAL command
backend checks
  server s @HC@ send-proxy-v2 check check-send-proxy inter 100ms
)";

std::string fill(std::string s, std::initializer_list<std::pair<std::string_view, std::string>> vars) {
  for (const auto& v : vars)
    for (std::size_t at; (at = s.find(v.first)) != std::string::npos;)
      s.replace(at, v.first.size(), v.second);
  return s;
}

// Got: what a backend behind HAProxy read: the header, then the stream to EOF.
struct Got {
  pp::Header header;
  std::string payload;
  std::error_code err;
  std::string reason;
};

// serve_headers: for each conn ln accepts, read_header, the rest of the
// stream to EOF, close, and send what came on out (the first `max` conns;
// later ones are dropped); until ln is closed.
void serve_headers(net::Listener& ln, gort::Chan<Got> out, int max) {
  for (int i = 0;; i++) {
    auto a = ln.accept();
    if (a.err) return;
    auto r = pp::read_header(std::move(a.value), Clock::now() + 10s);
    Got g{std::move(r.header), {}, r.err, std::move(r.reason)};
    if (!g.err) g.payload = read_rest(r.conn);
    r.conn.close();
    if (i < max) out.send(std::move(g));
  }
}

// recv_within: a receive from ch, or false after d. A context's timer, not
// gort::after's: cancel() frees it at once (LeakSanitizer sees no timer left).
template <class T>
bool recv_within(gort::Chan<T>& ch, T* out, std::chrono::milliseconds d) {
  auto [ctx, cancel] = gort::with_timeout(gort::background(), d);
  bool got = false;
  gort::select(gort::on_recv(ch, [&](T v) { *out = std::move(v), got = true; }),
               gort::on_recv(ctx.done(), [] {}));
  cancel();
  return got;
}

}  // namespace

TEST_CASE("proxy_protocol: HAProxy accepts our v1 and v2 headers, and its send-proxy headers parse") {
  REQUIRE_MESSAGE(!haproxy_path().empty(), "haproxy is not installed: tools/setup-deps.sh installs it");
  int rc = gort::run([] {
    auto backend = listen_checked("tcp", "127.0.0.1:0");  // behind every HAProxy proxy
    auto health = listen_checked("tcp", "127.0.0.1:0");   // HAProxy's health checks
    std::string port[3];                                  // HAProxy's frontends: free ports, let go
    {
      net::Listener taken[3];
      for (int i = 0; i < 3; i++) {
        taken[i] = listen_checked("tcp", "127.0.0.1:0");
        port[i] = std::to_string(taken[i].addr().port());
      }
    }
    Haproxy haproxy(fill(kHaproxyCfg, {{"@P0@", port[0]},
                                       {"@P1@", port[1]},
                                       {"@P2@", port[2]},
                                       {"@BE@", backend.addr().to_string()},
                                       {"@HC@", health.addr().to_string()}}));
    CHECK(haproxy.started());
    gort::Chan<Got> got(16), checks(16);
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] { serve_headers(backend, got, 1000), wg.done(); });
    gort::go([&] { serve_headers(health, checks, 1), wg.done(); });

    // HAProxy is up once its first health check comes: the LOCAL command.
    Got g;
    const bool up = recv_within(checks, &g, 10000ms);  // parks: not inside a doctest macro
    CHECK_MESSAGE(up, haproxy.log());
    CHECK_MESSAGE(!g.err, g.err.message(), " ", g.reason);
    CHECK(g.header.version == 2);
    CHECK(g.header.local);

    // send: dial a frontend, write bytes, half-close; what the backend read.
    net::Addr client;
    auto send = [&](const std::string& p, const std::string& bytes) {
      Got out;
      out.reason = "dial failed";
      auto d = net::dial("tcp", "127.0.0.1:" + p);
      if (d.err) return out;
      client = d.value.local_addr();
      d.value.write(bytes);
      d.value.close_write();
      if (!recv_within(got, &out, 10000ms)) out.reason = "nothing reached the backend";
      d.value.close();
      return out;
    };

    g = send(port[0], "ping");
    CHECK_MESSAGE(!g.err, g.err.message(), " ", g.reason, "\n", haproxy.log());
    CHECK(g.header.version == 2);
    CHECK(g.header.src.to_string() == client.to_string());
    CHECK(g.header.dst.to_string() == "127.0.0.1:" + port[0]);
    CHECK(g.header.find(pp::tlv::crc32c) != nullptr);  // HAProxy's checksum, and ours agrees
    CHECK(g.payload == "ping");

    // Our v2, with an authority and a checksum (HAProxy checks it), in; v2 out.
    g = send(port[1], v2(tcp("203.0.113.7:4711"), tcp("198.51.100.1:443"),
                         {{pp::tlv::authority, "example.com"}}, true) +
                          "hello v2");
    CHECK_MESSAGE(!g.err, g.err.message(), " ", g.reason, "\n", haproxy.log());
    CHECK(g.header.src.to_string() == "203.0.113.7:4711");
    CHECK(g.header.dst.to_string() == "198.51.100.1:443");
    CHECK((g.header.find(pp::tlv::authority) ? g.header.find(pp::tlv::authority)->value : "") ==
          "example.com");
    CHECK(g.payload == "hello v2");

    // Our v1 over IPv6 in; v2 out.
    g = send(port[1], pp::encode_v1(tcp("[2001:db8::7]:4711"), tcp("[2001:db8::1]:443")) + "hello v1");
    CHECK_MESSAGE(!g.err, g.err.message(), " ", g.reason, "\n", haproxy.log());
    CHECK(g.header.src.to_string() == "[2001:db8::7]:4711");
    CHECK(g.header.dst.to_string() == "[2001:db8::1]:443");
    CHECK(g.payload == "hello v1");

    // Our v2 in; HAProxy's v1 line out.
    g = send(port[2], v2(tcp("192.0.2.9:1000"), tcp("192.0.2.10:80")) + "to v1");
    CHECK_MESSAGE(!g.err, g.err.message(), " ", g.reason, "\n", haproxy.log());
    CHECK(g.header.version == 1);
    CHECK(g.header.src.to_string() == "192.0.2.9:1000");
    CHECK(g.payload == "to v1");

    // UNKNOWN: HAProxy takes the connection's own addresses.
    g = send(port[2], "PROXY UNKNOWN\r\nunknown");
    CHECK_MESSAGE(!g.err, g.err.message(), " ", g.reason, "\n", haproxy.log());
    CHECK(g.header.src.to_string() == client.to_string());
    CHECK(g.payload == "unknown");

    // A checksum one bit off: HAProxy refuses the conn and forwards nothing,
    // so the next good one is the next to reach the backend.
    std::string bad = v2(tcp("192.0.2.66:1"), tcp("192.0.2.10:80"), {}, true);
    bad.back() = static_cast<char>(bad.back() ^ 1);
    auto d = net::dial("tcp", "127.0.0.1:" + port[2]);
    CHECK(!d.err);
    d.value.write(bad + "refused");
    d.value.set_read_deadline(Clock::now() + 10s);
    char buf[16];
    auto rd = d.value.read(buf);
    CHECK(rd.err != gort::io_errc::timeout);  // closed (EOF or a reset), not left waiting
    d.value.close();
    g = send(port[2], pp::encode_v1(tcp("192.0.2.77:7"), tcp("192.0.2.10:80")) + "after");
    CHECK(g.header.src.to_string() == "192.0.2.77:7");
    CHECK(haproxy.log().find("invalid PROXY protocol header") != std::string::npos);

    haproxy.stop();
    backend.close();
    health.close();
    wg.wait();
  });
  CHECK(rc == 0);
}
