// server.cpp: Server (see server.hpp).
#include "server.hpp"

#include "session.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace gort::proxy {

namespace {
using Clock = std::chrono::steady_clock;
}

Server::~Server() {
  if (!stopped_ && !slots_.is_nil()) shutdown(Duration(0));
}

std::string Server::open(const Config& cfg, std::vector<std::unique_ptr<Bound>>* out,
                         const std::vector<Bound*>& reuse) {
  for (const Listener& l : cfg.listeners) {
    std::string err;
    auto state = build_listener(l, cfg, &err);
    if (!state) return err;
    auto b = std::make_unique<Bound>();
    b->name = l.name;
    b->address = l.address;
    b->state = std::move(state);
    bool kept = false;
    for (Bound* old : reuse) kept |= old->address == l.address;
    if (!kept) {
      net::ListenConfig lc;
      lc.reuse_port = l.reuse_port;
      // Out of fds (or memory), accept backs off and retries (net/listen.cpp), and
      // says so here: clients wait in the kernel's queue meanwhile.
      lc.accept_backoff = [name = l.name](std::error_code e, std::chrono::milliseconds delay) {
        std::fprintf(stderr, "gort-proxy: listener \"%s\": accept: %s; retrying in %lld ms\n", name.c_str(),
                     e.message().c_str(), static_cast<long long>(delay.count()));
      };
      auto r = net::listen("tcp", l.address, lc);
      if (r.err) return "listener \"" + l.name + "\": listen " + l.address + ": " + r.err.message();
      b->ln = std::move(r.value);
    }
    out->push_back(std::move(b));
  }
  return {};
}

std::string Server::start(const Config& cfg) {
  slots_ = gort::Chan<int>(static_cast<std::size_t>(std::max(1, cfg.max_connections)));
  quit_ = gort::Chan<int>(0);
  std::vector<std::unique_ptr<Bound>> fresh;
  if (std::string err = open(cfg, &fresh, {}); !err.empty()) return err;  // ~Bound closes what opened
  std::vector<Bound*> loops;
  {
    std::lock_guard l(mu_);
    bound_ = std::move(fresh);
    for (auto& b : bound_) {
      b->done.add(1);
      loops.push_back(b.get());
    }
  }
  start_loops(loops);
  return {};
}

// start_loops spawns the accept loops, outside mu_: go() may yield
// (<gort/go.hpp>), and mu_ is a std::mutex, which must not be held then.
void Server::start_loops(const std::vector<Bound*>& loops) {
  for (Bound* p : loops) gort::go([this, p] { accept_loop(p); });
}

std::string Server::reload(const Config& cfg) {
  std::vector<Bound*> current;
  {
    std::lock_guard l(mu_);
    for (auto& b : bound_) current.push_back(b.get());
  }
  std::vector<std::unique_ptr<Bound>> fresh;
  if (std::string err = open(cfg, &fresh, current); !err.empty()) return err;  // nothing changed yet
  std::vector<Bound*> loops;
  std::unique_lock l(mu_);
  std::vector<std::unique_ptr<Bound>> next;
  for (auto& nb : fresh) {
    auto it =
        std::find_if(bound_.begin(), bound_.end(), [&](auto& b) { return b && b->address == nb->address; });
    if (it != bound_.end()) {  // same address: new routes for new conns
      (*it)->state = std::move(nb->state);
      (*it)->name = nb->name;
      next.push_back(std::move(*it));
    } else {  // a new address
      nb->done.add(1);
      loops.push_back(nb.get());
      next.push_back(std::move(nb));
    }
  }
  for (auto& b : bound_) {
    if (!b) continue;
    b->ln.close();  // dropped: its accept loop ends; its conns go on
    retired_.push_back(std::move(b));
  }
  bound_ = std::move(next);
  l.unlock();
  start_loops(loops);
  return {};
}

void Server::accept_loop(Bound* b) {
  for (;;) {
    bool quit = false;  // a free slot, or wait (backpressure), or shutdown
    gort::select(gort::on_send(slots_, 0, [] {}), gort::on_recv(quit_, [&](int) { quit = true; }));
    if (quit) break;
    auto [conn, err] = b->ln.accept();
    if (err) {
      slots_.recv();
      break;  // closed (shutdown, reload), or an error accept does not ride out
    }
    std::shared_ptr<ListenerState> state;
    {
      std::lock_guard l(mu_);
      state = b->state;
    }
    active_.fetch_add(1, std::memory_order_acq_rel);
    conns_.add(1);
    gort::go(
        [this](net::Conn c, std::shared_ptr<ListenerState> st) {
          ConnInfo info;
          info.start = Clock::now();
          if (metrics_) metrics_->connections_active.with({st->cfg.name}).inc();
          Hooks hooks;
          hooks.registered = [this](int fd) {
            std::lock_guard l(active_mu_);
            active_fds_.insert(fd);
          };
          hooks.unregistered = [this](int fd) {
            std::lock_guard l(active_mu_);
            active_fds_.erase(fd);
          };
          serve_conn(std::move(c), *st, &info, hooks);
          info.duration = Clock::now() - info.start;
          if (metrics_) metrics_->connections_active.with({st->cfg.name}).dec();
          finish(info);
          slots_.recv();
          active_.fetch_sub(1, std::memory_order_acq_rel);
          conns_.done();
        },
        std::move(conn), std::move(state));
  }
  b->done.done();
}

void Server::finish(ConnInfo& info) {
  if (cut_.load(std::memory_order_acquire) && info.end != "idle_timeout") info.end = "shutdown";
  if (log_) log_->write(info);
  if (!metrics_) return;
  auto rs = metrics_->route(info.listener, info.route);
  rs.connections->inc();
  rs.bytes_client_to_upstream->inc(info.up_bytes);
  rs.bytes_upstream_to_client->inc(info.down_bytes);
  rs.duration->observe(info.duration);
  if (info.dial_time.count() > 0) rs.dial->observe(info.dial_time);
  if (info.hello_time.count() > 0)
    metrics_->client_hello_seconds.with({info.listener}).observe(info.hello_time);
  if (info.handshake_time.count() > 0)
    metrics_->tls_handshake_seconds.with({info.listener}).observe(info.handshake_time);
  if (info.end != "ok") metrics_->error(info.listener, info.route, info.end).inc();
}

void Server::shutdown(Duration grace) {
  if (stopped_ || slots_.is_nil()) return;
  stopped_ = true;
  quit_.close();  // accept loops waiting for a slot give up
  {
    std::lock_guard l(mu_);
    for (auto& b : bound_) b->ln.close();
  }
  for (auto& b : bound_) b->done.wait();
  for (auto& b : retired_) b->done.wait();
  const auto until = Clock::now() + grace;
  while (active() > 0 && Clock::now() < until && !cut_early_.load(std::memory_order_acquire))
    gort::sleep_for(std::chrono::milliseconds(20));
  if (active() > 0) {
    cut_ = true;
    std::lock_guard l(active_mu_);
    for (int fd : active_fds_) ::shutdown(fd, SHUT_RDWR);  // their copies end; the fds stay theirs to close
  }
  conns_.wait();
}

std::vector<std::pair<std::string, std::string>> Server::addresses() const {
  std::lock_guard l(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& b : bound_) out.emplace_back(b->name, b->ln.addr().to_string());
  return out;
}

}  // namespace gort::proxy
