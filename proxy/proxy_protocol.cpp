// proxy_protocol.cpp: the PROXY protocol, v1 and v2 (see proxy_protocol.hpp).
//
// parse reads a v1 line as tokens. Until the CRLF comes, the tokens so far
// are checked (complete ones fully; the one still growing by its characters
// and length, which more bytes can only add to, so a refusal never turns
// into a header later), and `need` is the bytes so far plus the fewest the
// rest could take: each missing field at its shortest ("0.0.0.0", "::",
// "0"), then CRLF. So need never passes a valid header's end, and a line
// whose need passes 107 is refused at once. v2 needs 16 bytes, then 16 + its
// length field; the signature, version, command and family are checked as
// soon as their bytes are there.
//
// read_header: buf[0:n) is every byte read from the conn, in order; each
// read asks for need - n bytes, so on success n is exactly the header, and
// on a failure all n go back in the PrefixConn.
#include "proxy_protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace gort::proxy::pp {

namespace {

class PpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gort.proxy.pp"; }
  std::string message(int e) const override {
    switch (static_cast<pp_errc>(e)) {
      case pp_errc::not_proxy: return "not a PROXY protocol header";
      case pp_errc::malformed: return "malformed PROXY protocol header";
      case pp_errc::too_large: return "PROXY protocol header too large";
    }
    return "unknown gort.proxy.pp error " + std::to_string(e);
  }
};

constexpr std::array<std::uint8_t, 12> kSigV2 = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kSigV1 = "PROXY";

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as the CRC32C TLV.
constexpr std::array<std::uint32_t, 256> crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; i++) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = crc_table();
std::uint32_t crc_update(std::uint32_t c, std::span<const std::byte> d) {
  for (std::byte b : d) c = kCrcTable[(c ^ static_cast<std::uint8_t>(b)) & 0xff] ^ (c >> 8);
  return c;
}

// Ip: an IP endpoint in network byte order (4 bytes of a used for IPv4).
struct Ip {
  int family = 0;  // AF_INET, AF_INET6, or 0: not an IP address
  std::array<std::uint8_t, 16> a{};
  std::uint16_t port = 0;
};

// ip_of: addr as an Ip, an IPv4-mapped IPv6 address as IPv4.
Ip ip_of(const net::Addr& addr) {
  Ip ip;
  if (addr.family() == AF_INET && addr.size() >= sizeof(::sockaddr_in)) {
    auto* sa = reinterpret_cast<const ::sockaddr_in*>(addr.sockaddr());
    ip.family = AF_INET;
    std::memcpy(ip.a.data(), &sa->sin_addr, 4);
    ip.port = ntohs(sa->sin_port);
  } else if (addr.family() == AF_INET6 && addr.size() >= sizeof(::sockaddr_in6)) {
    auto* sa = reinterpret_cast<const ::sockaddr_in6*>(addr.sockaddr());
    const bool mapped = IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr);
    ip.family = mapped ? AF_INET : AF_INET6;
    std::memcpy(ip.a.data(), sa->sin6_addr.s6_addr + (mapped ? 12 : 0), mapped ? 4 : 16);
    ip.port = ntohs(sa->sin6_port);
  }
  return ip;
}

