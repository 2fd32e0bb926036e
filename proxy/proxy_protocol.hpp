// proxy_protocol.hpp: the PROXY protocol, versions 1 and 2 (HAProxy's
// proxy-protocol.txt), which tells a server the real client address when a
// proxy stands between them. gort-proxy speaks it both ways: to an upstream
// (per route, `send-proxy` or `send-proxy-v2` in HAProxy's words) it sends a
// header naming the client; from a trusted front listener (a load balancer
// before it, HAProxy's `accept-proxy`) it reads one and takes the client
// address from it.
//
//   // sending: before the first byte of the client's stream
//   auto err = pp::write_header(upstream, 2, client.remote_addr(), client.local_addr(),
//                               {{pp::tlv::authority, hello.server_name}});
//   // receiving: before anything else reads the conn
//   auto [hdr, conn, err, reason] = pp::read_header(std::move(c), Clock::now() + 3s);
//   if (err) { log(err.message(), reason); return; }
//   net::Addr client = hdr.local ? conn.remote_addr() : hdr.src;
//
// Sending (encode_v1, encode_v2, write_header): an IPv4-mapped IPv6 address
// (what a dual-stack listener reports for an IPv4 client) is sent as the
// IPv4 address it holds; an IPv4 and an IPv6 address together are sent as
// IPv6, the IPv4 one mapped, so that neither is lost. Anything else (a unix
// socket, an empty Addr) has no address to send: v1 sends "PROXY UNKNOWN",
// v2 the LOCAL command with family UNSPEC (byte for byte what HAProxy's
// health checks send), and the receiver uses the connection's own
// endpoints. Zone ids of IPv6 addresses are not sent (the spec has none).
//
// Receiving (parse): strict, as the spec asks, and a refusal says which
// rule failed (ParseResult::reason):
//  - v1: "PROXY", one space, "TCP4", "TCP6" or "UNKNOWN"; for TCP4/TCP6
//    exactly four more fields split by single spaces: the source and the
//    destination address (IPv4 as four decimal numbers 0..255 without
//    leading zeros; IPv6 as inet_pton(3) reads it, no zone), then the ports
//    (0..65535, no leading zeros), and CRLF. For UNKNOWN anything may follow
//    up to CRLF, and it is ignored. The whole line, CRLF included, is at most
//    107 bytes; a lone CR or LF is malformed.
//  - v2: the 12-byte signature, the version nibble 2, the command LOCAL (0)
//    or PROXY (1), the family and transport byte one of the spec's seven
//    (UNSPEC 0x00, TCP4 0x11, UDP4 0x12, TCP6 0x21, UDP6 0x22, UNIX stream
//    0x31 and datagram 0x32), a length that holds the family's addresses
//    (12, 36 or 216 bytes), then TLVs that fill the rest exactly, none
//    overrunning it. A CRC32C TLV must be 4 bytes, appear once and match
//    (the spec: a receiver that supports it must check it). No cap other
//    than the spec's 16-bit length: a header is at most 16 + 65535 bytes.
//    LOCAL, UNSPEC and the datagram families (which a stream proxy falls
//    back from, as the spec allows) give `local`: no addresses to use.
//    AF_UNIX addresses are returned as unix Addrs (a path, "@name", or
//    unnamed).
//
// Invariants: parse reads only inside data, never throws on any input
// (std::bad_alloc aside), and keeps no state: it is a function of the
// bytes. Its verdict never changes once given: data that says parsed,
// not_proxy or malformed says the same with any bytes appended. `need`
// never overshoots: every proper prefix of a valid header of L bytes says
// need_more with data.size() < need <= L. So read_header, which asks the
// conn for need - n bytes at a time, never reads past the header.
#pragma once

#include <gort/errors.hpp>
#include <gort/net.hpp>
#include <gort/prefix_conn.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace gort::proxy::pp {

// Errors: the category "gort.proxy.pp"; ParseResult::reason and
// ReadResult::reason say which rule and which offset.
enum class pp_errc {
  not_proxy = 1,  // "not a PROXY protocol header": the first bytes match neither signature
  malformed,      // "malformed PROXY protocol header"
  too_large,      // "PROXY protocol header too large": TLVs over the 16-bit length (sending)
};
const std::error_category& pp_category() noexcept;  // name() == "gort.proxy.pp"
inline std::error_code make_error_code(pp_errc e) noexcept { return {static_cast<int>(e), pp_category()}; }

// kMaxV1: a v1 line's most bytes, CRLF included. kMinHeader: the fewest
// bytes of any header ("PROXY UNKNOWN\r\n"); v2's are 16 and up.
inline constexpr std::size_t kMaxV1 = 107;
inline constexpr std::size_t kMinHeader = 15;
inline constexpr std::size_t kMaxV2 = 16 + 65535;

