// dial.cpp: dial, dial_timeout and Dialer (see <gort/net.hpp>; Go's
// dial.go). The address is resolved, then its addresses are tried one after
// another until one connects (Go's dialSerial; Go's "Happy Eyeballs" race
// of IPv6 against IPv4 is not done). The deadline, the earlier of timeout
// and deadline, covers both: name resolution gives up at it, and each
// connect gets a share of the time left (partial_deadline), so that one
// address that never answers does not use up the time of the others.
#include "fd.hpp"
#include "sock.hpp"

#include <algorithm>
#include <chrono>

namespace gort::net {

namespace {

using std::chrono::nanoseconds;

// partial_deadline is Go's partialDeadline: the deadline for one of
// `remaining` connects, now being now; timeout if the deadline has passed.
Result<std::int64_t> partial_deadline(std::int64_t now, std::int64_t deadline, std::size_t remaining) {
  if (deadline == 0) return {0, {}};
  std::int64_t left = deadline - now;
  if (left <= 0) return {0, make_error_code(io_errc::timeout)};
  // An equal share each; if that is too short, take it from the last ones.
  constexpr std::int64_t kSaneMinimum = nanoseconds(std::chrono::seconds(2)).count();
  std::int64_t share = left / static_cast<std::int64_t>(remaining);
  if (share < kSaneMinimum) share = std::min(left, kSaneMinimum);
  return {now + share, {}};
}

}  // namespace

Result<Conn> Dialer::dial(std::string_view network, std::string_view address) const {
  std::int64_t end = detail::to_nanotime(deadline);
  if (timeout != timeout.zero()) {  // as Go: a negative timeout has passed already
    std::int64_t t = netpoll::now() + std::chrono::duration_cast<nanoseconds>(timeout).count();
    end = end == 0 ? t : std::min(end, t);
  }
  auto [net, err] = detail::parse_network(network);
  if (err) return {{}, err};
  auto [addrs, rerr] = detail::resolve_addr_list(false, net, address, end);
  if (rerr) return {{}, rerr};
  std::error_code first;  // Go reports the first address's error
  for (std::size_t i = 0; i < addrs.size(); i++) {
    auto [part, perr] = partial_deadline(netpoll::now(), end, addrs.size() - i);
    if (perr) {
      if (!first) first = perr;
      break;
    }
    auto [fd, derr] = detail::dial_socket(net, addrs[i], part);
    if (!derr) return {Conn(std::move(fd)), {}};
    if (!first) first = derr;
  }
  return {{}, first ? first : make_error_code(io_errc::missing_address)};
}

Result<Conn> dial(std::string_view network, std::string_view address) {
  return Dialer{}.dial(network, address);
}

Result<Conn> dial_timeout(std::string_view network, std::string_view address,
                          std::chrono::steady_clock::duration timeout) {
  return Dialer{.timeout = timeout}.dial(network, address);
}

}  // namespace gort::net