// ip_pair: src and dst in one family (IPv4 mapped into IPv6 if they differ);
// false if either is not an IP address.
bool ip_pair(const net::Addr& src, const net::Addr& dst, Ip* s, Ip* d) {
  *s = ip_of(src), *d = ip_of(dst);
  if (!s->family || !d->family) return false;
  for (Ip* ip : {s, d}) {
    if (s->family == d->family || ip->family == AF_INET6) continue;
    std::array<std::uint8_t, 16> m{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    std::copy_n(ip->a.begin(), 4, m.begin() + 12);
    ip->a = m, ip->family = AF_INET6;
  }
  return true;
}

net::Addr ip_addr(int family, const std::uint8_t* a, std::uint16_t port) {
  if (family == AF_INET) {
    ::sockaddr_in sa{};
    sa.sin_family = AF_INET;
    std::memcpy(&sa.sin_addr, a, 4);
    sa.sin_port = htons(port);
    return net::Addr(reinterpret_cast<const ::sockaddr*>(&sa), sizeof sa);
  }
  ::sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  std::memcpy(&sa.sin6_addr, a, 16);
  sa.sin6_port = htons(port);
  return net::Addr(reinterpret_cast<const ::sockaddr*>(&sa), sizeof sa);
}

// unix_addr: a v2 AF_UNIX address, 108 bytes: a path up to its NUL, or
// (a leading NUL) an abstract name up to its trailing NULs, or unnamed.
net::Addr unix_addr(const std::uint8_t* p) {
  ::sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  constexpr std::size_t kMax = std::min<std::size_t>(108, sizeof sa.sun_path);
  std::size_t n = 0, len = offsetof(::sockaddr_un, sun_path);
  if (p[0] != 0) {
    while (n < kMax && p[n] != 0) n++;
    len += n + (n < kMax ? 1 : 0);
  } else {
    for (n = kMax; n > 0 && p[n - 1] == 0;) n--;
    len += n;
  }
  std::memcpy(sa.sun_path, p, n);
  return net::Addr(reinterpret_cast<const ::sockaddr*>(&sa), static_cast<::socklen_t>(len));
}

ParseResult need_more(std::size_t need) {
  ParseResult r;
  r.need = need;
  return r;
}
ParseResult refuse(ParseStatus s, std::string reason) {
  ParseResult r;
  r.status = s;
  r.reason = std::move(reason);
  return r;
}
std::string at(std::size_t off) { return " at offset " + std::to_string(off); }
std::string hex(unsigned v) {
  const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[v >> 4 & 0xf] + digits[v & 0xf];
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// parse_ipv4: exactly four decimal numbers 0..255 split by dots, no leading zeros.
bool parse_ipv4(std::string_view s, std::uint8_t* out) {
  std::size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part > 0 && (i >= s.size() || s[i++] != '.')) return false;
    std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    if (i == start || v > 255 || (i - start > 1 && s[start] == '0')) return false;
    out[part] = static_cast<std::uint8_t>(v);
  }
  return i == s.size();
}

// parse_ipv6: inet_pton's IPv6 forms (hex groups, one "::", a dotted IPv4 tail).
bool parse_ipv6(std::string_view s, std::uint8_t* out) {
  char buf[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof buf) return false;
  for (char c : s)
    if (!is_hex(c) && c != ':' && c != '.') return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  return ::inet_pton(AF_INET6, buf, out) == 1;
}

// parse_port: 0..65535 in decimal, no leading zeros; also a prefix's check:
// a non-empty start of a port that fails here fails with any digits added.
bool parse_port(std::string_view s, std::uint16_t* out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<std::uint16_t>(v);
  return true;
}

