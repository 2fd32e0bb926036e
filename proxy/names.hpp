// names.hpp: server names as the proxy's routes hold them: a pattern is an
// exact DNS name ("api.example.com") or a wildcard for one label in front
// of a name ("*.example.com"), as certificates' wildcards (RFC 6125) and
// nginx's server_name. normalize_name makes them comparable (lower case, no
// trailing dot); matching is gort::tls::name_matches, the certificates' own
// rule, so a route and a certificate never disagree on a name.
#pragma once

#include <string>
#include <string_view>

namespace gort::proxy {

// normalize_name: lower case, without a trailing dot ("" if name is not a
// usable DNS name: empty labels, characters other than letters, digits,
// '-', '_' and a leading "*." for patterns, or longer than 253 bytes).
std::string normalize_name(std::string_view name, bool allow_wildcard = false);

}  // namespace gort::proxy
