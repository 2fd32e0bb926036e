// conn.cpp: tls::Conn (see <gort/tls.hpp>): OpenSSL over memory buffers,
// with the conn's I/O done by the calling fiber (Go's crypto/tls/conn.go
// shape: a handshake mutex, an input side and an output side).
//
// OpenSSL never touches the socket. It reads ciphertext from rbio and
// writes ciphertext to wbio, two memory BIOs; the fiber moves bytes
// between them and the conn: fill() reads the conn into rbio when OpenSSL
// wants more (SSL_ERROR_WANT_READ), flush() writes what OpenSSL put in wbio
// to the conn. So a park happens only in the conn's read or write, never
// inside an OpenSSL call, and the conn's deadlines and close apply.
//
// Locks, in this order (each a gort::Mutex: a waiter parks):
//   hmu  the handshake: one fiber runs it (Go's handshakeMutex); hs_err.
//   rmu  the input side: one reader, which alone reads the conn; rbuf, rerr.
//   wmu  the output side: one writer, which alone writes the conn, so records
//        leave in the order OpenSSL made them; wbuf, werr, notify_sent.
//   smu  ssl, rbio, wbio, detail: held only around OpenSSL calls and BIO
//        moves, never across a park. OpenSSL's error queue is per thread,
//        so a call and the reading of its errors happen under one smu hold.
// A reader flushes what SSL_read wrote itself (a TLS 1.3 KeyUpdate answer,
// an alert) only if it can take wmu at once (try_lock). It never waits for
// it: a writer holds wmu while it parks in the conn's write, and when both
// peers write more than the socket buffers hold, each writer waits for the
// other's reader; a reader waiting for its own writer would deadlock the
// pair. What a reader leaves in wbio goes out with the holder's next flush
// (write() flushes once more before it lets go of wmu); a KeyUpdate answer
// is due only before our next record anyway (RFC 8446, 4.6.3). A writer
// never needs the input side (no renegotiation).
//
// Close (Go's activeCall): `active` holds a closed bit and twice the writes
// in progress. close() sets the bit; with no write in progress it sends
// close_notify, else it only closes the conn, which wakes the writer.
#include "tls_internal.hpp"

#include <gort/mutex.hpp>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <atomic>
#include <climits>
#include <mutex>

namespace gort::tls {

namespace detail {

namespace {

constexpr std::size_t kReadChunk = 17 * 1024;   // a whole record, 16 KiB of data plus its overhead
constexpr std::size_t kWriteChunk = 64 * 1024;  // four records per flush
constexpr auto kCloseNotifyWait = std::chrono::seconds(5);  // Go's closeNotify deadline

std::error_code invalid() { return std::make_error_code(std::errc::invalid_argument); }

}  // namespace

struct State {
  net::PrefixConn conn;
  std::shared_ptr<const Ctx> ctx;
  SSL* ssl = nullptr;   // owns rbio and wbio
  BIO* rbio = nullptr;  // ciphertext from the peer, for OpenSSL
  BIO* wbio = nullptr;  // ciphertext from OpenSSL, for the peer
  std::string name;     // client: the server name asked for

  gort::Mutex hmu, rmu, wmu;
  mutable gort::Mutex smu;
  std::atomic<bool> hs_done{false};  // set under hmu, with hs_err, once
  std::error_code hs_err;
  std::error_code rerr, werr;  // sticky: the input or output side is broken
  bool notify_sent = false;
  std::string detail;
  std::vector<std::byte> rbuf, wbuf;
  std::atomic<std::uint32_t> active{0};  // 1: closed; + 2 per write in progress

  ~State() {
    if (ssl) SSL_free(ssl);
  }

  // flush writes what OpenSSL has put in wbio to the conn. Holds wmu.
  std::error_code flush() {
    if (werr) return werr;
    {
      std::lock_guard l(smu);
      std::size_t n = BIO_ctrl_pending(wbio);
      if (n == 0) return {};
      std::size_t at = wbuf.size();
      wbuf.resize(at + n);
      BIO_read(wbio, wbuf.data() + at, static_cast<int>(n));
    }
    auto [n, err] = conn.write(std::span<const std::byte>(wbuf));
    wbuf.clear();
    if (err) werr = err;  // part of a record may have gone: the output is broken (Go's setErrorLocked)
    return err;
  }

