// client_hello.cpp: parse_client_hello (see <gort/client_hello.hpp> for the
// rules it applies and why). Two layers, as in Go's crypto/tls: the record
// layer joins the bodies of handshake records into the handshake message
// (conn.go's readRecord and readHandshake), and a cursor over the message
// reads the hello's fields (handshake_messages.go's clientHelloMsg.unmarshal
// over cryptobyte.String). This file needs nothing of the runtime: the fuzz
// target compiles it alone.
//
// Invariants: every read goes through Cursor or through `data` below a
// checked length, so no input reads out of bounds. Bytes are judged in
// stream order and a verdict is the first thing found wrong (or the end of
// the record that completes the hello), so a verdict found in a prefix is
// the verdict of every longer data. `need` is where the handshake header
// ends while it is incomplete (so that an oversized or non-hello message
// is refused at once), and after that the soonest the message can be whole
// given the records so far: the rest in one record. A hello cut into tiny
// records is so parsed O(log n) times by peek, not once per record (a 16
// KiB hello in 1-byte records: about 60 parses, not 16,000).
#include <gort/client_hello.hpp>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace gort::tls {

namespace {

constexpr std::size_t kRecordHeader = 5;     // type, version (2), length (2)
constexpr std::size_t kMaxRecord = 1 << 14;  // RFC 8446 5.1: a plaintext record's body
constexpr std::size_t kHandshakeHeader = 4;  // type, length (3)
constexpr std::uint8_t kHandshake = 22, kClientHelloType = 1;
constexpr std::uint16_t kExtServerName = 0, kExtAlpn = 16, kExtPreSharedKey = 41, kExtSupportedVersions = 43;

std::string hex(unsigned v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*x", digits, v);
  return buf;
}

ParseResult fail(ParseStatus s, std::string reason) {
  ParseResult r;
  r.status = s;
  r.reason = std::move(reason);
  return r;
}

ParseResult need_more(std::size_t need) {
  ParseResult r;
  r.need = need;
  return r;
}

// Cursor: Go's cryptobyte.String over part of the hello message. Each read
// either takes the bytes it names and returns true, or takes nothing and
// returns false; off() is the message offset of the next byte, for reasons.
class Cursor {
 public:
  Cursor() = default;
  Cursor(const std::byte* p, std::size_t n, std::size_t off) noexcept : p_(p), n_(n), off_(off) {}

  bool empty() const noexcept { return n_ == 0; }
  std::size_t size() const noexcept { return n_; }
  std::size_t off() const noexcept { return off_; }
  const char* chars() const noexcept { return reinterpret_cast<const char*>(p_); }

  bool u8(std::uint8_t* v) noexcept { return uint(1, v); }
  bool u16(std::uint16_t* v) noexcept { return uint(2, v); }
  bool skip(std::size_t n) noexcept { return sub(n, nullptr); }
  // sub takes the next n bytes as a cursor of their own (out may be null).
  bool sub(std::size_t n, Cursor* out) noexcept {
    if (n > n_) return false;
    if (out) *out = Cursor(p_, n, off_);
    p_ += n, n_ -= n, off_ += n;
    return true;
  }
  // prefixed8 and prefixed16: a vector with a 1- or 2-byte length in front.
  bool prefixed8(Cursor* out) noexcept {
    std::uint8_t n;
    Cursor save = *this;
    if (u8(&n) && sub(n, out)) return true;
    *this = save;
    return false;
  }
  bool prefixed16(Cursor* out) noexcept {
    std::uint16_t n;
    Cursor save = *this;
    if (u16(&n) && sub(n, out)) return true;
    *this = save;
    return false;
  }

 private:
  template <class T>
  bool uint(std::size_t bytes, T* v) noexcept {
    if (n_ < bytes) return false;
    unsigned x = 0;
    for (std::size_t i = 0; i < bytes; i++) x = (x << 8) | std::to_integer<unsigned>(p_[i]);
    *v = static_cast<T>(x);
    p_ += bytes, n_ -= bytes, off_ += bytes;
    return true;
  }