// v1_line checks line, the bytes after "PROXY " (with no CR or LF), and
// fills h. complete: the CRLF follows it; else more may come, and *rest is
// the fewest bytes the line still needs, CRLF included. Returns the reason
// it is malformed, or "".
std::string v1_line(std::string_view line, bool complete, Header* h, std::size_t* rest) {
  const std::size_t sp = line.find(' ');
  const std::string_view proto = line.substr(0, sp);
  if (!complete && sp == std::string_view::npos) {  // the protocol is still coming
    struct Proto {
      std::string_view name;
      std::size_t addr_min;  // 0: no fields follow
    };
    static constexpr Proto kProtos[] = {{"TCP6", 2}, {"TCP4", 7}, {"UNKNOWN", 0}};
    std::size_t best = 0;
    for (const Proto& p : kProtos)
      if (p.name.substr(0, proto.size()) == proto) {
        // the rest of the name, " src dst sport dport" at their shortest, CRLF
        std::size_t r = p.name.size() - proto.size() + (p.addr_min ? 2 * (1 + p.addr_min) + 2 * 2 : 0) + 2;
        best = best ? std::min(best, r) : r;
      }
    *rest = best;
    return best ? "" : "unknown protocol \"" + std::string(proto) + "\"";
  }
  if (proto == "UNKNOWN") {  // anything may follow, and is ignored
    h->local = true;
    *rest = 2;
    return "";
  }
  if (proto != "TCP4" && proto != "TCP6") return "unknown protocol \"" + std::string(proto) + "\"";
  const bool v6 = proto == "TCP6";
  const std::size_t addr_min = v6 ? 2 : 7, addr_max = v6 ? 45 : 15;
  std::string_view fields[4];
  std::size_t nf = 0;
  std::string_view r = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  bool more = sp != std::string_view::npos;  // a field follows (maybe empty)
  for (std::size_t off = sp + 1; more;) {
    const std::size_t e = r.find(' ');
    if (nf == 4) return "more than four fields after " + std::string(proto) + at(off + 6);
    fields[nf++] = r.substr(0, e);
    more = e != std::string_view::npos;
    if (more) r.remove_prefix(e + 1), off += e + 1;
  }
  const bool partial = !complete && sp != std::string_view::npos;  // fields[nf - 1] may still grow
  std::uint8_t a[2][16];
  std::uint16_t port[2] = {0, 0};
  for (std::size_t i = 0; i < nf; i++) {
    const std::string_view f = fields[i];
    const char* what = i == 0   ? "source address"
                       : i == 1 ? "destination address"
                       : i == 2 ? "source port"
                                : "destination port";
    if (partial && i + 1 == nf) {  // growing: its characters and length only
      bool ok = true;
      if (i >= 2) {
        std::uint16_t p;
        ok = f.empty() || parse_port(f, &p);
      } else {
        ok = f.size() <= addr_max;
        for (char c : f) ok = ok && (v6 ? is_hex(c) || c == ':' || c == '.' : is_digit(c) || c == '.');
      }
      if (!ok) return "invalid " + std::string(what) + " \"" + std::string(f) + "\"";
      continue;
    }
    bool ok = i < 2 ? (v6 ? parse_ipv6(f, a[i]) : parse_ipv4(f, a[i])) : parse_port(f, &port[i - 2]);
    if (!ok) return "invalid " + std::string(what) + " \"" + std::string(f) + "\" for " + std::string(proto);
  }
  if (!complete) {
    const std::size_t min[4] = {addr_min, addr_min, 1, 1};
    const std::size_t cur = nf - 1, have = fields[cur].size();  // nf >= 1: a space followed the protocol
    std::size_t need = (min[cur] > have ? min[cur] - have : 0) + 2;
    for (std::size_t j = cur + 1; j < 4; j++) need += 1 + min[j];
    *rest = need;
    return "";
  }
  if (nf < 4) return std::string(proto) + " with " + std::to_string(nf) + " fields, not four";
  const int fam = v6 ? AF_INET6 : AF_INET;
  h->src = ip_addr(fam, a[0], port[0]);
  h->dst = ip_addr(fam, a[1], port[1]);
  return "";
}

ParseResult parse_v1(std::string_view d) {
  if (d.size() <= kSigV1.size()) return need_more(kMinHeader);
  if (d[5] != ' ') return refuse(ParseStatus::malformed, "no space after PROXY" + at(5));
  std::size_t end = std::string_view::npos;  // the CR
  for (std::size_t i = 6; i < d.size() && i < kMaxV1 - 1 && end == std::string_view::npos; i++) {
    if (d[i] == '\n') return refuse(ParseStatus::malformed, "a line feed without a carriage return" + at(i));
    if (d[i] == '\r') end = i;
  }
  if (end == std::string_view::npos && d.size() >= kMaxV1 - 1)
    return refuse(ParseStatus::malformed, "no CRLF in the first 107 bytes");
  ParseResult r;
  std::size_t rest = 0;
  const bool complete = end != std::string_view::npos;
  std::string why = v1_line(d.substr(6, (complete ? end : d.size()) - 6), complete, &r.header, &rest);
  if (!why.empty()) return refuse(ParseStatus::malformed, "v1: " + why);
  if (!complete) {
    if (d.size() + rest > kMaxV1)
      return refuse(ParseStatus::malformed, "v1: the line cannot end within 107 bytes");
    return need_more(d.size() + rest);
  }
  if (end + 1 == d.size()) return need_more(end + 2);
  if (d[end + 1] != '\n')
    return refuse(ParseStatus::malformed, "a carriage return without a line feed" + at(end));
  r.status = ParseStatus::parsed;
  r.header.version = 1;
  r.consumed = end + 2;
  return r;
}

// addr_len: the bytes of a v2 family's addresses; -1 for a byte the spec lists not.
int addr_len(std::uint8_t fam) {
  switch (fam) {
    case 0x00: return 0;
    case 0x11:
    case 0x12: return 12;
    case 0x21:
    case 0x22: return 36;
    case 0x31:
    case 0x32: return 216;
  }
  return -1;
}

