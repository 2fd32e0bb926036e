// names.cpp: server-name patterns (see names.hpp).
#include "names.hpp"

#include <cctype>

namespace gort::proxy {

std::string normalize_name(std::string_view name, bool allow_wildcard) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return {};
  std::string out;
  out.reserve(name.size());
  std::size_t label = 0;  // length of the label so far
  for (std::size_t i = 0; i < name.size(); i++) {
    char c = name[i];
    if (c == '*') {  // only as the whole first label of a pattern
      if (!allow_wildcard || i != 0 || name.size() < 3 || name[1] != '.') return {};
      out += c;
      label = 1;
      continue;
    }
    if (c == '.') {
      if (label == 0) return {};  // an empty label
      label = 0;
      out += c;
      continue;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '-' && c != '_') return {};
    if (++label > 63) return {};
    out += static_cast<char>(std::tolower(u));
  }
  if (label == 0) return {};
  return out;
}

}  // namespace gort::proxy
