// names.hpp: server names as the proxy's routes match them: a pattern is an
// exact DNS name ("api.example.com") or a wildcard for one label in front
// of a name ("*.example.com" matches "a.example.com", not "example.com" nor
// "a.b.example.com"), as certificates' wildcards (RFC 6125) and nginx's
// server_name do. Matching ignores case and one trailing dot.
#pragma once

#include <string>
#include <string_view>

namespace gort::proxy {

// normalize_name: lower case, without a trailing dot ("" if name is not a
// usable DNS name: empty labels, characters other than letters, digits,
// '-', '_' and a leading "*." for patterns, or longer than 253 bytes).
std::string normalize_name(std::string_view name, bool allow_wildcard = false);

// name_matches: does pattern (normalized) cover host (normalized)?
bool name_matches(std::string_view pattern, std::string_view host);

// is_wildcard: pattern starts with "*.".
inline bool is_wildcard(std::string_view pattern) {
  return pattern.size() > 2 && pattern.substr(0, 2) == "*.";
}

}  // namespace gort::proxy