  // fill reads the conn once into rbio. Holds rmu.
  std::error_code fill() {
    rbuf.resize(kReadChunk);
    auto [n, err] = conn.read(std::span<std::byte>(rbuf));
    if (n > 0) {
      std::lock_guard l(smu);
      BIO_write(rbio, rbuf.data(), static_cast<int>(n));
      return {};
    }
    return err;
  }

  // run_handshake drives SSL_do_handshake to its end. Holds hmu.
  std::error_code run_handshake() {
    if (!ctx->is_server && name.empty() && !ctx->cfg.insecure_skip_verify) {
      std::lock_guard l(smu);
      detail = "tls: either server_name or insecure_skip_verify must be set";
      return make_error_code(tls_errc::bad_config);
    }
    for (;;) {
      int r, code = 0;
      std::error_code err;
      {
        std::lock_guard l(smu);
        ERR_clear_error();
        r = SSL_do_handshake(ssl);
        if (r != 1) {
          code = SSL_get_error(ssl, r);
          if (code != SSL_ERROR_WANT_READ) err = ssl_error(ssl, code, true, &detail);
          if (err && ctx->is_server && ctx->cfg.strict_sni) {
            const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
            if (!ctx->pick(sni ? sni : "")) err = make_error_code(tls_errc::unknown_server_name);
          }
        }
      }
      {
        std::lock_guard l(wmu);  // our flight, or the alert that says why we stop
        if (auto e = flush(); e && !err) err = e;
      }
      if (err) return err;
      if (r == 1) return {};
      std::lock_guard l(rmu);
      if (auto e = fill()) return e;
    }
  }

