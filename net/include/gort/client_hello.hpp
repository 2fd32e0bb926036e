// gort/client_hello.hpp: the TLS ClientHello, read without OpenSSL
// (library gort::net): parse_client_hello answers "is there a whole hello
// yet, and what does it ask for?" over the bytes a conn has sent so far, and
// peek_client_hello reads a conn until it knows, then hands the conn back
// with every byte it read put in front (a PrefixConn). What an SNI proxy
// needs to pick a backend before any TLS is spoken: the talk's
// peekClientHello, without the throw-away crypto/tls server behind it.
//
//   auto [hello, conn, err, reason] = gort::tls::peek_client_hello(std::move(c), Clock::now() + 3s);
//   if (err) { log(err.message(), reason); return; }         // conn still holds what came
//   auto [up, derr] = gort::net::dial("tcp", backend_for(hello.server_name));
//   gort::io::copy(up, conn);                                // the hello first, then splice
//
// What it accepts (each rule names its source; everything else is left to
// the TLS server behind the router, which sees the same bytes):
//  - Records: the first byte must be 22 (handshake) and the record version
//    0x0300..0x0304 (real clients send 0x0301 on the first record), else
//    the stream is not TLS; Go's crypto/tls rejects the same way ("first
//    record does not look like a TLS handshake"). A record is 1..2^14 bytes
//    (RFC 8446 5.1). The hello may span any number of records of type 22
//    (record-layer fragmentation, as nginx reassembles and DPI-evading
//    clients send); another record type before its end is malformed. Parsing
//    stops at the end of the record that holds the hello's last byte: a
//    ChangeCipherSpec or early data after it is not looked at, and bytes
//    after the hello inside that record are ignored.
//  - An SSLv2-compatible hello (first byte with the high bit set) is not TLS:
//    no current client sends one, and no current server accepts one.
//  - Size: a hello body (the handshake length) over kMaxClientHello bytes is
//    too_large, decided from its 4-byte header alone. 16 KiB is BoringSSL's
//    and Envoy's cap; Chrome's post-quantum hello is ~1.8 KB, the largest
//    seen in the field ~5.5 KB.
//  - Body (RFC 8446 4.1.2): legacy_version 0x03xx; a session id of at most 32
//    bytes; a non-empty, even cipher suite list; a non-empty compression
//    list; extensions absent or exactly filling the rest; no extension twice
//    (a second server_name would let a router and the server disagree on the
//    name); pre_shared_key last.
//  - server_name (RFC 6066 3): exactly one entry, of type host_name, as
//    OpenSSL and BoringSSL insist (Go skips other types); the name 1..255
//    bytes of letters, digits, '-', '_' and '.', no empty label, no label
//    over 63, and no trailing dot (Go's rule). It is returned lower-cased.
//    With Encrypted Client Hello (extension 0xfe0d) it is the outer, public
//    name: the client-facing server's, which is what a router sees.
//  - ALPN (RFC 7301): a non-empty list of non-empty names, kept as sent.
//    supported_versions (RFC 8446 4.2.1): 1..127 versions.
//  - GREASE (RFC 8701): supported_versions drops the GREASE values, so that
//    it lists what the client really offers; cipher_suites and extensions
//    keep the wire's order with GREASE in it (what fingerprints such as JA3
//    and JA4 start from); filter them with is_grease.
//
// Invariants: parse_client_hello reads only inside data, never throws on any
// input (std::bad_alloc aside), and is a function of the bytes alone; its
// verdict never changes once given: for any data that says parsed, not_tls,
// malformed or too_large, every longer data with the same start says the
// same. `need` never overshoots: a hello that parses at N bytes has every
// shorter prefix say need_more with need <= N. The fuzz target
// (tests/fuzz/client_hello_fuzz.cpp) checks all of this.
#pragma once

#include <gort/net.hpp>
#include <gort/prefix_conn.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace gort::tls {

