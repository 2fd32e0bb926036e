// server.hpp: the proxy's listeners and their accept loops (the talk's
// accept loop: accept, and `go` one fiber per conn), the connection limit,
// graceful shutdown and reload.
//
//  - Limit: a slot (a buffered channel used as a semaphore, Go's idiom) is
//    taken before each accept and given back when the conn ends. With all
//    max_connections slots taken the accept loops wait: new clients queue in
//    the kernel's backlog (backpressure), none is accepted and dropped.
//  - Shutdown (SIGTERM, SIGINT): the listeners close; conns in flight go on
//    for up to the grace period; then the client sockets still open are
//    shut down (both ways), which ends their copies, and they are logged
//    with end=shutdown.
//  - Reload (SIGHUP): a new Config, already validated, is made ready
//    (certificates loaded) before anything changes; then listeners whose
//    address stays get the new routes (new conns only: a conn keeps the
//    ListenerState it started with), new addresses are opened, dropped ones
//    closed. Any failure leaves the old config serving, untouched.
//    max_connections, metrics and the access log are read at start only.
//
// Locks: mu_ protects bound_ and each Bound's state; active_mu_ protects
// active_fds_. Neither is held across a park or a go() (which may yield).
// Order: mu_, then active_mu_.
#pragma once

#include "access_log.hpp"
#include "config.hpp"
#include "metrics.hpp"
#include "router.hpp"

#include <gort/gort.hpp>
#include <gort/net.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace gort::proxy {

class Server {
 public:
  // metrics and log may be null; they must outlive the Server.
  Server(metrics::ProxyMetrics* metrics, AccessLog* log) : metrics_(metrics), log_(log) {}
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // start listens on every listener of cfg (validated) and starts serving.
  // On failure nothing is left listening, and the error says which.
  std::string start(const Config& cfg);
  // reload applies cfg (validated) as described above; "" on success.
  std::string reload(const Config& cfg);
  // shutdown stops accepting, lets conns finish for up to grace, then cuts
  // the rest, and returns once every conn fiber is done.
  void shutdown(Duration grace);
  // cut_now ends a shutdown's grace period early (a second signal).
  void cut_now() noexcept { cut_early_.store(true, std::memory_order_release); }

  // addresses: each listener's name and bound address (the real port for
  // ":0"), in config order.
  std::vector<std::pair<std::string, std::string>> addresses() const;
  int active() const noexcept { return active_.load(std::memory_order_acquire); }

 private:
  struct Bound {
    std::string name, address;
    net::Listener ln;
    std::shared_ptr<ListenerState> state;  // under Server::mu_
    gort::WaitGroup done;                  // the accept loop
  };

  std::string open(const Config& cfg, std::vector<std::unique_ptr<Bound>>* out,
                   const std::vector<Bound*>& reuse);
  void accept_loop(Bound* b);
  void start_loops(const std::vector<Bound*>& loops);
  void finish(ConnInfo& info);

  metrics::ProxyMetrics* metrics_;
  AccessLog* log_;
  gort::Chan<int> slots_;  // cap max_connections: a value in it is a conn (or an accept waiting)
  gort::Chan<int> quit_;   // closed at shutdown
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Bound>> bound_;
  std::vector<std::unique_ptr<Bound>> retired_;  // closed by a reload; their loops are waited for at shutdown
  std::mutex active_mu_;
  std::unordered_set<int> active_fds_;  // client sockets of the conns in flight
  std::atomic<int> active_{0};
  std::atomic<bool> cut_{false};        // the grace period is over
  std::atomic<bool> cut_early_{false};  // cut_now() was called
  gort::WaitGroup conns_;               // every conn fiber
  bool stopped_ = false;
};

}  // namespace gort::proxy
