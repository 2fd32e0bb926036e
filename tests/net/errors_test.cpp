// Tests of net/errors.cpp: the "gort.io" category: Go's messages, and
// which errors compare equal to which.
#include "gort_net_test.hpp"

#include <netdb.h>

#include <cerrno>
#include <system_error>

TEST_CASE("net: io_errc has Go's messages and its own category") {
  std::error_code eof = gort::io_errc::eof;
  CHECK(eof.category().name() == std::string("gort.io"));
  CHECK(eof.message() == "EOF");
  CHECK(std::error_code(gort::io_errc::closed).message() == "use of closed network connection");
  CHECK(std::error_code(gort::io_errc::timeout).message() == "i/o timeout");
  CHECK(std::error_code(gort::io_errc::missing_port).message() == "missing port in address");
  CHECK(std::error_code(gort::io_errc::no_such_host).message() == "no such host");
}

TEST_CASE("net: a timeout equals std::errc::timed_out and the context deadline's condition") {
  std::error_code timeout = gort::io_errc::timeout;
  CHECK(timeout == std::errc::timed_out);
  CHECK(timeout.default_error_condition() == std::errc::timed_out);
  CHECK(std::error_code(gort::context_errc::deadline_exceeded).default_error_condition() ==
        timeout.default_error_condition());
  CHECK(timeout != gort::io_errc::eof);
  CHECK(std::error_code(gort::io_errc::eof) != std::errc::timed_out);
  CHECK(std::error_code(gort::io_errc::closed) != std::errc::timed_out);
}

TEST_CASE("net: system errors keep errno and compare with std::errc") {
  std::error_code refused(ECONNREFUSED, std::system_category());
  CHECK(refused == std::errc::connection_refused);
  CHECK(refused != gort::io_errc::closed);
}

TEST_CASE("net: getaddrinfo errors read as gai_strerror") {
  std::error_code e(EAI_AGAIN, gort::addrinfo_category());
  CHECK(e.category().name() == std::string("getaddrinfo"));
  CHECK(e.message() == gai_strerror(EAI_AGAIN));
}