ParseResult parse_v2(std::span<const std::byte> d) {
  auto u8 = [&](std::size_t i) { return static_cast<std::uint8_t>(d[i]); };
  auto be16 = [&](std::size_t i) { return static_cast<std::uint16_t>(u8(i) << 8 | u8(i + 1)); };
  if (d.size() > 12 && (u8(12) >> 4) != 2)
    return refuse(ParseStatus::malformed, "v2: version " + std::to_string(u8(12) >> 4) + ", not 2" + at(12));
  if (d.size() > 12 && (u8(12) & 0xf) > 1)
    return refuse(ParseStatus::malformed,
                  "v2: command " + std::to_string(u8(12) & 0xf) + ", not LOCAL or PROXY" + at(12));
  if (d.size() > 13 && addr_len(u8(13)) < 0)
    return refuse(ParseStatus::malformed, "v2: family and transport " + hex(u8(13)) + " unknown" + at(13));
  if (d.size() < 16) return need_more(16);
  const std::size_t len = be16(14), alen = static_cast<std::size_t>(addr_len(u8(13))), total = 16 + len;
  if (len < alen)
    return refuse(ParseStatus::malformed,
                  "v2: length " + std::to_string(len) + " cannot hold the addresses" + at(14));
  if (d.size() < total) return need_more(total);
  ParseResult r;
  Header& h = r.header;
  std::size_t crc_at = 0;
  for (std::size_t pos = 16 + alen; pos < total;) {
    if (total - pos < 3)
      return refuse(ParseStatus::malformed, "v2: a TLV header overruns the header" + at(pos));
    const std::uint8_t type = u8(pos);
    const std::size_t n = be16(pos + 1);
    if (n > total - pos - 3)
      return refuse(ParseStatus::malformed, "v2: TLV " + hex(type) + " of " + std::to_string(n) +
                                                " bytes overruns the header" + at(pos));
    if (type == tlv::crc32c && (n != 4 || crc_at))
      return refuse(ParseStatus::malformed, "v2: a second CRC32C TLV, or not of 4 bytes" + at(pos));
    if (type == tlv::crc32c) crc_at = pos + 3;
    h.tlvs.push_back({type, std::string(reinterpret_cast<const char*>(d.data() + pos + 3), n)});
    pos += 3 + n;
  }
  if (crc_at) {
    const std::byte zero[4] = {};
    std::uint32_t c = crc_update(~0u, d.first(crc_at));
    c = ~crc_update(crc_update(c, zero), d.subspan(crc_at + 4, total - crc_at - 4));
    const std::uint32_t sent = static_cast<std::uint32_t>(be16(crc_at)) << 16 | be16(crc_at + 2);
    if (c != sent) return refuse(ParseStatus::malformed, "v2: CRC32C mismatch" + at(crc_at));
  }
  const std::uint8_t fam = u8(13);
  h.version = 2;
  h.local = (u8(12) & 0xf) == 0 || fam == 0x00 || (fam & 0xf) == 2;  // LOCAL, UNSPEC, datagrams
  if (!h.local) {
    auto* p = reinterpret_cast<const std::uint8_t*>(d.data()) + 16;
    if (fam == 0x31) {
      h.src = unix_addr(p), h.dst = unix_addr(p + 108);
    } else {
      const std::size_t n = fam == 0x11 ? 4 : 16;
      h.src = ip_addr(fam == 0x11 ? AF_INET : AF_INET6, p, be16(16 + 2 * n));
      h.dst = ip_addr(fam == 0x11 ? AF_INET : AF_INET6, p + n, be16(16 + 2 * n + 2));
    }
  }
  r.status = ParseStatus::parsed;
  r.consumed = total;
  return r;
}

}  // namespace

const std::error_category& pp_category() noexcept {
  static const PpCategory category;
  return category;
}

const Tlv* Header::find(std::uint8_t type) const noexcept {
  for (const Tlv& t : tlvs)
    if (t.type == type) return &t;
  return nullptr;
}

