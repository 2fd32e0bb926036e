// gort/errors.hpp: how gort reports errors from I/O: a std::error_code
// beside the value, never an exception (Go's `n, err := conn.Read(buf)`).
//
//   auto [n, err] = conn.read(buf);
//   if (err == gort::io_errc::eof) ...          // the peer closed its side
//   else if (err == std::errc::timed_out) ...   // a deadline passed (io_errc::timeout)
//   else if (err) return err;                   // anything else
//
// The rules, Go's in C++ terms:
//  - A fallible call returns std::error_code ({} is success), or, when it
//    also yields a value, Result<T>: an aggregate {value, err}, so that
//    structured bindings read like Go's two results. As in Go the value may
//    mean something beside an error: write() returns the bytes it wrote
//    before the error.
//  - Errors gort defines are in the category "gort.io" (io_errc): eof is
//    Go's io.EOF (unexpected_eof and short_write are io.ErrUnexpectedEOF
//    and io.ErrShortWrite, for <gort/io.hpp>), closed is net.ErrClosed, timeout is os.ErrDeadlineExceeded
//    and compares equal to std::errc::timed_out (as context_errc's
//    deadline_exceeded does, <gort/context.hpp>), and the address errors of
//    Go's package net ("missing port in address", ...). A failed system
//    call is std::error_code(errno, std::system_category()), so
//    `err == std::errc::connection_refused` works; a failed getaddrinfo
//    other than "no such host" is in addrinfo_category().
//  - No I/O path throws: not EAGAIN (the fiber parks and retries), not end
//    of file, a deadline or a close. Exceptions are for programming errors
//    only (std::logic_error: a call that has to park made outside a fiber),
//    and std::bad_alloc.
#pragma once

#include <system_error>
#include <type_traits>

namespace gort {

// Result is a value and the error beside it: `auto [conn, err] = net::dial(...)`.
template <class T>
struct Result {
  T value{};
  std::error_code err;
};

enum class io_errc {
  eof = 1,              // "EOF": no more input, the peer closed its side (Go's io.EOF)
  closed,               // "use of closed network connection" (Go's net.ErrClosed)
  timeout,              // "i/o timeout": a deadline passed (os.ErrDeadlineExceeded); == std::errc::timed_out
  missing_port,         // "missing port in address"
  too_many_colons,      // "too many colons in address"
  missing_bracket,      // "missing ']' in address"
  unexpected_lbracket,  // "unexpected '[' in address"
  unexpected_rbracket,  // "unexpected ']' in address"
  invalid_port,         // "invalid port": a number outside 0..65535
  unknown_port,         // "unknown port": not a number (service names are not looked up)
  unknown_network,      // "unknown network": not tcp, tcp4, tcp6 or unix
  missing_address,      // "missing address"
  no_such_host,         // "no such host"
  no_suitable_address,  // "no suitable address found": e.g. an IPv6 address for "tcp4"
  unexpected_eof,       // "unexpected EOF": input ended inside a whole (io.ErrUnexpectedEOF, io::read_full)
  short_write,          // "short write": a writer took fewer bytes without an error (io.ErrShortWrite)
};

const std::error_category& io_category() noexcept;  // name() == "gort.io"
inline std::error_code make_error_code(io_errc e) noexcept { return {static_cast<int>(e), io_category()}; }

// addrinfo_category: getaddrinfo's EAI_* codes (message: gai_strerror).
const std::error_category& addrinfo_category() noexcept;  // name() == "getaddrinfo"

}  // namespace gort

template <>
struct std::is_error_code_enum<gort::io_errc> : std::true_type {};
