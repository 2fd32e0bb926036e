// metrics_http.cpp: the metrics endpoint (metrics.hpp): listen_metrics,
// which keeps it on loopback unless told otherwise, and MetricsServer, a
// minimal HTTP/1.x server on gort::net in the talk's pattern: an accept
// loop in one fiber, a fiber per conn.
//
// A conn's life: one read deadline, set once, covers the whole request head
// (a slowloris that trickles a byte at a time cannot stretch it); the head
// is capped at max_header_bytes; one response with Content-Length and
// Connection: close, under a write deadline; then close (after a short
// drain if the client sent more than the head). No keep-alive, and no
// request body is read (none of the endpoint's requests has one).
//
// Invariants: every conn fiber is counted in State::conn_wg, and the accept
// fiber waits for them all before it ends, so once stop() has waited for the
// accept fiber no fiber touches the server. A conn is in State::conns while
// its fiber may read or write it, so that stop() can close it; once
// stopping is set no conn enters.
//
// State::mu is a gort::Mutex, not a std::mutex: stop() closes conns while
// holding it, and close() parks until the calls in progress return.
#include "metrics.hpp"

#include <gort/go.hpp>
#include <gort/mutex.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace gort::proxy::metrics {

namespace {

class MetricsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gort.metrics"; }
  std::string message(int c) const override {
    switch (static_cast<metrics_errc>(c)) {
      case metrics_errc::not_loopback:
        return "the metrics endpoint listens on a loopback address only (127.0.0.0/8, ::1) "
               "unless allow_public is set";
    }
    return "unknown metrics error";
  }
};

bool is_loopback(const net::Addr& a) {
  if (a.family() == AF_INET) {
    auto* sin = reinterpret_cast<const ::sockaddr_in*>(a.sockaddr());
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.family() == AF_INET6) {
    const ::in6_addr& ip = reinterpret_cast<const ::sockaddr_in6*>(a.sockaddr())->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&ip) || (IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127);
  }
  return false;
}

// head_end: where the request head ends (after its blank line; a bare LF
// counts as a line end, as in Go's server), or npos if it has not yet.
std::size_t head_end(std::string_view s) {
  std::size_t crlf = s.find("\r\n\r\n"), lf = s.find("\n\n");
  if (crlf != std::string_view::npos) crlf += 4;
  if (lf != std::string_view::npos) lf += 2;
  return std::min(crlf, lf);
}

std::string response(std::string_view status, std::string_view type, std::string_view body, bool head_only,
                     std::string_view extra = {}) {
  std::string r = "HTTP/1.1 ";
  r.append(status).append("\r\nContent-Type: ").append(type);
  r.append("\r\nContent-Length: ").append(std::to_string(body.size()));
  r.append("\r\nConnection: close\r\n").append(extra).append("\r\n");
  if (!head_only) r.append(body);
  return r;
}

std::string error_response(std::string_view status, bool head_only = false, std::string_view extra = {}) {
  return response(status, "text/plain; charset=utf-8", std::string(status.substr(4)) + "\n", head_only,
                  extra);
}

bool is_token(std::string_view s) {  // RFC 9110's token: a method or a header name
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 || std::string_view("\"(),/:;<=>?@[\\]{}").find(c) != std::string_view::npos)
      return false;
  }
  return true;
}

// answer: the response to one request head (its blank line included).
std::string answer(std::string_view head, Registry& reg) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    std::size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
  }
  if (lines.empty()) return error_response("400 Bad Request");
  // The request line: METHOD SP target SP HTTP/1.x, single spaces.
  std::string_view rl = lines[0];
  std::size_t sp1 = rl.find(' '), sp2 = rl.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == sp2) return error_response("400 Bad Request");
  std::string_view method = rl.substr(0, sp1), target = rl.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = rl.substr(sp2 + 1);
  if (!is_token(method) || target.empty() || target[0] != '/' || target.find(' ') != std::string_view::npos)
    return error_response("400 Bad Request");
  if (version != "HTTP/1.0" && version != "HTTP/1.1") {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    bool http = version.size() == 8 && version.substr(0, 5) == "HTTP/" && digit(version[5]) &&
                version[6] == '.' && digit(version[7]);
    return error_response(http ? "505 HTTP Version Not Supported" : "400 Bad Request");
  }
  bool host = false;
  for (std::size_t i = 1; i < lines.size(); i++) {
    if (lines[i].empty()) break;  // the blank line
    std::size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos || !is_token(lines[i].substr(0, colon)))
      return error_response("400 Bad Request");  // also an obsolete folded line, which starts with a space
    std::string name(lines[i].substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    host |= name == "host";
  }
  bool head_only = method == "HEAD";
  if (version == "HTTP/1.1" && !host) return error_response("400 Bad Request", head_only);  // RFC 9112 3.2
  std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics" && path != "/healthz") return error_response("404 Not Found", head_only);
  if (method != "GET" && !head_only)
    return error_response("405 Method Not Allowed", false, "Allow: GET, HEAD\r\n");
  if (path == "/healthz") return response("200 OK", "text/plain; charset=utf-8", "ok\n", head_only);
  return response("200 OK", "text/plain; version=0.0.4; charset=utf-8", reg.render(), head_only);
}

}  // namespace