// tlv: the v2 TLV types of the spec (PP2_TYPE_*).
namespace tlv {
inline constexpr std::uint8_t alpn = 0x01;       // the application protocol (ALPN) of the client's conn
inline constexpr std::uint8_t authority = 0x02;  // the host name the client asked for: its SNI
inline constexpr std::uint8_t crc32c = 0x03;     // CRC32C of the header, 4 bytes big-endian
inline constexpr std::uint8_t noop = 0x04;       // padding, ignored
inline constexpr std::uint8_t unique_id = 0x05;  // an opaque connection id, up to 128 bytes
inline constexpr std::uint8_t ssl = 0x20;        // TLS details of the client's conn (sub-TLVs)
inline constexpr std::uint8_t netns = 0x30;      // a network namespace's name
}  // namespace tlv

// Tlv: one v2 type-length-value; value holds the bytes as sent.
struct Tlv {
  std::uint8_t type = 0;
  std::string value;
  friend bool operator==(const Tlv&, const Tlv&) = default;
};

// Header: what a PROXY header says.
struct Header {
  int version = 0;  // 1 or 2
  // local: no client address here (v2 LOCAL, UNSPEC or a datagram family;
  // v1 UNKNOWN): use the conn's own endpoints; src and dst are empty.
  bool local = false;
  net::Addr src;          // the client, as the sender saw it
  net::Addr dst;          // the address the client connected to
  std::vector<Tlv> tlvs;  // v2 only, in the wire's order (NOOP and CRC32C included)

  const Tlv* find(std::uint8_t type) const noexcept;  // the first TLV of that type, or null
};

// encode_v1: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", TCP6, or
// "PROXY UNKNOWN\r\n" when there is no address pair to send (see above).
std::string encode_v1(const net::Addr& src, const net::Addr& dst);

// encode_v2: the PROXY command for TCP over IPv4 or IPv6 (LOCAL + UNSPEC
// when there is no address pair, as above), followed by tlvs in order, and
// with checksum a CRC32C TLV last. Fails with pp_errc::too_large if the
// addresses and TLVs pass the 16-bit length.
Result<std::vector<std::byte>> encode_v2(const net::Addr& src, const net::Addr& dst,
                                         std::span<const Tlv> tlvs = {}, bool checksum = false);

enum class ParseStatus {
  need_more,  // a valid start so far: call again once data holds `need` bytes
  parsed,     // a whole, valid header: `header` and `consumed`
  not_proxy,  // the data starts with neither signature ("PROXY" nor v2's)
  malformed,  // a PROXY header, but not a valid one
};

struct ParseResult {
  ParseStatus status = ParseStatus::need_more;
  Header header;             // parsed only
  std::size_t consumed = 0;  // parsed: the header's bytes; what follows belongs to the stream
  std::size_t need = 0;      // need_more: the header cannot end before this many bytes (> data.size())
  std::string reason;        // not_proxy, malformed: which rule failed, at which offset
};

// parse parses the bytes read so far from the start of a conn (call it
// again with more; it keeps no state).
ParseResult parse(std::span<const std::byte> data);
inline ParseResult parse(std::string_view data) { return parse(std::as_bytes(std::span(data))); }

// ReadResult: the header (if err is empty), and the conn.
struct ReadResult {
  Header header;
  // conn: read_header never reads past the header, so on success nothing is
  // buffered and conn.conn() may go to anything that takes a net::Conn (a
  // ClientHello peek); on a failure it replays every byte read (to log them,
  // or to serve the conn as is where a header is optional).
  net::PrefixConn conn;
  std::error_code err;
  std::string reason;  // the parser's, for not_proxy and malformed
};

// read_header reads a PROXY header from conn under the read deadline
// `deadline` (Deadline{}: none, so a silent peer holds the fiber until it
// closes: pass one), which it clears before returning. Each read asks for
// the bytes the parser says the header still needs at least: a few reads
// per header (3 for v2, about 6 for a v1 line), none past its end. Errors:
// io_errc::timeout, io_errc::eof (closed before any byte),
// io_errc::unexpected_eof (closed inside the header), pp_errc::not_proxy,
// pp_errc::malformed, or the conn's own (io_errc::closed, a system error).
ReadResult read_header(net::Conn conn, net::Deadline deadline);

// write_header writes a version 1 or 2 header for src and dst to upstream
// (tlvs only with 2; a CRC32C TLV is not added). Errors: the write's,
// pp_errc::too_large, std::errc::invalid_argument for another version.
std::error_code write_header(net::Conn& upstream, int version, const net::Addr& src, const net::Addr& dst,
                             std::span<const Tlv> tlvs = {});

}  // namespace gort::proxy::pp

template <>
struct std::is_error_code_enum<gort::proxy::pp::pp_errc> : std::true_type {};
