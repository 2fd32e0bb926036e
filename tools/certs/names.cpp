// names.cpp: the "gort.certs" error category, and names: what a leaf may be
// issued for (check_name), mkcert's file names (leaf_basename), and where
// the CA lives by default (default_dir).
#include "certs.hpp"

#include <arpa/inet.h>

#include <cstdlib>

namespace gort::certs {

namespace {

class CertsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gort.certs"; }
  std::string message(int e) const override {
    switch (static_cast<certs_errc>(e)) {
      case certs_errc::no_names: return "no names given";
      case certs_errc::invalid_name: return "invalid name";
      case certs_errc::ca_incomplete: return "CA incomplete";
      case certs_errc::ca_invalid: return "CA invalid";
      case certs_errc::ca_mismatch: return "CA key mismatch";
      case certs_errc::would_overwrite: return "would overwrite the CA";
      case certs_errc::openssl: return "OpenSSL error";
    }
    return "unknown gort.certs error " + std::to_string(e);
  }
};

std::error_code invalid(std::string* detail, const std::string& name, const std::string& why) {
  if (detail != nullptr) *detail = "invalid name \"" + name + "\": " + why;
  return certs_errc::invalid_name;
}

bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// dns_problem says what is wrong with a DNS name, or "" when nothing is.
std::string dns_problem(const std::string& dns) {
  if (dns.size() > 253) return "longer than 253 characters";
  if (dns.empty()) return "empty";
  if (dns.back() == '.') return "a trailing dot";
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = dns.find('.', start);
    std::size_t end = dot == std::string::npos ? dns.size() : dot;
    std::string label = dns.substr(start, end - start);
    if (label.empty()) return "an empty label";
    if (label.size() > 63) return "a label longer than 63 characters";
    for (char c : label) {
      if (static_cast<unsigned char>(c) >= 0x80) return "not ASCII (use the xn-- form of an IDN)";
      if (!label_char(c)) return std::string("the character '") + c + "'";
    }
    if (label.front() == '-' || label.back() == '-') return "a label that starts or ends with '-'";
    if (dot == std::string::npos) return "";
    start = dot + 1;
  }
}

}  // namespace

const std::error_category& certs_category() noexcept {
  static const CertsCategory category;
  return category;
}

std::error_code check_name(const std::string& name, NameKind* kind, std::string* detail) {
  NameKind k = NameKind::dns;
  if (name.empty()) return invalid(detail, name, "empty");
  if (name.find("://") != std::string::npos) return invalid(detail, name, "URIs are not supported");
  if (name.find('@') != std::string::npos) return invalid(detail, name, "email addresses are not supported");
  if (name.find(':') != std::string::npos) {
    unsigned char addr[16];
    if (inet_pton(AF_INET6, name.c_str(), addr) != 1) {
      return invalid(detail, name, "not an IPv6 address (write it without brackets, port or zone)");
    }
    k = NameKind::ipv6;
  } else if (name.find_first_not_of("0123456789.") == std::string::npos) {
    unsigned char addr[4];
    if (inet_pton(AF_INET, name.c_str(), addr) != 1) {
      return invalid(detail, name, "not an IPv4 address (four numbers 0 to 255: 127.0.0.1)");
    }
    k = NameKind::ipv4;
  } else {
    std::string dns = name;
    if (name.starts_with("*.")) {
      k = NameKind::wildcard;
      dns = name.substr(2);
    }
    if (dns.find('*') != std::string::npos) {
      return invalid(detail, name, "'*' is only allowed as the whole first label (*.example.test)");
    }
    if (std::string why = dns_problem(dns); !why.empty()) {
      return invalid(detail, name, "not a DNS name or IP address: " + why);
    }
  }
  if (kind != nullptr) *kind = k;
  return {};
}

std::error_code check_names(const std::vector<std::string>& names, std::string* detail) {
  if (names.empty()) {
    if (detail != nullptr)
      *detail = "no names given: a certificate needs at least one DNS name or IP address";
    return certs_errc::no_names;
  }
  for (const std::string& name : names) {
    if (auto err = check_name(name, nullptr, detail)) return err;
  }
  return {};
}

std::string leaf_basename(const std::vector<std::string>& names, bool client) {
  std::string base;
  for (char c : names.empty() ? std::string("cert") : names.front()) {
    if (c == '*') {
      base += "_wildcard";
    } else if (c == ':' || c == '/') {
      base += '_';
    } else {
      base += c;
    }
  }
  if (names.size() > 1) base += "+" + std::to_string(names.size() - 1);
  if (client) base += "-client";
  return base;
}

std::string default_dir() {
  const char* env = std::getenv("GORT_CERTS_DIR");
  return env != nullptr && *env != '\0' ? env : "certs";
}

}  // namespace gort::certs
