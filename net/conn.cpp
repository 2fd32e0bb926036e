// conn.cpp: Conn (see <gort/net.hpp>), Go's net.conn: a handle on an FD
// (fd.hpp), which does the work. Every call on an invalid (default or
// moved-from) Conn fails with EINVAL, as a call on Go's nil conn does.
#include "fd.hpp"
#include "sock.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace gort::net {

namespace {

std::error_code invalid() { return detail::errno_code(EINVAL); }

const Addr kNoAddr;

}  // namespace

Conn::Conn() noexcept = default;
Conn::Conn(std::unique_ptr<detail::FD> fd) noexcept : fd_(std::move(fd)) {}
Conn::Conn(Conn&&) noexcept = default;
Conn& Conn::operator=(Conn&&) noexcept = default;
Conn::~Conn() = default;  // ~FD closes it

Result<std::size_t> Conn::read(std::span<std::byte> buf) {
  if (!fd_) return {0, invalid()};
  return fd_->read(buf);
}

Result<std::size_t> Conn::write(std::span<const std::byte> buf) {
  if (!fd_) return {0, invalid()};
  return fd_->write(buf);
}

std::error_code Conn::close() { return fd_ ? fd_->close() : invalid(); }

std::error_code Conn::close_write() {
  if (!fd_) return invalid();
  return fd_->call([](int s) { return ::shutdown(s, SHUT_WR); });
}

std::error_code Conn::close_read() {
  if (!fd_) return invalid();
  return fd_->call([](int s) { return ::shutdown(s, SHUT_RD); });
}

std::error_code Conn::set_deadline(Deadline t) {
  return fd_ ? fd_->set_deadline(detail::to_nanotime(t), netpoll::Mode::ReadWrite) : invalid();
}

std::error_code Conn::set_read_deadline(Deadline t) {
  return fd_ ? fd_->set_deadline(detail::to_nanotime(t), netpoll::Mode::Read) : invalid();
}

std::error_code Conn::set_write_deadline(Deadline t) {
  return fd_ ? fd_->set_deadline(detail::to_nanotime(t), netpoll::Mode::Write) : invalid();
}

const Addr& Conn::local_addr() const noexcept { return fd_ ? fd_->laddr : kNoAddr; }
const Addr& Conn::remote_addr() const noexcept { return fd_ ? fd_->raddr : kNoAddr; }

std::error_code Conn::set_nodelay(bool on) {
  if (!fd_) return invalid();
  return fd_->call([on](int s) { return detail::setsockopt_int(s, IPPROTO_TCP, TCP_NODELAY, on); });
}

std::error_code Conn::set_keepalive(bool on) {
  if (!fd_) return invalid();
  return fd_->call([on](int s) { return detail::setsockopt_int(s, SOL_SOCKET, SO_KEEPALIVE, on); });
}

std::error_code Conn::set_keepalive_period(std::chrono::seconds period) {
  if (!fd_) return invalid();
  // Go's setKeepAlivePeriod: the idle time before the first probe and the
  // interval between probes, at least 1 s.
  int secs = static_cast<int>(std::max<std::chrono::seconds::rep>(1, period.count()));
  return fd_->call([secs](int s) {
    return detail::setsockopt_int(s, IPPROTO_TCP, TCP_KEEPINTVL, secs) < 0
               ? -1
               : detail::setsockopt_int(s, IPPROTO_TCP, TCP_KEEPIDLE, secs);
  });
}

int Conn::fd() const noexcept { return fd_ && !fd_->closed() ? fd_->sysfd : -1; }

}  // namespace gort::net