// kMaxClientHello: the largest hello body (the handshake message's length
// field) accepted. A hello of that size spans two records, so the bytes
// that hold it are at most kMaxClientHello + 4 + 5 per record.
inline constexpr std::size_t kMaxClientHello = 16 * 1024;

// is_grease: one of RFC 8701's reserved values 0x0a0a, 0x1a1a, ... 0xfafa.
constexpr bool is_grease(std::uint16_t v) noexcept {
  return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

// ClientHello: what a router can decide on.
struct ClientHello {
  std::uint16_t legacy_version = 0;               // 0x0303 from TLS 1.2 and 1.3 clients
  std::string server_name;                        // the SNI host_name, lower-cased; empty if none
  std::vector<std::string> alpn;                  // ALPN protocol names in the client's order, e.g. "h2"
  std::vector<std::uint16_t> supported_versions;  // 0x0304 = TLS 1.3; GREASE removed; empty if no extension
  std::vector<std::uint16_t> cipher_suites;       // as sent, GREASE included
  std::vector<std::uint16_t> extensions;          // extension types in the wire's order, GREASE included
  std::size_t records = 0;                        // TLS records the hello spanned (1 unless fragmented)

  bool has_extension(std::uint16_t type) const noexcept;
  // max_version: the highest version offered: from supported_versions if
  // there is one (TLS 1.3 clients), else legacy_version.
  std::uint16_t max_version() const noexcept;

  friend bool operator==(const ClientHello&, const ClientHello&) = default;
};

enum class ParseStatus {
  need_more,  // so far a valid start: read until data holds `need` bytes and ask again
  parsed,     // a whole, valid hello; `hello` and `consumed` say what
  not_tls,    // the stream does not start with a TLS handshake record (plain text, SSLv2)
  malformed,  // a TLS handshake record, but not a valid ClientHello
  too_large,  // a hello body over kMaxClientHello
};

struct ParseResult {
  ParseStatus status = ParseStatus::need_more;
  ClientHello hello;         // parsed only
  std::size_t consumed = 0;  // parsed: the bytes of the records holding the hello (<= data.size())
  std::size_t need = 0;      // need_more: the hello cannot be whole before data holds this many bytes
                             // (> data.size()); a refusal may come sooner, at any call
  std::string reason;        // not_tls, malformed, too_large: what, and at which offset
};

// parse_client_hello parses all the bytes read so far from the start of a
// connection (call it again with more; it keeps no state).
ParseResult parse_client_hello(std::span<const std::byte> data);

// PeekResult: the hello (if err is empty), and the conn with every byte read
// from it in front, whatever happened.
struct PeekResult {
  ClientHello hello;
  net::PrefixConn conn;
  std::error_code err;
  std::string reason;  // the parser's, for not_tls, malformed_hello and hello_too_large
};

// peek_client_hello reads conn until parse_client_hello gives a verdict,
// under the read deadline `deadline` (Deadline{}: none, so a silent client
// holds the fiber until it closes: pass one), which it clears before
// returning. Errors: io_errc::timeout, io_errc::eof (closed before any
// byte), io_errc::unexpected_eof (closed inside the hello), tls_errc::not_tls,
// tls_errc::malformed_hello, tls_errc::hello_too_large, or the conn's own
// (io_errc::closed, a system error). Each read asks for what the parser
// still needs or kReadAhead bytes, whichever is more, and none is made once
// the hello is whole: the conn holds the hello's records and at most
// kReadAhead - 1 bytes past them. The parser runs only once the bytes reach
// its `need`, so a hello dripping in, or cut into tiny records, costs a few
// parses, not one per read.
inline constexpr std::size_t kReadAhead = 2048;
PeekResult peek_client_hello(net::Conn conn, net::Deadline deadline);
// The same over a PrefixConn, whose prefix counts as the first bytes read
// (what a PROXY header's reader read past the header).
PeekResult peek_client_hello(net::PrefixConn conn, net::Deadline deadline);

}  // namespace gort::tls