std::string encode_v1(const net::Addr& src, const net::Addr& dst) {
  Ip s, d;
  if (!ip_pair(src, dst, &s, &d)) return "PROXY UNKNOWN\r\n";
  char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
  ::inet_ntop(s.family, s.a.data(), sa, sizeof sa);
  ::inet_ntop(d.family, d.a.data(), da, sizeof da);
  return std::string(s.family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ") + sa + " " + da + " " +
         std::to_string(s.port) + " " + std::to_string(d.port) + "\r\n";
}

Result<std::vector<std::byte>> encode_v2(const net::Addr& src, const net::Addr& dst,
                                         std::span<const Tlv> tlvs, bool checksum) {
  Ip s, d;
  const bool proxy = ip_pair(src, dst, &s, &d);
  const std::size_t n = !proxy ? 0 : s.family == AF_INET ? 4 : 16;
  std::size_t len = 2 * n + (proxy ? 4 : 0) + (checksum ? 7 : 0);
  for (const Tlv& t : tlvs) {
    len += 3 + t.value.size();
    if (len > 0xffff) return {{}, make_error_code(pp_errc::too_large)};
  }
  std::vector<std::byte> out;
  out.reserve(16 + len);
  auto put = [&out](std::size_t v) { out.push_back(static_cast<std::byte>(v & 0xff)); };
  auto put16 = [&put](std::size_t v) { put(v >> 8), put(v); };
  for (std::uint8_t b : kSigV2) put(b);
  put(proxy ? 0x21 : 0x20);                                // version 2, PROXY or LOCAL
  put(!proxy ? 0x00 : s.family == AF_INET ? 0x11 : 0x21);  // TCP over IPv4 or IPv6, or UNSPEC
  put16(len);
  if (proxy) {
    for (const Ip* ip : {&s, &d})
      for (std::size_t i = 0; i < n; i++) put(ip->a[i]);
    put16(s.port), put16(d.port);
  }
  for (const Tlv& t : tlvs) {
    put(t.type), put16(t.value.size());
    for (char c : t.value) put(static_cast<std::uint8_t>(c));
  }
  if (checksum) {
    put(tlv::crc32c), put16(4), put(0), put(0), put(0), put(0);
    const std::uint32_t c = ~crc_update(~0u, out);
    for (int i = 0; i < 4; i++)
      out[out.size() - 4 + static_cast<std::size_t>(i)] = static_cast<std::byte>(c >> (24 - 8 * i));
  }
  return {std::move(out), {}};
}

ParseResult parse(std::span<const std::byte> data) {
  if (data.empty()) return need_more(kMinHeader);
  const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
  if (p[0] == kSigV2[0]) {
    for (std::size_t i = 0; i < std::min(data.size(), kSigV2.size()); i++)
      if (p[i] != kSigV2[i]) return refuse(ParseStatus::not_proxy, "v2 signature mismatch" + at(i));
    return data.size() < kSigV2.size() ? need_more(16) : parse_v2(data);
  }
  const std::string_view s(reinterpret_cast<const char*>(p), data.size());
  for (std::size_t i = 0; i < std::min(s.size(), kSigV1.size()); i++)
    if (s[i] != kSigV1[i])
      return refuse(ParseStatus::not_proxy, "neither \"PROXY\" nor the v2 signature" + at(i));
  return parse_v1(s);
}

ReadResult read_header(net::Conn conn, net::Deadline deadline) {
  ReadResult out;
  std::vector<std::byte> buf;
  std::size_t n = 0, need = kMinHeader;
  std::error_code err = conn.set_read_deadline(deadline);
  while (!err) {
    if (n < need) {
      buf.resize(need);
      auto [got, rerr] = conn.read(std::span(buf).subspan(n, need - n));
      n += got;
      err = rerr == io_errc::eof && n > 0 ? make_error_code(io_errc::unexpected_eof) : rerr;
      continue;
    }
    ParseResult r = parse(std::span(buf.data(), n));
    if (r.status == ParseStatus::need_more) {
      need = r.need;
    } else if (r.status == ParseStatus::parsed) {
      out.header = std::move(r.header);
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.consumed));
      n -= r.consumed;  // 0: need never passes the header's end
      break;
    } else {
      err = r.status == ParseStatus::not_proxy ? pp_errc::not_proxy : pp_errc::malformed;
      out.reason = std::move(r.reason);
    }
  }
  conn.set_read_deadline({});
  buf.resize(n);
  out.conn = net::PrefixConn(std::move(conn), std::move(buf));
  out.err = err;
  return out;
}

std::error_code write_header(net::Conn& upstream, int version, const net::Addr& src, const net::Addr& dst,
                             std::span<const Tlv> tlvs) {
  if (version == 1) return upstream.write(encode_v1(src, dst)).err;
  if (version != 2) return std::make_error_code(std::errc::invalid_argument);
  auto [bytes, err] = encode_v2(src, dst, tlvs);
  if (err) return err;
  return upstream.write(std::span<const std::byte>(bytes)).err;
}

}  // namespace gort::proxy::pp