  const std::byte* p_ = nullptr;
  std::size_t n_ = 0;
  std::size_t off_ = 0;
};

// Body parses the hello message (its 4-byte header included, so that
// offsets in reasons count from the message's first byte) into *h, or
// returns what is wrong with it.
class Body {
 public:
  explicit Body(ClientHello* h) noexcept : h_(h) {}

  // parse returns "" for a valid hello, else the reason.
  std::string parse(Cursor c) {
    c.skip(kHandshakeHeader);
    std::size_t at = c.off();
    if (!c.u16(&h_->legacy_version)) return truncated("legacy_version", at);
    if (h_->legacy_version >> 8 != 3)
      return "legacy_version " + hex(h_->legacy_version, 4) + " is not TLS's" + where(at);
    at = c.off();
    if (!c.skip(32)) return truncated("random", at);
    Cursor v;
    at = c.off();
    if (!c.prefixed8(&v)) return truncated("legacy_session_id", at);
    if (v.size() > 32)
      return "legacy_session_id of " + std::to_string(v.size()) + " bytes (at most 32)" + where(at);
    at = c.off();
    if (!c.prefixed16(&v)) return truncated("cipher_suites", at);
    if (v.empty() || v.size() % 2)
      return "cipher_suites of " + std::to_string(v.size()) + " bytes (odd or none)" + where(at);
    for (std::uint16_t s; v.u16(&s);) h_->cipher_suites.push_back(s);
    at = c.off();
    if (!c.prefixed8(&v)) return truncated("legacy_compression_methods", at);
    if (v.empty()) return "no compression methods" + where(at);
    if (c.empty()) return "";  // no extensions at all: a TLS 1.2 client may send none
    at = c.off();
    Cursor exts;
    if (!c.prefixed16(&exts)) return truncated("extensions", at);
    if (!c.empty()) return std::to_string(c.size()) + " bytes after the extensions" + where(c.off());
    return extensions(exts);
  }

 private:
  static std::string where(std::size_t off) {
    return " at byte " + std::to_string(off) + " of the ClientHello";
  }
  static std::string truncated(const char* what, std::size_t off) {
    return what + (" truncated" + where(off));
  }

  // seen_before says whether type is in h_->extensions already: a scan of
  // the few a real hello has, a bit per type (8 KiB) past 32 of them.
  bool seen_before(std::uint16_t type) {
    const auto& e = h_->extensions;
    if (e.size() <= 32) return std::find(e.begin(), e.end(), type) != e.end();
    if (seen_.empty()) {
      seen_.resize(65536 / 64);
      for (std::uint16_t t : e) seen_[t / 64] |= std::uint64_t{1} << (t % 64);
    }
    return seen_[type / 64] >> (type % 64) & 1;
  }

  std::string extensions(Cursor exts) {
    while (!exts.empty()) {
      std::size_t at = exts.off();
      std::uint16_t type;
      Cursor data;
      if (!exts.u16(&type) || !exts.prefixed16(&data)) return truncated("extension", at);
      if (seen_before(type)) return "extension " + std::to_string(type) + " appears twice" + where(at);
      if (!seen_.empty()) seen_[type / 64] |= std::uint64_t{1} << (type % 64);
      h_->extensions.push_back(type);
      if (type == kExtPreSharedKey && !exts.empty())
        return "pre_shared_key is not the last extension" + where(at);
      std::string err;
      if (type == kExtServerName) err = server_name(data);
      if (type == kExtAlpn) err = alpn(data);
      if (type == kExtSupportedVersions) err = supported_versions(data);
      if (!err.empty()) return err;
    }
    return "";
  }

