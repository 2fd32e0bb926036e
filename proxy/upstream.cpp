// upstream.cpp: dial_upstream (see upstream.hpp).
#include "upstream.hpp"

namespace gort::proxy {

namespace {

// expand: address with "{sni}" replaced by the server name.
std::string expand(const std::string& address, const std::string& sni) {
  auto at = address.find("{sni}");
  if (at == std::string::npos) return address;
  return address.substr(0, at) + sni + address.substr(at + 5);
}

}  // namespace

Dialed dial_upstream(RouteState& route, const std::string& sni, Duration connect_timeout) {
  Dialed d;
  const auto& ups = route.cfg.upstreams;
  if (ups.empty()) {
    d.err = std::make_error_code(std::errc::destination_address_required);
    return d;
  }
  const std::uint32_t first = route.next.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < ups.size(); i++) {
    const std::string& up = ups[(first + i) % ups.size()];
    if (up.find("{sni}") != std::string::npos && sni.empty()) continue;  // no name to put there
    d.address = expand(up, sni);
    d.attempts++;
    auto r = connect_timeout.count() > 0 ? net::dial_timeout("tcp", d.address, connect_timeout)
                                         : net::dial("tcp", d.address);
    if (!r.err) {
      d.conn = std::move(r.value);
      d.err = {};
      return d;
    }
    d.err = r.err;
  }
  if (d.attempts == 0) d.err = std::make_error_code(std::errc::destination_address_required);
  return d;
}

}  // namespace gort::proxy
