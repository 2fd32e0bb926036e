// sock.hpp: what net/'s files share besides the FD (internal): networks,
// resolving addresses (addr.cpp, lookup.cpp) and making sockets
// (sock.cpp). Go's ipsock.go, lookup.go and sock_posix.go, in brief.
#pragma once

#include "fd.hpp"

#include <gort/errors.hpp>
#include <gort/net.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace gort::net::detail {

// setsockopt_int sets an int option: setsockopt's result.
inline int setsockopt_int(int fd, int level, int opt, int value) {
  return ::setsockopt(fd, level, opt, &value, sizeof value);
}

enum class Network { tcp, tcp4, tcp6, unix_stream };

Result<Network> parse_network(std::string_view network);  // unknown_network if not one of Network

// to_nanotime: a Deadline as netpoll's deadline (0 = none; a past time stays past).
std::int64_t to_nanotime(Deadline t) noexcept;

// resolve_addr_list is Go's resolveAddrList: the addresses to listen on (one)
// or to dial (in the order to try). Host names are looked up, and give up
// with io_errc::timeout at deadline (nanotime, 0 = none). Listening on
// "tcp" with no host or an unspecified IP gives [::], one dual-stack
// socket, where the system has IPv6. Dialing an empty host dials the local
// system (127.0.0.1, then ::1 for "tcp").
Result<std::vector<Addr>> resolve_addr_list(bool listen, Network net, std::string_view address,
                                            std::int64_t deadline);

// lookup_ip (lookup.cpp) gives host's addresses, of family (AF_INET,
// AF_INET6 or AF_UNSPEC), with port: an IP literal as it is, a name through
// getaddrinfo on the blocking pool, abandoned at deadline.
Result<std::vector<Addr>> lookup_ip(std::string_view host, int port, int family, std::int64_t deadline);

// ipv6_supported: whether this system can make IPv6 sockets (probed once).
bool ipv6_supported();

// listen_socket makes a listening socket bound to la: SO_REUSEADDR for TCP,
// SO_REUSEPORT if asked, the backlog of cfg.
Result<std::unique_ptr<FD>> listen_socket(Network net, const Addr& la, const ListenConfig& cfg);
// dial_socket connects a new socket to ra by deadline (nanotime, 0 = none).
Result<std::unique_ptr<FD>> dial_socket(Network net, const Addr& ra, std::int64_t deadline);
// accepted wraps a socket from accept4, whose peer is ra.
Result<std::unique_ptr<FD>> accepted(int sysfd, const Addr& ra);

}  // namespace gort::net::detail
