// client_hello_fuzz.cpp: the libFuzzer target for parse_client_hello
// (net/client_hello.cpp, compiled in alone: no runtime). Beyond "never
// crashes, never reads out of bounds" (ASan and UBSan watch that), it checks
// the promises of <gort/client_hello.hpp> on every input:
//  - each status's fields: need_more has need > size; parsed has consumed
//    <= size, a valid lower-case server_name, no GREASE in
//    supported_versions; a failure has a reason and nothing else;
//  - the verdict is a function of the bytes and never changes: a prefix
//    that has one has the whole input's, and so has every longer prefix;
//  - `need` never overshoots: walking from 0 through each need_more's
//    `need` lands exactly on a parsed hello's end, and no prefix of it says
//    more than its end;
//  - a parsed hello re-cut into records of another size parses to the same
//    hello (only `records` differs), in as many records as the cut says.
// A broken promise prints what and aborts, which libFuzzer reports as a
// crash with the input saved. replay_main.cpp runs this over the committed
// corpus in every build, so g++'s sanitizers check the same promises.
#include <gort/client_hello.hpp>

#include "hello_bytes.hpp"

#include <cstdio>
#include <cstdlib>
#include <set>

namespace {

namespace tls = gort::tls;
using tls::ParseResult;
using tls::ParseStatus;

[[noreturn]] void broken(const char* what, std::size_t k = 0) {
  std::fprintf(stderr, "client_hello_fuzz: broken promise: %s (prefix %zu)\n", what, k);
  std::abort();
}
#define EXPECT(cond, k) \
  if (!(cond)) broken(#cond, k)

bool valid_host(const std::string& h) {
  if (h.size() > 255 || h.front() == '.' || h.back() == '.' || h.find("..") != std::string::npos)
    return false;
  std::size_t label = 0;
  for (char c : h) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) return false;
    label = c == '.' ? 0 : label + 1;
    if (label > 63) return false;
  }
  return true;
}

void check_fields(const ParseResult& r, std::size_t size) {
  switch (r.status) {
    case ParseStatus::need_more:
      EXPECT(r.need > size, size);
      EXPECT(r.consumed == 0 && r.reason.empty() && r.hello == tls::ClientHello{}, size);
      break;
    case ParseStatus::parsed:
      EXPECT(r.consumed <= size && r.consumed >= 5 + 4 + 2 + 32 + 1 + 4 + 2, size);
      EXPECT(r.reason.empty() && r.need == 0, size);
      EXPECT(r.hello.server_name.empty() || valid_host(r.hello.server_name), size);
      for (auto v : r.hello.supported_versions) EXPECT(!tls::is_grease(v), size);
      EXPECT(!r.hello.cipher_suites.empty(), size);
      for (const auto& p : r.hello.alpn) EXPECT(!p.empty() && p.size() < 256, size);
      EXPECT(r.hello.records >= 1 && r.hello.records * 6 <= r.consumed, size);
      break;
    default:
      EXPECT(!r.reason.empty(), size);
      EXPECT(r.consumed == 0 && r.need == 0 && r.hello == tls::ClientHello{}, size);
  }
}

bool same(const ParseResult& a, const ParseResult& b) {
  return a.status == b.status && a.consumed == b.consumed && a.need == b.need && a.reason == b.reason &&
         a.hello == b.hello;
}

ParseResult parse(const std::uint8_t* data, std::size_t k) {
  ParseResult r = tls::parse_client_hello(std::as_bytes(std::span(data, k)));
  check_fields(r, k);
  return r;
}

// check_prefixes: the walk through `need` from 0, then prefixes off it
// (every prefix of an input up to 64 bytes, else 64 spread ones and the byte
// before each step of the walk).
void check_prefixes(const std::uint8_t* data, std::size_t size, const ParseResult& full) {
  const bool parsed = full.status == ParseStatus::parsed;
  std::set<std::size_t> ks;
  std::size_t k = 0;
  for (;;) {
    ks.insert(k);
    if (k > size) break;
    ParseResult r = parse(data, k);
    if (r.status != ParseStatus::need_more) {
      EXPECT(same(r, full), k);  // the first verdict on the walk is the verdict
      break;
    }
    EXPECT(!parsed || r.need <= full.consumed, k);  // need never overshoots a hello
    k = r.need;
  }
  EXPECT(!parsed || k == full.consumed, k);  // the walk lands on the hello's end
  for (std::size_t w : std::set<std::size_t>(ks))
    if (w > 0) ks.insert(w - 1);
  const std::size_t step = size <= 64 ? 1 : size / 64;
  for (std::size_t i = 0; i < size; i += step) ks.insert(i);
  bool refused = false;  // a verdict seen at a shorter prefix
  for (std::size_t i : ks) {
    if (i > size) continue;
    ParseResult r = parse(data, i);
    if (r.status == ParseStatus::need_more) {
      EXPECT(!refused, i);  // a verdict, once given, stays
      EXPECT(!parsed || (i < full.consumed && r.need <= full.consumed), i);
    } else {
      EXPECT(same(r, full), i);
      refused = true;
    }
  }
}

// check_recut: the parsed hello's message, framed anew, parses the same.
void check_recut(const std::uint8_t* data, std::size_t size, const ParseResult& full) {
  auto raw = std::as_bytes(std::span(data, size));
  gort_test::Bytes msg = gort_test::unframe(raw, full.consumed);
  std::size_t len = std::size_t{gort_test::u8(msg, 1)} << 16 | std::size_t{gort_test::u8(msg, 2)} << 8 |
                    gort_test::u8(msg, 3);
  msg.resize(4 + len);  // the bytes after the hello in its last record are not the hello's
  const std::size_t cut = 1 + data[size - 1] % 97;
  for (std::size_t size_of_records : {cut, std::size_t{16384}}) {
    gort_test::Bytes again = gort_test::frame(msg, size_of_records);
    ParseResult r = tls::parse_client_hello(again);
    EXPECT(r.status == ParseStatus::parsed && r.consumed == again.size(), size_of_records);
    EXPECT(r.hello.records == (msg.size() + size_of_records - 1) / size_of_records, size_of_records);
    r.hello.records = full.hello.records;
    EXPECT(r.hello == full.hello, size_of_records);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ParseResult full = parse(data, size);
  check_prefixes(data, size, full);
  if (full.status == ParseStatus::parsed) check_recut(data, size, full);
  return 0;
}