  // send_close_notify writes close_notify once, waiting at most 5 s.
  std::error_code send_close_notify() {
    std::lock_guard l(wmu);
    if (notify_sent || werr) return werr;
    notify_sent = true;
    conn.set_write_deadline(std::chrono::steady_clock::now() + kCloseNotifyWait);
    {
      std::lock_guard sl(smu);
      ERR_clear_error();
      SSL_shutdown(ssl);  // puts the alert in wbio
      ERR_clear_error();
    }
    return flush();
  }
};

}  // namespace detail

using detail::State;

Conn::Conn() noexcept = default;
Conn::Conn(Conn&&) noexcept = default;
Conn& Conn::operator=(Conn&&) noexcept = default;
Conn::~Conn() = default;  // SSL_free, then the conn closes

namespace {

// make_conn: a Conn over c, its SSL ready to run as server or client.
std::unique_ptr<State> make_state(net::PrefixConn c, const std::shared_ptr<const detail::Ctx>& ctx) {
  auto s = std::make_unique<State>();
  s->conn = std::move(c);
  s->ctx = ctx;
  if (!ctx) {
    s->hs_err = make_error_code(tls_errc::bad_config);
    s->hs_done = true;
    return s;
  }
  s->ssl = SSL_new(ctx->ssl_ctx.get());
  s->rbio = BIO_new(BIO_s_mem());
  s->wbio = BIO_new(BIO_s_mem());
  if (!s->ssl || !s->rbio || !s->wbio) {
    BIO_free(s->rbio);
    BIO_free(s->wbio);
    s->rbio = s->wbio = nullptr;
    s->hs_err = std::make_error_code(std::errc::not_enough_memory);
    s->hs_done = true;
    return s;
  }
  BIO_set_mem_eof_return(s->rbio, -1);  // empty: "want more", not EOF (fill says when the conn ends)
  SSL_set_bio(s->ssl, s->rbio, s->wbio);
  return s;
}

}  // namespace

Conn server(net::PrefixConn c, const Context& ctx) {
  Conn out;
  out.s_ = make_state(std::move(c), ctx.ctx_);
  if (out.s_->ssl) SSL_set_accept_state(out.s_->ssl);
  return out;
}

Conn client(net::PrefixConn c, const Context& ctx, std::string_view server_name) {
  Conn out;
  out.s_ = make_state(std::move(c), ctx.ctx_);
  State& s = *out.s_;
  if (!s.ssl) return out;
  s.name = server_name.empty() ? ctx.ctx_->cfg.server_name : std::string(server_name);
  SSL_set_connect_state(s.ssl);
  unsigned char ip[16];
  bool is_ip =
      ::inet_pton(AF_INET, s.name.c_str(), ip) == 1 || ::inet_pton(AF_INET6, s.name.c_str(), ip) == 1;
  if (!s.name.empty() && !is_ip)
    SSL_set_tlsext_host_name(s.ssl, s.name.c_str());  // no SNI for an IP (RFC 6066)
  if (!ctx.ctx_->cfg.insecure_skip_verify && !s.name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(s.ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(param, s.name.c_str());
    else
      X509_VERIFY_PARAM_set1_host(param, s.name.c_str(), 0);
  }
  return out;
}

std::error_code Conn::handshake() {
  if (!s_) return detail::invalid();
  if (s_->hs_done.load(std::memory_order_acquire)) return s_->hs_err;
  std::lock_guard l(s_->hmu);
  if (!s_->hs_done.load(std::memory_order_relaxed)) {
    s_->hs_err = s_->run_handshake();
    s_->hs_done.store(true, std::memory_order_release);
  }
  return s_->hs_err;
}

Result<std::size_t> Conn::read(std::span<std::byte> buf) {
  if (auto e = handshake()) return {0, e};
  State& s = *s_;
  std::lock_guard l(s.rmu);
  if (s.rerr) return {0, s.rerr};
  if (buf.empty()) return {0, {}};
  for (;;) {
    int n;
    std::error_code err;
    bool out;
    {
      std::lock_guard sl(s.smu);
      std::size_t queued = BIO_ctrl_pending(s.wbio);  // a writer's records, not yet flushed
      ERR_clear_error();
      n = SSL_read(s.ssl, buf.data(), static_cast<int>(std::min<std::size_t>(buf.size(), INT_MAX)));
      if (n <= 0) {
        int code = SSL_get_error(s.ssl, n);
        if (code == SSL_ERROR_ZERO_RETURN)
          err = make_error_code(io_errc::eof);  // close_notify
        else if (code != SSL_ERROR_WANT_READ)
          err = detail::ssl_error(s.ssl, code, false, &s.detail);
      }
      out = BIO_ctrl_pending(s.wbio) > queued;  // SSL_read wrote something itself
    }
    if (out && s.wmu.try_lock()) {  // never wait for a writer (see the top of the file)
      s.flush();                    // a write error is the writers' to report
      s.wmu.unlock();
    }
    if (n > 0) return {static_cast<std::size_t>(n), {}};
    if (err) {
      s.rerr = err;
      return {0, err};
    }
    auto e = s.fill();
    if (!e) continue;
    if (e == io_errc::eof) {  // the conn ended without close_notify: inside a record or between two?
      bool partial;
      {
        std::lock_guard sl(s.smu);
        partial = SSL_has_pending(s.ssl) || BIO_ctrl_pending(s.rbio) > 0;
      }
      e = make_error_code(partial ? io_errc::unexpected_eof : io_errc::eof);
      s.rerr = e;
    }
    return {0, e};  // a timeout is not sticky: the bytes read so far stay in rbio
  }
}

Result<std::size_t> Conn::write(std::span<const std::byte> buf) {
  if (auto e = handshake()) return {0, e};
  State& s = *s_;
  std::uint32_t x = s.active.load(std::memory_order_relaxed);
  do {
    if (x & 1) return {0, make_error_code(io_errc::closed)};
  } while (!s.active.compare_exchange_weak(x, x + 2, std::memory_order_acquire, std::memory_order_relaxed));
  struct Leave {
    State& s;
    ~Leave() { s.active.fetch_sub(2, std::memory_order_release); }
  } leave{s};
  std::lock_guard l(s.wmu);
  if (s.werr) return {0, s.werr};
  std::size_t done = 0;
  while (done < buf.size()) {
    int chunk = static_cast<int>(std::min(detail::kWriteChunk, buf.size() - done));
    int n;
    std::error_code err;
    {
      std::lock_guard sl(s.smu);
      ERR_clear_error();
      n = SSL_write(s.ssl, buf.data() + done, chunk);  // all of chunk, into wbio
      if (n <= 0) err = detail::ssl_error(s.ssl, SSL_get_error(s.ssl, n), false, &s.detail);
    }
    if (err) {
      s.werr = err;
      return {done, err};
    }
    if (auto e = s.flush()) return {done, e};
    done += static_cast<std::size_t>(n);
  }
  if (auto e = s.flush()) return {done, e};  // what a reader left while we wrote
  return {done, {}};
}

std::error_code Conn::close() {
  if (!s_) return detail::invalid();
  State& s = *s_;
  std::uint32_t x = s.active.load(std::memory_order_relaxed);
  do {
    if (x & 1) return make_error_code(io_errc::closed);
  } while (!s.active.compare_exchange_weak(x, x | 1, std::memory_order_acq_rel, std::memory_order_relaxed));
  if (x != 0) return s.conn.close();  // a write in progress: break it, no close_notify (Go)
  std::error_code alert_err;
  if (s.hs_done.load(std::memory_order_acquire) && !s.hs_err) alert_err = s.send_close_notify();
  auto err = s.conn.close();
  return err ? err : alert_err;
}

std::error_code Conn::close_write() {
  if (!s_) return detail::invalid();
  if (!s_->hs_done.load(std::memory_order_acquire) || s_->hs_err)
    return std::make_error_code(std::errc::not_connected);  // Go's errEarlyCloseWrite
  auto alert_err = s_->send_close_notify();
  auto err = s_->conn.close_write();
  return alert_err ? alert_err : err;
}

std::error_code Conn::set_deadline(net::Deadline t) {
  return s_ ? s_->conn.set_deadline(t) : detail::invalid();
}
std::error_code Conn::set_read_deadline(net::Deadline t) {
  return s_ ? s_->conn.set_read_deadline(t) : detail::invalid();
}
std::error_code Conn::set_write_deadline(net::Deadline t) {
  return s_ ? s_->conn.set_write_deadline(t) : detail::invalid();
}

const net::Addr& Conn::local_addr() const noexcept {
  static const net::Addr none;
  return s_ ? s_->conn.local_addr() : none;
}
const net::Addr& Conn::remote_addr() const noexcept {
  static const net::Addr none;
  return s_ ? s_->conn.remote_addr() : none;
}

net::PrefixConn& Conn::net_conn() noexcept {
  static net::PrefixConn none;
  return s_ ? s_->conn : none;
}

ConnectionState Conn::connection_state() const {
  ConnectionState st;
  if (!s_ || !s_->ssl) return st;
  st.handshake_complete = s_->hs_done.load(std::memory_order_acquire) && !s_->hs_err;
  std::lock_guard l(s_->smu);
  if (const char* sni = SSL_get_servername(s_->ssl, TLSEXT_NAMETYPE_host_name))
    st.server_name = sni;
  else if (!s_->ctx->is_server)
    st.server_name = s_->name;
  if (!st.handshake_complete) return st;
  st.version = SSL_get_version(s_->ssl);
  st.cipher_suite = SSL_get_cipher_name(s_->ssl);
  const unsigned char* alpn = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(s_->ssl, &alpn, &len);
  if (alpn) st.negotiated_protocol.assign(reinterpret_cast<const char*>(alpn), len);
  if (X509* peer = SSL_get0_peer_certificate(s_->ssl)) {
    char buf[512];
    X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf);
    st.peer_subject = buf;
  }
  return st;
}

std::string Conn::error_detail() const {
  if (!s_) return {};
  std::lock_guard l(s_->smu);
  return s_->detail;
}

Result<Conn> dial(std::string_view network, std::string_view address, const Context& ctx,
                  net::Deadline deadline) {
  net::Dialer d;
  d.deadline = deadline;
  auto [c, err] = d.dial(network, address);
  if (err) return {Conn(), err};
  std::string name;
  if (ctx.ctx_ && ctx.ctx_->cfg.server_name.empty()) name = net::split_host_port(address).value.host;
  Conn tc = client(std::move(c), ctx, name);
  if (deadline != net::Deadline{}) tc.set_deadline(deadline);
  if (auto e = tc.handshake()) {
    tc.net_conn().close();
    return {std::move(tc), e};  // closed, but error_detail() says why
  }
  if (deadline != net::Deadline{}) tc.set_deadline({});
  return {std::move(tc), {}};
}

}  // namespace gort::tls
