// sock.cpp: making sockets (Go's sock_posix.go, ipsock_posix.go and
// sockopt_linux.go): every socket is non-blocking and close-on-exec from the
// start (SOCK_NONBLOCK | SOCK_CLOEXEC, accept4 likewise), and registered
// with the poller before anything can wait on it.
//
// Go's defaults: an IPv6 socket is dual-stack (IPV6_V6ONLY off) except for
// "tcp6"; a TCP listener has SO_REUSEADDR, so a restarted server can bind
// its port while old connections sit in TIME_WAIT; a TCP conn, dialed or
// accepted, has TCP_NODELAY on and keep-alives every 15 s.
#include "sock.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>

namespace gort::net::detail {

namespace {

Result<std::unique_ptr<FD>> new_socket(Network net, int family) {
  int s = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return {nullptr, errno_code(errno)};
  if (family == AF_INET6 && setsockopt_int(s, IPPROTO_IPV6, IPV6_V6ONLY, net == Network::tcp6) < 0) {
    int e = errno;
    ::close(s);
    return {nullptr, errno_code(e)};
  }
  return FD::open(s);
}

Addr sockname(int s, int (*get)(int, ::sockaddr*, ::socklen_t*)) {
  ::sockaddr_storage ss{};
  ::socklen_t len = sizeof ss;
  if (get(s, reinterpret_cast<::sockaddr*>(&ss), &len) < 0) return {};
  return Addr(reinterpret_cast<const ::sockaddr*>(&ss), len);
}

// tcp_defaults: Go's, for every TCP conn. Errors are ignored, as Go does.
void tcp_defaults(int s) {
  setsockopt_int(s, IPPROTO_TCP, TCP_NODELAY, 1);
  setsockopt_int(s, SOL_SOCKET, SO_KEEPALIVE, 1);
  setsockopt_int(s, IPPROTO_TCP, TCP_KEEPIDLE, 15);
  setsockopt_int(s, IPPROTO_TCP, TCP_KEEPINTVL, 15);
}

}  // namespace

bool ipv6_supported() {
  static const bool supported = [] {
    int s = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    ::sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    bool ok = ::bind(s, reinterpret_cast<::sockaddr*>(&sa), sizeof sa) == 0;
    ::close(s);
    return ok;
  }();
  return supported;
}

Result<std::unique_ptr<FD>> listen_socket(Network net, const Addr& la, const ListenConfig& cfg) {
  auto [fd, err] = new_socket(net, la.family());
  if (err) return {nullptr, err};
  int s = fd->sysfd;
  if (net != Network::unix_stream && setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
    return {nullptr, errno_code(errno)};
  if (cfg.reuse_port && setsockopt_int(s, SOL_SOCKET, SO_REUSEPORT, 1) < 0)
    return {nullptr, errno_code(errno)};
  if (::bind(s, la.sockaddr(), la.size()) < 0) return {nullptr, errno_code(errno)};
  // A backlog above net.core.somaxconn is cut to it: INT_MAX asks for the most.
  if (::listen(s, cfg.backlog > 0 ? cfg.backlog : INT_MAX) < 0) return {nullptr, errno_code(errno)};
  fd->laddr = sockname(s, ::getsockname);
  return {std::move(fd), {}};
}

Result<std::unique_ptr<FD>> dial_socket(Network net, const Addr& ra, std::int64_t deadline) {
  auto [fd, err] = new_socket(net, ra.family());
  if (err) return {nullptr, err};
  if (auto cerr = fd->connect(ra.sockaddr(), ra.size(), deadline)) return {nullptr, cerr};
  fd->laddr = sockname(fd->sysfd, ::getsockname);
  fd->raddr = sockname(fd->sysfd, ::getpeername);
  if (fd->raddr.empty()) fd->raddr = ra;
  if (net != Network::unix_stream) tcp_defaults(fd->sysfd);
  return {std::move(fd), {}};
}

Result<std::unique_ptr<FD>> accepted(int sysfd, const Addr& ra) {
  auto [fd, err] = FD::open(sysfd);
  if (err) return {nullptr, err};
  fd->laddr = sockname(sysfd, ::getsockname);
  fd->raddr = ra;
  if (ra.family() == AF_INET || ra.family() == AF_INET6) tcp_defaults(sysfd);
  return {std::move(fd), {}};
}

}  // namespace gort::net::detail
