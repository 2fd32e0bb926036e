// errors.cpp: the "gort.io" and "getaddrinfo" error categories (see
// <gort/errors.hpp>). The messages are Go's, so that logs read the same.
#include <gort/errors.hpp>

#include <netdb.h>

#include <string>

namespace gort {

namespace {

class IoCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gort.io"; }
  std::string message(int e) const override {
    switch (static_cast<io_errc>(e)) {
      case io_errc::eof: return "EOF";
      case io_errc::closed: return "use of closed network connection";
      case io_errc::timeout: return "i/o timeout";
      case io_errc::missing_port: return "missing port in address";
      case io_errc::too_many_colons: return "too many colons in address";
      case io_errc::missing_bracket: return "missing ']' in address";
      case io_errc::unexpected_lbracket: return "unexpected '[' in address";
      case io_errc::unexpected_rbracket: return "unexpected ']' in address";
      case io_errc::invalid_port: return "invalid port";
      case io_errc::unknown_port: return "unknown port";
      case io_errc::unknown_network: return "unknown network";
      case io_errc::missing_address: return "missing address";
      case io_errc::no_such_host: return "no such host";
      case io_errc::no_suitable_address: return "no suitable address found";
      case io_errc::unexpected_eof: return "unexpected EOF";
      case io_errc::short_write: return "short write";
    }
    return "unknown gort.io error " + std::to_string(e);
  }
  std::error_condition default_error_condition(int e) const noexcept override {
    if (static_cast<io_errc>(e) == io_errc::timeout) return std::errc::timed_out;
    return {e, *this};
  }
};

class AddrinfoCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int e) const override { return ::gai_strerror(e); }
};

}  // namespace

const std::error_category& io_category() noexcept {
  static const IoCategory category;
  return category;
}

const std::error_category& addrinfo_category() noexcept {
  static const AddrinfoCategory category;
  return category;
}

}  // namespace gort
