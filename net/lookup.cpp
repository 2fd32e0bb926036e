// lookup.cpp: a host's IP addresses (Go's lookup.go and cgo_unix.go, in
// brief). An IP literal ("127.0.0.1", "::1", "fe80::1%eth0") is parsed
// here; a name goes to getaddrinfo, which may read files and ask DNS
// servers for seconds, so it runs on gort's pool for blocking calls
// (gort::blocking): only the calling fiber waits, never its M.
//
// A deadline bounds the wait, not the call: getaddrinfo cannot be
// interrupted, so with a deadline the call runs in a fiber of its own that
// hands its answer over a buffered channel, and the caller stops waiting at
// the deadline (io_errc::timeout). The abandoned call finishes later and its
// answer is freed with the channel.
#include "sock.hpp"

#include <gort/blocking.hpp>
#include <gort/chan.hpp>
#include <gort/context.hpp>
#include <gort/fiber.hpp>
#include <gort/go.hpp>
#include <gort/select.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace gort::net::detail {

namespace {

using Addrs = Result<std::vector<Addr>>;

// literal parses an IPv4 or IPv6 literal, IPv6 with an optional %zone (an
// interface name or index). False if host is not one.
bool literal(const std::string& host, int port, Addr* out) {
  ::sockaddr_in sa4{};
  if (::inet_pton(AF_INET, host.c_str(), &sa4.sin_addr) == 1) {
    sa4.sin_family = AF_INET;
    sa4.sin_port = htons(static_cast<std::uint16_t>(port));
    *out = Addr(reinterpret_cast<const ::sockaddr*>(&sa4), sizeof sa4);
    return true;
  }
  ::sockaddr_in6 sa6{};
  std::size_t pct = host.find('%');
  if (::inet_pton(AF_INET6, host.substr(0, pct).c_str(), &sa6.sin6_addr) != 1) return false;
  if (pct != std::string::npos) {
    std::string zone = host.substr(pct + 1);
    sa6.sin6_scope_id = ::if_nametoindex(zone.c_str());
    if (sa6.sin6_scope_id == 0 && !zone.empty() && zone.find_first_not_of("0123456789") == std::string::npos)
      sa6.sin6_scope_id = static_cast<std::uint32_t>(std::stoul(zone));
    if (sa6.sin6_scope_id == 0) return false;  // an unknown zone: not a literal (Go: no such host)
  }
  sa6.sin6_family = AF_INET6;
  sa6.sin6_port = htons(static_cast<std::uint16_t>(port));
  *out = Addr(reinterpret_cast<const ::sockaddr*>(&sa6), sizeof sa6);
  return true;
}

// getaddrinfo_error maps EAI_* (and EAI_SYSTEM's errno) to an error_code.
std::error_code getaddrinfo_error(int rc, int sys_errno) {
  switch (rc) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
      return make_error_code(io_errc::no_such_host);
    case EAI_SYSTEM: return errno_code(sys_errno);
    case EAI_MEMORY: return errno_code(ENOMEM);
  }
  return {rc, addrinfo_category()};
}

// lookup_blocking asks getaddrinfo on the blocking pool.
Addrs lookup_blocking(const std::string& host, int port, int family) {
  ::addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address
  ::addrinfo* res = nullptr;
  int sys_errno = 0;
  int rc = gort::blocking([&] {
    int r = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    sys_errno = errno;  // errno belongs to the pool's thread: read it there
    return r;
  });
  if (rc != 0) return {{}, getaddrinfo_error(rc, sys_errno)};
  std::vector<Addr> addrs;
  for (::addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET)
      reinterpret_cast<::sockaddr_in*>(ai->ai_addr)->sin_port = htons(static_cast<std::uint16_t>(port));
    else if (ai->ai_family == AF_INET6)
      reinterpret_cast<::sockaddr_in6*>(ai->ai_addr)->sin6_port = htons(static_cast<std::uint16_t>(port));
    else
      continue;
    addrs.emplace_back(ai->ai_addr, ai->ai_addrlen);
  }
  ::freeaddrinfo(res);
  if (addrs.empty()) return {{}, make_error_code(io_errc::no_such_host)};
  return {std::move(addrs), {}};
}

}  // namespace

Result<std::vector<Addr>> lookup_ip(std::string_view host_view, int port, int family, std::int64_t deadline) {
  std::string host(host_view);
  if (Addr a; literal(host, port, &a)) return {{a}, {}};
  // Outside a fiber blocking() runs the call in place, and nothing can wait
  // for a deadline beside it.
  if (deadline == 0 || gort::fiber_id() == 0) return lookup_blocking(host, port, family);

  if (deadline <= netpoll::now()) return {{}, make_error_code(io_errc::timeout)};
  Chan<Addrs> answer(1);  // buffered: the lookup fiber never waits for us
  gort::go([answer, host = std::move(host), port, family]() mutable {
    answer.send(lookup_blocking(host, port, family));
  });
  // A context, not gort::after: cancelling it frees its timer at once.
  auto [ctx, cancel] = with_deadline(background(), Deadline(std::chrono::nanoseconds(deadline)));
  Addrs out{{}, make_error_code(io_errc::timeout)};
  gort::select(gort::on_recv(answer, [&](Addrs r) { out = std::move(r); }), gort::on_recv(ctx.done(), [] {}));
  cancel();
  return out;
}

}  // namespace gort::net::detail
