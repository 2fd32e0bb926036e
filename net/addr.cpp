// addr.cpp: addresses (Go's ipsock.go, tcpsock.go and unixsock.go): Addr,
// "host:port" splitting and joining, the networks, and resolveAddrList,
// which turns a network and an address into socket addresses to try.
//
// Address errors are Go's, word for word (io_errc): "missing port in
// address" and the others. A port is a number from 0 to 65535, and an empty
// port is 0, as in Go; service names ("http") are not looked up.
#include "sock.hpp"

#include <gort/net.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace gort::net {

Addr::Addr(const ::sockaddr* sa, ::socklen_t len) noexcept
    : len_(std::min<::socklen_t>(len, sizeof(::sockaddr_storage))) {
  std::memcpy(&ss_, sa, len_);
}

std::string_view Addr::network() const noexcept {
  switch (ss_.ss_family) {
    case AF_INET:
    case AF_INET6: return len_ ? "tcp" : "";
    case AF_UNIX: return len_ ? "unix" : "";
  }
  return "";
}

int Addr::port() const noexcept {
  if (len_ == 0) return 0;
  if (ss_.ss_family == AF_INET) return ntohs(reinterpret_cast<const ::sockaddr_in*>(&ss_)->sin_port);
  if (ss_.ss_family == AF_INET6) return ntohs(reinterpret_cast<const ::sockaddr_in6*>(&ss_)->sin6_port);
  return 0;
}

std::string Addr::to_string() const {
  if (len_ == 0) return "";
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
  if (ss_.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const ::sockaddr_in*>(&ss_);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (ss_.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const ::sockaddr_in6*>(&ss_);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {  // as Go prints it: the IPv4 address
      ::inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], buf, sizeof buf);
      return std::string(buf) + ":" + std::to_string(port());
    }
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    std::string host = buf;
    if (a->sin6_scope_id != 0) {
      char ifname[IF_NAMESIZE];
      host += "%";
      host += ::if_indextoname(a->sin6_scope_id, ifname) ? ifname : std::to_string(a->sin6_scope_id);
    }
    return join_host_port(host, std::to_string(port()));
  }
  if (ss_.ss_family == AF_UNIX) {
    auto* a = reinterpret_cast<const ::sockaddr_un*>(&ss_);
    std::size_t n = len_ - offsetof(::sockaddr_un, sun_path);
    if (n == 0) return "";                                                         // unnamed
    if (a->sun_path[0] == '\0') return "@" + std::string(a->sun_path + 1, n - 1);  // abstract
    return std::string(a->sun_path, ::strnlen(a->sun_path, n));
  }
  return "";
}

Result<HostPort> split_host_port(std::string_view hp) {
  // Go's SplitHostPort: the port starts after the last colon.
  auto fail = [](io_errc e) { return Result<HostPort>{{}, make_error_code(e)}; };
  std::size_t i = hp.rfind(':');
  if (i == std::string_view::npos) return fail(io_errc::missing_port);
  std::string_view host;
  std::size_t j = 0, k = 0;  // no '[' before j and no ']' before k is allowed
  if (hp[0] == '[') {
    std::size_t end = hp.find(']');
    if (end == std::string_view::npos) return fail(io_errc::missing_bracket);
    if (end + 1 == hp.size()) return fail(io_errc::missing_port);  // no ':' after the ']'
    if (end + 1 != i) return fail(hp[end + 1] == ':' ? io_errc::too_many_colons : io_errc::missing_port);
    host = hp.substr(1, end - 1);
    j = 1, k = end + 1;
  } else {
    host = hp.substr(0, i);
    if (host.find(':') != std::string_view::npos) return fail(io_errc::too_many_colons);
  }
  if (hp.find('[', j) != std::string_view::npos) return fail(io_errc::unexpected_lbracket);
  if (hp.find(']', k) != std::string_view::npos) return fail(io_errc::unexpected_rbracket);
  return {{std::string(host), std::string(hp.substr(i + 1))}, {}};
}

std::string join_host_port(std::string_view host, std::string_view port) {
  if (host.find(':') != std::string_view::npos) return "[" + std::string(host) + "]:" + std::string(port);
  return std::string(host) + ":" + std::string(port);
}

Result<Addr> resolve_addr(std::string_view network, std::string_view address) {
  auto [net, err] = detail::parse_network(network);
  if (err) return {{}, err};
  auto [addrs, rerr] = detail::resolve_addr_list(false, net, address, 0);
  if (rerr) return {{}, rerr};
  return {addrs.front(), {}};
}

