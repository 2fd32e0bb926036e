// listen.cpp: listen and Listener (see <gort/net.hpp>; Go's net.Listen,
// TCPListener and UnixListener), with the accept loop of Go's http.Server
// Serve built into accept(), so that the simplest accept loop survives:
//
//  - errors about one connection (it was reset or aborted while queued,
//    EPROTO, a network gone: what accept(2) says to retry) are skipped at
//    once: the next connection is taken;
//  - running out of descriptors or kernel memory (EMFILE, ENFILE, ENOBUFS,
//    ENOMEM) is retried after a sleep of 5 ms that doubles up to 1 s, as
//    Serve's tempDelay: the queued connection keeps the socket readable, so
//    retrying at once would spin. The sleep is on stop_, a Context that
//    close() cancels, so closing ends it at once with io_errc::closed.
//    Gort's accept() knows no deadline during the sleep: one that passes is
//    seen at the next try. Serve logs each back-off; here the listener's
//    ListenConfig::accept_backoff hears of it (gort-proxy logs it), or
//    nobody does.
#include "fd.hpp"
#include "sock.hpp"

#include <gort/context.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace gort::net {

namespace {

// per_connection: accept(2)'s errors about the connection being accepted,
// "to treat like EAGAIN by retrying" (ECONNABORTED is retried in fd.cpp).
bool per_connection(int e) {
  switch (e) {
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ECONNRESET:
    case EPERM:  // a firewall refused it
      return true;
  }
  return false;
}

bool out_of_resources(int e) { return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM; }

constexpr std::chrono::milliseconds kFirstDelay{5}, kMaxDelay{1000};

}  // namespace

Result<Listener> listen(std::string_view network, std::string_view address, const ListenConfig& cfg) {
  auto [net, err] = detail::parse_network(network);
  if (err) return {{}, err};
  auto [addrs, rerr] = detail::resolve_addr_list(true, net, address, 0);
  if (rerr) return {{}, rerr};
  auto [fd, lerr] = detail::listen_socket(net, addrs.front(), cfg);
  if (lerr) return {{}, lerr};
  Listener ln;
  ln.fd_ = std::move(fd);
  std::tie(ln.stop_, ln.cancel_) = with_cancel(background());
  ln.backoff_ = cfg.accept_backoff;
  if (net == detail::Network::unix_stream && address[0] != '@') ln.unlink_ = address;
  return {std::move(ln), {}};
}

Listener::Listener() noexcept = default;
Listener::Listener(Listener&&) noexcept = default;

Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::move(o.fd_);
    stop_ = std::move(o.stop_);
    cancel_ = std::move(o.cancel_);
    unlink_ = std::move(o.unlink_);
    backoff_ = std::move(o.backoff_);
  }
  return *this;
}

Listener::~Listener() { close(); }

Result<Conn> Listener::accept() {
  if (!fd_) return {{}, detail::errno_code(EINVAL)};
  std::chrono::milliseconds delay{0};
  for (;;) {
    ::sockaddr_storage ss;
    ::socklen_t len = 0;
    auto [s, err] = fd_->accept(&ss, &len);
    if (!err) {
      auto [fd, cerr] = detail::accepted(s, Addr(reinterpret_cast<const ::sockaddr*>(&ss), len));
      if (!cerr) return {Conn(std::move(fd)), {}};
      err = cerr;
    }
    if (!detail::is_system(err)) return {{}, err};
    if (per_connection(err.value())) continue;
    if (!out_of_resources(err.value())) return {{}, err};
    delay = delay.count() == 0 ? kFirstDelay : std::min(2 * delay, kMaxDelay);
    if (backoff_) backoff_(err, delay);
    if (!gort::sleep_for(stop_, delay)) return {{}, make_error_code(io_errc::closed)};
  }
}

std::error_code Listener::close() {
  if (!fd_) return detail::errno_code(EINVAL);
  cancel_();  // first: a fiber sleeping in accept's back-off wakes
  std::error_code err = fd_->close();
  // Only the first close removes the file, as Go's unlinkOnClose.
  if (!detail::is(err, io_errc::closed) && !unlink_.empty()) ::unlink(unlink_.c_str());
  return err;
}

std::error_code Listener::set_deadline(Deadline t) {
  return fd_ ? fd_->set_deadline(detail::to_nanotime(t), netpoll::Mode::Read) : detail::errno_code(EINVAL);
}

const Addr& Listener::addr() const noexcept {
  static const Addr none;
  return fd_ ? fd_->laddr : none;
}

int Listener::fd() const noexcept { return fd_ && !fd_->closed() ? fd_->sysfd : -1; }

}  // namespace gort::net
