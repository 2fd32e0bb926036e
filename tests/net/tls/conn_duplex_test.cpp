// Tests of net/tls/conn.cpp under full duplex: a reader must never wait for
// a writer that is parked on a full socket. The peer is OpenSSL itself on a
// blocking socket in a thread of its own, because it has to do what no gort
// API does while it reads nothing (so that the gort writer stays blocked):
// ask for a TLS 1.3 key update, or send a corrupt record (to which the gort
// reader's SSL_read answers with an alert of its own).
#include "gort_tls_test.hpp"

#include <gort/blocking.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using namespace gort_test;
namespace net = gort::net;
namespace tls = gort::tls;

namespace {

// BlockingPeer: a TLS 1.3 server on 127.0.0.1 in a thread. After the
// handshake it reads nothing until the client's bytes stop arriving (the
// client's writer is then blocked on a full socket). Then:
//   kKeyUpdate: it sends a KeyUpdate that asks the client to update too,
//     then "hello\n";
//   kCorrupt: it sends an application-data record that does not decrypt;
// and waits (at most 10 s) for the client to say it read the hello or its
// read failed (`client_read`). Then kKeyUpdate reads the client's bytes, to
// close_notify; kCorrupt just closes.
struct BlockingPeer {
  enum Mode { kKeyUpdate, kCorrupt };
  Mode mode;
  int lfd = -1;
  int port = 0;
  SSL_CTX* ctx = nullptr;
  std::thread th;
  std::atomic<bool> client_read{false};
  bool client_read_while_blocked = false;  // it did, before this peer read anything
  std::string got, why;

  BlockingPeer(const TestPKI& pki, Mode m) : mode(m) {
    ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, pki.cert("b").c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, pki.key("b").c_str(), SSL_FILETYPE_PEM) != 1) {
      why = "loading b.test's key pair failed";
      return;
    }
    lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 64 * 1024;  // inherited by the accepted socket: the client's writer blocks sooner
    ::setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 1) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      why = "listen failed";
      return;
    }
    port = ntohs(a.sin_port);
    th = std::thread([this] { serve(); });
  }
  // dial: a client conn to this peer for b.test, 60 s deadline, handshake not yet run.
  tls::Conn dial(const TestPKI& pki) const {
    tls::Conn c =
        tls::client(net::dial("tcp", "127.0.0.1:" + std::to_string(port)).value, pki.client(), "b.test");
    c.set_deadline(Clock::now() + 60s);
    return c;
  }

  ~BlockingPeer() {
    if (th.joinable()) th.join();
    if (lfd >= 0) ::close(lfd);
    SSL_CTX_free(ctx);
  }

  void serve() {
    int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    timeval tv{30, 0};  // a broken client cannot hang the test
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) exchange(ssl, fd);
    SSL_free(ssl);
    ::close(fd);
  }

  void exchange(SSL* ssl, int fd) {
    // Wait until the client's bytes stop arriving: its writer is blocked.
    int last = -1, still = 0;
    for (int i = 0; i < 1000 && still < 5; i++) {
      int queued = 0;
      ::ioctl(fd, FIONREAD, &queued);
      still = queued > 0 && queued == last ? still + 1 : 0;
      last = queued;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (mode == kCorrupt) {
      const unsigned char record[5 + 32] = {23, 3, 3, 0, 32, 0xde, 0xad};  // fails its AEAD tag
      if (::send(fd, record, sizeof record, MSG_NOSIGNAL) != sizeof record) why = "send failed";
    } else if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 || SSL_write(ssl, "hello\n", 6) != 6) {
      why = "the KeyUpdate or the hello could not be sent";
    }
    for (int i = 0; i < 1000 && !client_read.load(); i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    client_read_while_blocked = client_read.load();
    if (mode == kCorrupt || !why.empty()) return;
    char buf[16 * 1024];
    for (;;) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) {
        if (SSL_get_error(ssl, n) != SSL_ERROR_ZERO_RETURN)
          why = "reading the client's bytes failed: " + std::to_string(ERR_get_error());
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    SSL_shutdown(ssl);
  }
};

}  // namespace

TEST_CASE("tls: a key update while our writer is blocked: the reader goes on, and every byte arrives") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  const std::string up = pattern(16 << 20);  // more than the socket buffers hold
  for_each_procs([&](int) {
    BlockingPeer peer(pki, BlockingPeer::kKeyUpdate);
    REQUIRE_MESSAGE(peer.port != 0, peer.why);
    tls::Conn c = peer.dial(pki);
    REQUIRE_FALSE(c.handshake());
    auto wrote = gort::Chan<gort::Result<std::size_t>>(1);
    gort::go([&] {
      auto r = c.write(up);
      c.close_write();
      wrote.send(r);
    });
    std::string got;
    char ch = 0;
    while (got.size() < 6 && ch != '\n') {  // the hello, a byte at a time
      auto [n, err] = c.read(std::span(&ch, 1));
      if (err) break;
      got += ch;
    }
    peer.client_read = true;
    std::error_code rest = tls_read_all(c, &got);  // to the peer's close_notify
    auto w = wrote.recv().value;
    c.close();
    gort::blocking([&] { peer.th.join(); });
    CHECK(got == "hello\n");
    CHECK_FALSE(rest);
    CHECK(peer.client_read_while_blocked);
    CHECK(w.value == up.size());
    CHECK_FALSE(w.err);
    CHECK(peer.why == "");
    CHECK(peer.got == up);  // after our KeyUpdate answer, in its place among our records
  });
}

TEST_CASE("tls: a corrupt record fails the read at once while the writer is blocked on a full socket") {
  TestPKI pki;
  REQUIRE_MESSAGE(pki.ok, pki.why);
  const std::string up = pattern(16 << 20);
  for_each_procs([&](int) {
    BlockingPeer peer(pki, BlockingPeer::kCorrupt);
    REQUIRE_MESSAGE(peer.port != 0, peer.why);
    tls::Conn c = peer.dial(pki);
    REQUIRE_FALSE(c.handshake());
    auto wrote = gort::Chan<gort::Result<std::size_t>>(1);
    gort::go([&] { wrote.send(c.write(up)); });
    char buf[1024];
    // SSL_read answers the record with a bad_record_mac alert of its own;
    // the writer holds the output side, so the alert waits, not the reader.
    auto r = c.read(std::span(buf));
    peer.client_read = true;
    c.close();  // breaks the blocked write
    auto w = wrote.recv().value;
    gort::blocking([&] { peer.th.join(); });
    CHECK(r.value == 0);
    CHECK(r.err == gort::tls_errc::protocol_error);
    CHECK(peer.client_read_while_blocked);  // before: the reader waited for the writer
    CHECK(w.err);
    CHECK(w.value < up.size());
    CHECK(peer.why == "");
  });
}