namespace detail {

Result<Network> parse_network(std::string_view network) {
  if (network == "tcp") return {Network::tcp, {}};
  if (network == "tcp4") return {Network::tcp4, {}};
  if (network == "tcp6") return {Network::tcp6, {}};
  if (network == "unix") return {Network::unix_stream, {}};
  return {Network::tcp, make_error_code(io_errc::unknown_network)};
}

std::int64_t to_nanotime(Deadline t) noexcept {
  if (t == Deadline{}) return 0;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns > 0 ? ns : 1;  // before the clock's epoch: still a deadline, long past
}

namespace {

Result<int> parse_port(std::string_view s) {
  int port = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return {0, make_error_code(io_errc::unknown_port)};
    port = port * 10 + (c - '0');
    if (port > 65535) return {0, make_error_code(io_errc::invalid_port)};
  }
  return {port, {}};  // "" is 0, as in Go
}

Result<std::vector<Addr>> unix_addr(std::string_view path) {
  if (path.empty()) return {{}, make_error_code(io_errc::missing_address)};
  ::sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return {{}, errno_code(EINVAL)};  // Go's limit too
  std::memcpy(sa.sun_path, path.data(), path.size());
  // "@name": Linux's abstract namespace, a leading NUL and no trailing one.
  bool abstract = path[0] == '@';
  if (abstract) sa.sun_path[0] = '\0';
  auto len = static_cast<::socklen_t>(offsetof(::sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return {{Addr(reinterpret_cast<const ::sockaddr*>(&sa), len)}, {}};
}

// ip_addr: the unspecified or loopback address of family, with port.
Addr ip_addr(int family, bool loopback, int port) {
  if (family == AF_INET) {
    ::sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    sa.sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    return Addr(reinterpret_cast<const ::sockaddr*>(&sa), sizeof sa);
  }
  ::sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(static_cast<std::uint16_t>(port));
  sa.sin6_addr = loopback ? in6addr_loopback : in6addr_any;
  return Addr(reinterpret_cast<const ::sockaddr*>(&sa), sizeof sa);
}

bool unspecified(const Addr& a) {
  if (a.family() == AF_INET)
    return reinterpret_cast<const ::sockaddr_in*>(a.sockaddr())->sin_addr.s_addr == htonl(INADDR_ANY);
  return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const ::sockaddr_in6*>(a.sockaddr())->sin6_addr);
}

}  // namespace

Result<std::vector<Addr>> resolve_addr_list(bool listen, Network net, std::string_view address,
                                            std::int64_t deadline) {
  if (net == Network::unix_stream) return unix_addr(address);
  auto [hp, err] = split_host_port(address);
  if (err) return {{}, err};
  auto [port, perr] = parse_port(hp.port);
  if (perr) return {{}, perr};
  int family = net == Network::tcp4 ? AF_INET : net == Network::tcp6 ? AF_INET6 : AF_UNSPEC;
  std::vector<Addr> addrs;
  if (hp.host.empty()) {
    if (listen) {
      bool v6 = net == Network::tcp6 || (net == Network::tcp && ipv6_supported());
      addrs.push_back(ip_addr(v6 ? AF_INET6 : AF_INET, false, port));
    } else {  // the local system
      if (net != Network::tcp6) addrs.push_back(ip_addr(AF_INET, true, port));
      if (net == Network::tcp6 || (net == Network::tcp && ipv6_supported()))
        addrs.push_back(ip_addr(AF_INET6, true, port));
    }
    return {std::move(addrs), {}};
  }
  auto [found, lerr] = lookup_ip(hp.host, port, family, deadline);
  if (lerr) return {{}, lerr};
  for (Addr& a : found)
    if (family == AF_UNSPEC || a.family() == family) addrs.push_back(a);
  if (addrs.empty()) return {{}, make_error_code(io_errc::no_suitable_address)};
  if (!listen) return {std::move(addrs), {}};
  // Listening on "tcp": an unspecified IP is one dual-stack socket (Go's
  // favoriteAddrFamily); a name, its first IPv4 address if it has one.
  if (net == Network::tcp && addrs.size() == 1 && unspecified(addrs[0]) && ipv6_supported())
    return {{ip_addr(AF_INET6, false, port)}, {}};
  auto v4 = std::find_if(addrs.begin(), addrs.end(), [](const Addr& a) { return a.family() == AF_INET; });
  return {{v4 != addrs.end() && net == Network::tcp ? *v4 : addrs.front()}, {}};
}

}  // namespace detail

}  // namespace gort::net
