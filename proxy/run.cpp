// run.cpp: serve (see run.hpp).
#include "run.hpp"

#include "config_toml.hpp"
#include "metrics.hpp"

#include <gort/signal.hpp>

#include <signal.h>

#include <cstdarg>
#include <cstdio>
#include <memory>

namespace gort::proxy {

void logf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "gort-proxy: %s\n", buf);
}

int serve(const Config& cfg, const std::string& config_file, const std::function<void(Server&)>& on_ready) {
  // Signals first, so that a ^C during start-up is ours to handle.
  auto notified = os::Signals::notify({SIGINT, SIGTERM, SIGHUP});
  if (notified.err) {
    logf("signals: %s", notified.err.message().c_str());
    return 1;
  }
  os::Signals& sigs = notified.value;
  AccessLog log;
  if (auto e = log.open(cfg.access_log)) {
    logf("access log %s: %s", cfg.access_log.c_str(), e.message().c_str());
    return 1;
  }
  metrics::Registry reg;
  metrics::ProxyMetrics pm(reg);  // with gort's, io::copy's and the process's metrics
  std::unique_ptr<metrics::MetricsServer> ms;
  if (!cfg.metrics_address.empty()) {
    auto l = metrics::listen_metrics(cfg.metrics_address, {cfg.metrics_public});
    if (l.err) {
      logf("metrics %s: %s", cfg.metrics_address.c_str(), l.err.message().c_str());
      return 1;
    }
    ms = std::make_unique<metrics::MetricsServer>(std::move(l.value), reg);
    logf("metrics on http://%s/metrics", ms->addr().to_string().c_str());
  }
  Server srv(&pm, &log);
  if (std::string e = srv.start(cfg); !e.empty()) {
    logf("%s", e.c_str());
    return 1;
  }
  for (auto& [name, addr] : srv.addresses()) logf("listener \"%s\" on %s", name.c_str(), addr.c_str());
  if (on_ready) on_ready(srv);
  gort::Chan<int> second_done(1);  // the second-signal fiber has returned
  bool second_started = false;
  for (;;) {
    auto [sig, err] = sigs.wait();
    if (err) break;
    if (sig == SIGHUP) {
      if (config_file.empty()) {
        logf("SIGHUP: nothing to reload (no --config)");
        continue;
      }
      Config next;
      if (auto e = load_toml_file(config_file, &next)) {
        logf("reload refused, the old config goes on serving: %s", e.message.c_str());
        continue;
      }
      if (std::string e = srv.reload(next); !e.empty()) {
        logf("reload refused, the old config goes on serving: %s", e.c_str());
        continue;
      }
      logf(
          "reloaded %s (listeners and routes; max_connections, grace_period, access_log and metrics "
          "keep their start-up values)",
          config_file.c_str());
      continue;
    }
    logf("%s: closing the listeners; %d connections may finish within %.0f s (again to stop now)",
         sig == SIGINT ? "SIGINT" : "SIGTERM", srv.active(),
         std::chrono::duration<double>(cfg.grace_period).count());
    gort::Chan<int> done(1);
    gort::go([&] {
      srv.shutdown(cfg.grace_period);
      done.send(1);
    });
    second_started = true;
    gort::go([&] {  // a second SIGTERM or SIGINT cuts the grace period short
      for (;;) {
        auto [s2, e2] = sigs.wait();
        if (e2) break;  // stop(): the shutdown is over
        if (s2 == SIGHUP) {
          logf("SIGHUP: ignored while shutting down");
          continue;
        }
        srv.cut_now();
        break;
      }
      second_done.send(1);
    });
    done.recv();
    break;
  }
  sigs.stop();                             // the second-signal fiber's wait() returns closed,
  if (second_started) second_done.recv();  // and it is gone before sigs and srv, which it uses
  if (ms) ms->stop();
  logf("stopped");
  return 0;
}

}  // namespace gort::proxy