  // server_name: RFC 6066 3, with OpenSSL's reading: one host_name entry.
  std::string server_name(Cursor data) {
    Cursor list, name;
    std::uint8_t type;
    std::size_t at = data.off();
    if (!data.prefixed16(&list) || !data.empty())
      return "server_name extension's length is wrong" + where(at);
    at = list.off();
    if (!list.u8(&type) || !list.prefixed16(&name)) return truncated("server_name entry", at);
    if (type != 0) return "server_name type " + std::to_string(type) + ", not host_name (0)" + where(at);
    if (!list.empty()) return "more than one server_name entry" + where(list.off());
    std::string host(name.chars(), name.size());
    if (host.empty() || host.size() > 255)
      return "server_name of " + std::to_string(host.size()) + " bytes" + where(at);
    std::size_t label = 0;
    for (std::size_t i = 0; i < host.size(); i++) {
      unsigned char ch = static_cast<unsigned char>(host[i]);
      bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_' || ch == '.';
      if (!ok) return "server_name has byte " + hex(ch, 2) + where(name.off() + i);
      if (ch == '.' && label == 0) return "server_name has an empty label" + where(name.off() + i);
      label = ch == '.' ? 0 : label + 1;
      if (label > 63) return "server_name has a label over 63 bytes" + where(name.off() + i);
      if (ch >= 'A' && ch <= 'Z') host[i] = static_cast<char>(ch - 'A' + 'a');
    }
    if (label == 0) return "server_name ends with a dot" + where(name.off() + host.size() - 1);
    h_->server_name = std::move(host);
    return "";
  }

  // alpn: RFC 7301 3.1: ProtocolName protocol_name_list<2..2^16-1>, names <1..2^8-1>.
  std::string alpn(Cursor data) {
    Cursor list, name;
    std::size_t at = data.off();
    if (!data.prefixed16(&list) || !data.empty()) return "ALPN extension's length is wrong" + where(at);
    if (list.empty()) return "empty ALPN list" + where(at);
    while (!list.empty()) {
      at = list.off();
      if (!list.prefixed8(&name)) return truncated("ALPN protocol name", at);
      if (name.empty()) return "empty ALPN protocol name" + where(at);
      h_->alpn.emplace_back(name.chars(), name.size());
    }
    return "";
  }

  // supported_versions: RFC 8446 4.2.1: ProtocolVersion versions<2..254>.
  std::string supported_versions(Cursor data) {
    Cursor list;
    std::size_t at = data.off();
    if (!data.prefixed8(&list) || !data.empty())
      return "supported_versions extension's length is wrong" + where(at);
    if (list.empty() || list.size() % 2)
      return "supported_versions of " + std::to_string(list.size()) + " bytes" + where(at);
    for (std::uint16_t v; list.u16(&v);)
      if (!is_grease(v)) h_->supported_versions.push_back(v);
    return "";
  }

  ClientHello* h_;
  std::vector<std::uint64_t> seen_;  // seen_before's bits, once there are many extensions
};

// need_in_record: where the missing bytes of the message (or of its header)
// end at the soonest, when data ends at n inside a record that ends at
// `end`: in this record if it has room, else in the next one, after its
// header.
std::size_t need_in_record(std::size_t n, std::size_t end, std::size_t missing) {
  if (missing <= end - n) return n + missing;
  return end + kRecordHeader + (missing - (end - n));
}

// not_tls_reason says what a first byte other than 22 looks like.
std::string not_tls_reason(std::uint8_t b) {
  if (b & 0x80) return "SSLv2-compatible ClientHello: first byte " + hex(b, 2) + " has the high bit set";
  std::string what = "first byte " + hex(b, 2);
  if (b >= 0x20 && b < 0x7f) what += " ('" + std::string(1, static_cast<char>(b)) + "': plain text?)";
  if (b >= 20 && b <= 24) what += " (a TLS record of type " + std::to_string(b) + ")";
  return what + " is not a TLS handshake record (22)";
}

}  // namespace

bool ClientHello::has_extension(std::uint16_t type) const noexcept {
  return std::find(extensions.begin(), extensions.end(), type) != extensions.end();
}

std::uint16_t ClientHello::max_version() const noexcept {
  if (supported_versions.empty()) return legacy_version;
  return *std::max_element(supported_versions.begin(), supported_versions.end());
}

