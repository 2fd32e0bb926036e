// hello_bytes.hpp: TLS bytes, made simply, for the ClientHello tests and
// the fuzz target: the record layer (unframe a stream of handshake records
// into the message they carry, frame a message into records of a given
// size) and HelloBuilder, a ClientHello from its fields, to break one field
// at a time. Test code only: it trusts its input's lengths up to the end of
// the data, and writes whatever lengths it is told.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gort_test {

using Bytes = std::vector<std::byte>;

inline Bytes to_bytes(std::string_view s) {
  auto b = std::as_bytes(std::span(s));
  return Bytes(b.begin(), b.end());
}

inline std::uint8_t u8(std::span<const std::byte> b, std::size_t i) {
  return std::to_integer<std::uint8_t>(b[i]);
}

// unframe joins the bodies of the records in raw[0:end) (whole records of
// any type; a cut-off last record gives what it has).
inline Bytes unframe(std::span<const std::byte> raw, std::size_t end) {
  Bytes msg;
  for (std::size_t pos = 0; pos + 5 <= end;) {
    std::size_t n = std::size_t{u8(raw, pos + 3)} << 8 | u8(raw, pos + 4);
    std::size_t take = std::min(n, end - pos - 5);
    msg.insert(msg.end(), raw.begin() + pos + 5, raw.begin() + pos + 5 + take);
    pos += 5 + n;
  }
  return msg;
}

// frame cuts msg into handshake records (type 22) of `size` bytes (the last
// one shorter), with record version `version`.
inline Bytes frame(std::span<const std::byte> msg, std::size_t size, std::uint16_t version = 0x0301) {
  Bytes out;
  size = std::max<std::size_t>(size, 1);
  for (std::size_t i = 0; i < msg.size(); i += size) {
    std::size_t n = std::min(size, msg.size() - i);
    const std::uint8_t h[5] = {22, static_cast<std::uint8_t>(version >> 8),
                               static_cast<std::uint8_t>(version), static_cast<std::uint8_t>(n >> 8),
                               static_cast<std::uint8_t>(n)};
    for (auto c : h) out.push_back(std::byte{c});
    out.insert(out.end(), msg.begin() + i, msg.begin() + i + n);
  }
  return out;
}

// frame_sizes cuts msg into records whose sizes come from `sizes` in turn
// (each at least 1), for record boundaries at odd places.
inline Bytes frame_sizes(std::span<const std::byte> msg, std::span<const std::size_t> sizes) {
  Bytes out;
  std::size_t k = 0;
  for (std::size_t i = 0; i < msg.size();) {
    std::size_t n = std::min(std::max<std::size_t>(sizes[k++ % sizes.size()], 1), msg.size() - i);
    Bytes rec = frame(msg.subspan(i, n), n);
    out.insert(out.end(), rec.begin(), rec.end());
    i += n;
  }
  return out;
}

// put8, put16, put24 append a big-endian number; put appends bytes.
inline void put8(Bytes& b, std::size_t v) { b.push_back(std::byte(v & 0xff)); }
inline void put16(Bytes& b, std::size_t v) { put8(b, v >> 8), put8(b, v); }
inline void put24(Bytes& b, std::size_t v) { put8(b, v >> 16), put16(b, v); }
inline void put(Bytes& b, std::span<const std::byte> s) { b.insert(b.end(), s.begin(), s.end()); }
inline void put(Bytes& b, std::string_view s) { put(b, std::as_bytes(std::span(s))); }

// HelloBuilder: a ClientHello message (handshake header included) from its
// fields; the extension helpers make well-formed extension bodies.
struct HelloBuilder {
  std::size_t version = 0x0303;
  Bytes session_id = Bytes(32, std::byte{0x5e});
  std::vector<std::size_t> suites = {0x1301, 0x1302, 0xc02f};
  Bytes compression = {std::byte{0}};
  bool no_extensions = false;  // end the body after the compression methods
  std::vector<std::pair<std::size_t, Bytes>> exts;

  HelloBuilder& ext(std::size_t type, Bytes body) {
    exts.emplace_back(type, std::move(body));
    return *this;
  }
  HelloBuilder& sni(std::string_view name) { return ext(0, sni_body(name)); }
  HelloBuilder& alpn(std::initializer_list<std::string_view> names) { return ext(16, alpn_body(names)); }
  HelloBuilder& versions(std::initializer_list<std::size_t> vs) { return ext(43, versions_body(vs)); }

  static Bytes sni_body(std::string_view name, std::size_t type = 0) {
    Bytes b;
    put16(b, name.size() + 3), put8(b, type), put16(b, name.size()), put(b, name);
    return b;
  }
  static Bytes alpn_body(std::initializer_list<std::string_view> names) {
    Bytes list;
    for (auto n : names) put8(list, n.size()), put(list, n);
    Bytes b;
    put16(b, list.size()), put(b, list);
    return b;
  }
  static Bytes versions_body(std::initializer_list<std::size_t> vs) {
    Bytes b;
    put8(b, vs.size() * 2);
    for (auto v : vs) put16(b, v);
    return b;
  }

  Bytes body() const {
    Bytes b;
    put16(b, version);
    put(b, Bytes(32, std::byte{0x42}));  // random
    put8(b, session_id.size()), put(b, session_id);
    put16(b, suites.size() * 2);
    for (auto s : suites) put16(b, s);
    put8(b, compression.size()), put(b, compression);
    if (no_extensions) return b;
    Bytes e;
    for (const auto& [type, data] : exts) put16(e, type), put16(e, data.size()), put(e, data);
    put16(b, e.size()), put(b, e);
    return b;
  }
  Bytes message() const {
    Bytes m, b = body();
    put8(m, 1), put24(m, b.size()), put(m, b);
    return m;
  }
  Bytes records(std::size_t size = 16384) const { return frame(message(), size); }
};

}  // namespace gort_test