const std::error_category& metrics_category() noexcept {
  static const MetricsCategory c;
  return c;
}

Result<net::Listener> listen_metrics(std::string_view address, const ListenOptions& opts) {
  if (opts.allow_public) return net::listen("tcp", address);
  auto hp = net::split_host_port(address);
  if (hp.err) return {{}, hp.err};
  if (hp.value.host.empty()) return {{}, metrics_errc::not_loopback};  // every interface
  auto a = net::resolve_addr("tcp", address);
  if (a.err) return {{}, a.err};
  if (!is_loopback(a.value)) return {{}, metrics_errc::not_loopback};
  return net::listen("tcp", a.value.to_string());  // the address checked, not the name again
}

struct MetricsServer::State {
  State(Registry& r, ServeOptions o) : reg(r), opts(o) {}
  Registry& reg;
  const ServeOptions opts;
  std::atomic<int> active{0};
  std::atomic<std::uint64_t> served{0};
  gort::WaitGroup conn_wg;  // the conn fibers

  gort::Mutex mu;              // protects conns and stopping
  std::set<net::Conn*> conns;  // the conns whose fibers are serving them
  bool stopping = false;

  void accept_loop(net::Listener& ln);
  void serve(net::Conn& c);
  void handle(net::Conn& c);
};

void MetricsServer::State::accept_loop(net::Listener& ln) {
  for (;;) {
    auto r = ln.accept();
    if (r.err) break;  // io_errc::closed from stop(), or a failure accept does not ride out
    served.fetch_add(1, std::memory_order_relaxed);
    if (active.load(std::memory_order_relaxed) >= opts.max_conns) continue;  // r.value closes here
    active.fetch_add(1, std::memory_order_relaxed);
    conn_wg.add(1);
    gort::go(
        [this](net::Conn c) {
          serve(c);
          active.fetch_sub(1, std::memory_order_relaxed);
          conn_wg.done();
        },
        std::move(r.value));
  }
  {
    std::lock_guard<gort::Mutex> lock(mu);
    stopping = true;
    for (net::Conn* c : conns) c->close();  // wakes their reads and writes with io_errc::closed
  }
  conn_wg.wait();
}

void MetricsServer::State::serve(net::Conn& c) {
  {
    std::lock_guard<gort::Mutex> lock(mu);
    if (stopping) return;
    conns.insert(&c);
  }
  handle(c);
  {
    std::lock_guard<gort::Mutex> lock(mu);
    conns.erase(&c);
  }
  c.close();
}

void MetricsServer::State::handle(net::Conn& c) {
  c.set_read_deadline(std::chrono::steady_clock::now() + opts.read_timeout);
  std::string head;
  char buf[2048];
  std::size_t end;
  while ((end = head_end(head)) == std::string::npos && head.size() <= opts.max_header_bytes) {
    auto [n, err] = c.read(buf, sizeof buf);
    head.append(buf, n);
    if (err) return;  // EOF, the deadline, a reset: no request to answer
  }
  std::string resp = end <= opts.max_header_bytes ? answer(std::string_view(head).substr(0, end), reg)
                                                  : error_response("431 Request Header Fields Too Large");
  c.set_write_deadline(std::chrono::steady_clock::now() + opts.write_timeout);
  if (c.write(resp).err) return;
  // Bytes the client sent that were not read (past a head too long, or a
  // request after this one) would make close() reset the conn, and the
  // reset may destroy the response in the client's buffer before it is
  // read. So then: FIN first, and read what still comes for a while (Go's
  // closeWriteAndWait waits 500 ms for the same reason).
  if (end != std::string::npos && end <= opts.max_header_bytes && end == head.size()) return;
  c.close_write();
  c.set_read_deadline(std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
  for (std::size_t drained = 0; drained < (1u << 20);) {
    auto [n, err] = c.read(buf, sizeof buf);
    drained += n;
    if (err) return;
  }
}

MetricsServer::MetricsServer(net::Listener ln, Registry& reg, ServeOptions opts)
    : ln_(std::move(ln)), st_(std::make_unique<State>(reg, opts)) {
  wg_.add(1);
  gort::go([this] {
    st_->accept_loop(ln_);
    wg_.done();
  });
}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  ln_.close();
  wg_.wait();
}

int MetricsServer::active_conns() const noexcept { return st_->active.load(std::memory_order_relaxed); }
std::uint64_t MetricsServer::served() const noexcept { return st_->served.load(std::memory_order_relaxed); }

}  // namespace gort::proxy::metrics