ParseResult parse_client_hello(std::span<const std::byte> data) {
  const std::size_t n = data.size();
  auto at = [&](std::size_t i) { return std::to_integer<std::uint8_t>(data[i]); };
  if (n == 0) return need_more(1);
  if (at(0) != kHandshake) return fail(ParseStatus::not_tls, not_tls_reason(at(0)));

  // The record layer: join the bodies of the handshake records into msg
  // until it holds the whole message (its header says how long).
  std::vector<std::byte> msg;
  std::size_t msg_len = 0;  // the whole message, header included, once msg holds the header
  std::size_t records = 0;
  // missing: the message's bytes still to come (at least: while its length
  // is unknown, those of its header).
  auto missing = [&] { return (msg_len ? msg_len : kHandshakeHeader) - msg.size(); };
  for (std::size_t pos = 0;;) {
    if (n - pos < kRecordHeader) return need_more(pos + kRecordHeader + missing());
    const std::uint8_t type = at(pos);
    const unsigned version = at(pos + 1) << 8 | at(pos + 2);
    const std::size_t len = at(pos + 3) << 8 | at(pos + 4);
    records++;
    auto rec = [&] {
      return "record " + std::to_string(records) + " (at offset " + std::to_string(pos) + ")";
    };
    if (pos == 0 && (version < 0x0300 || version > 0x0304))
      return fail(ParseStatus::not_tls, "record version " + hex(version, 4) + " at offset 1 is not TLS's");
    if (type != kHandshake)
      return fail(ParseStatus::malformed,
                  rec() + " has type " + std::to_string(type) + " inside the ClientHello");
    if (version < 0x0300 || version > 0x0304)
      return fail(ParseStatus::malformed, rec() + " has version " + hex(version, 4));
    if (len == 0) return fail(ParseStatus::malformed, rec() + " is empty");
    if (len > kMaxRecord)
      return fail(ParseStatus::malformed, rec() + " is " + std::to_string(len) + " bytes, over 2^14");
    const std::size_t body = pos + kRecordHeader;
    const std::size_t have = std::min(len, n - body);  // the record's bytes that have come
    std::size_t taken = 0;

    if (msg_len == 0) {  // the handshake header: its type, then its length
      taken = std::min(have, kHandshakeHeader - msg.size());
      msg.insert(msg.end(), data.begin() + body, data.begin() + body + taken);
      if (msg.size() < kHandshakeHeader) {
        if (have < len) return need_more(need_in_record(n, body + len, missing()));
        pos = body + len;
        continue;
      }
      const unsigned hs_type = std::to_integer<unsigned>(msg[0]);
      if (hs_type != kClientHelloType)
        return fail(ParseStatus::malformed, "handshake message type " + std::to_string(hs_type) + " in " +
                                                rec() + ", not ClientHello (1)");
      const std::size_t body_len = std::to_integer<std::size_t>(msg[1]) << 16 |
                                   std::to_integer<std::size_t>(msg[2]) << 8 |
                                   std::to_integer<std::size_t>(msg[3]);
      if (body_len > kMaxClientHello)
        return fail(ParseStatus::too_large, "ClientHello of " + std::to_string(body_len) +
                                                " bytes, over the " + std::to_string(kMaxClientHello) +
                                                "-byte cap");
      msg_len = kHandshakeHeader + body_len;
      msg.reserve(msg_len);
    }

    // The message's body: what this record has of it, and no more.
    const std::size_t more = std::min(have - taken, msg_len - msg.size());
    msg.insert(msg.end(), data.begin() + body + taken, data.begin() + body + taken + more);
    if (have < len) {  // a record that ends the message must be whole: no verdict before its end
      const std::size_t end = body + len;
      return need_more(missing() <= end - n ? end : need_in_record(n, end, missing()));
    }
    pos = body + len;
    if (msg.size() < msg_len) continue;

    // The whole message, and the whole record that ends it.
    ParseResult r;
    r.hello.records = records;
    std::string err = Body(&r.hello).parse(Cursor(msg.data(), msg.size(), 0));
    if (!err.empty()) return fail(ParseStatus::malformed, err);
    r.status = ParseStatus::parsed;
    r.consumed = pos;
    return r;
  }
}

}  // namespace gort::tls
