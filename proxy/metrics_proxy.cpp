// metrics_proxy.cpp: ProxyMetrics, the proxy's families; and the
// collectors that read gort's scheduler counters (gort::stats()), io::copy's
// (io::stats()) and the process's standard gauges (/proc/self) at each
// scrape (metrics.hpp).
#include "metrics.hpp"

#include <gort/io.hpp>
#include <gort/stats.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace gort::proxy::metrics {

// ---- ProxyMetrics ----

ProxyMetrics::ProxyMetrics(Registry& reg)
    : connections_total(reg.counter_family("gort_proxy_connections_total",
                                           "Connections accepted, by listener and the route they took.",
                                           {"listener", "route"})),
      connections_active(reg.gauge_family("gort_proxy_connections_active",
                                          "Connections open now, by listener.", {"listener"})),
      bytes_total(reg.counter_family("gort_proxy_bytes_total", "Bytes copied, by route and direction.",
                                     {"route", "direction"})),
      errors_total(reg.counter_family("gort_proxy_errors_total",
                                      "Connections that failed, by kind of failure.",
                                      {"listener", "route", "kind"})),
      connection_duration_seconds(reg.histogram_family("gort_proxy_connection_duration_seconds",
                                                       "How long connections lasted, accept to close.",
                                                       {"route"}, kConnectionBuckets)),
      upstream_dial_seconds(reg.histogram_family("gort_proxy_upstream_dial_seconds",
                                                 "How long dialling the upstream took.", {"route"},
                                                 kLatencyBuckets)),
      client_hello_seconds(reg.histogram_family("gort_proxy_client_hello_seconds",
                                                "From accept to a whole TLS ClientHello.", {"listener"},
                                                kLatencyBuckets)),
      tls_handshake_seconds(reg.histogram_family("gort_proxy_tls_handshake_seconds",
                                                 "How long terminating TLS handshakes took.", {"listener"},
                                                 kLatencyBuckets)) {
  add_runtime_metrics(reg);
  add_process_metrics(reg);
}

RouteSeries ProxyMetrics::route(std::string_view listener, std::string_view route) {
  return RouteSeries{
      .connections = &connections_total.with({listener, route}),
      .bytes_client_to_upstream = &bytes_total.with({route, kClientToUpstream}),
      .bytes_upstream_to_client = &bytes_total.with({route, kUpstreamToClient}),
      .duration = &connection_duration_seconds.with({route}),
      .dial = &upstream_dial_seconds.with({route}),
  };
}

// ---- gort's and the process's gauges ----

void add_runtime_metrics(Registry& reg) {
  if (reg.has("gort_procs")) return;  // added already: one collector is enough
  struct Series {
    Gauge &procs, &alive, &ms, &spinning, &idle_ms, &idle_ps, &global, &timers, &stacks;
    Counter &spawned, &switches, &steals, &stolen, &splice, &sendfile, &buffered, &small;
    GaugeFamily& runq;
  };
  CounterFamily& copied =
      reg.counter_family("gort_io_copy_bytes_total", "Bytes moved by io::copy, by path.", {"path"});
  Series s{
      reg.gauge("gort_procs", "Ps: how many fibers may run at once (GORT_MAXPROCS)."),
      reg.gauge("gort_fibers_alive", "Fibers spawned and not yet finished."),
      reg.gauge("gort_ms", "OS threads (Ms) running the scheduler."),
      reg.gauge("gort_spinning_ms", "Ms looking for work."),
      reg.gauge("gort_idle_ms", "Ms asleep, waiting for work."),
      reg.gauge("gort_idle_ps", "Ps with nothing to run."),
      reg.gauge("gort_global_run_queue_length", "Fibers in the global run queue."),
      reg.gauge("gort_timers", "Pending timers (sleeping fibers, deadlines)."),
      reg.gauge("gort_stacks_mapped", "Fiber stacks mapped, in use or pooled."),
      reg.counter("gort_fibers_spawned_total", "Fibers spawned (gort::go calls, and main)."),
      reg.counter("gort_fiber_switches_total", "Stack switches into fibers."),
      reg.counter("gort_steals_total", "Successful steals from another P's run queue."),
      reg.counter("gort_stolen_fibers_total", "Fibers moved by steals."),
      copied.with({"splice"}),
      copied.with({"sendfile"}),
      copied.with({"buffered"}),
      copied.with({"small"}),
      reg.gauge_family("gort_run_queue_length", "Fibers in each P's local run queue.", {"p"}),
  };
  reg.add_collector([s] {
    Stats st = gort::stats();
    s.procs.set(st.procs);
    s.alive.set(static_cast<double>(st.fibers_alive));
    s.ms.set(st.ms);
    s.spinning.set(st.spinning_ms);
    s.idle_ms.set(st.idle_ms);
    s.idle_ps.set(st.idle_ps);
    s.global.set(static_cast<double>(st.global_runq));
    s.timers.set(static_cast<double>(st.timers));
    s.stacks.set(static_cast<double>(st.stacks_mapped));
    s.spawned.store(st.fibers_spawned);
    s.switches.store(st.switches);
    s.steals.store(st.steals);
    s.stolen.store(st.stolen_fibers);
    for (std::size_t p = 0; p < st.runq.size(); p++) s.runq.with({std::to_string(p)}).set(st.runq[p]);
    io::Stats io = io::stats();
    s.splice.store(io.splice_bytes);
    s.sendfile.store(io.sendfile_bytes);
    s.buffered.store(io.buffered_bytes);
    s.small.store(io.small_bytes);
  });
}

namespace {

// read_small reads a small file of /proc ("" if it cannot).
std::string read_small(const char* path) {
  std::string out;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

// start_time: when the process started, in seconds since the epoch: its
// start in clock ticks after boot (/proc/self/stat's 22nd field, counted
// after the parenthesised command name, which may hold spaces) plus the
// boot time (/proc/stat's btime). 0 if either cannot be read.
double start_time() {
  std::string stat = read_small("/proc/self/stat");
  std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  const char* p = stat.c_str() + paren + 1;
  for (int field = 3; field < 22 && *p; field++) {  // skip to the space before field 22
    while (*p == ' ') p++;
    while (*p && *p != ' ') p++;
  }
  double ticks = std::strtod(p, nullptr);
  std::string st = read_small("/proc/stat");
  std::size_t bt = st.find("\nbtime ");
  if (bt == std::string::npos) return 0;
  double boot = std::strtod(st.c_str() + bt + 7, nullptr);
  return boot + ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// open_fds counts /proc/self/fd's entries, less the one reading it.
int open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;
  int n = 0;
  std::string own = std::to_string(::dirfd(d));
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.' && own != e->d_name) n++;
  ::closedir(d);
  return n;
}

}  // namespace

void add_process_metrics(Registry& reg) {
  if (reg.has("process_open_fds")) return;
  reg.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
      .set(start_time());
  Gauge& fds = reg.gauge("process_open_fds", "Number of open file descriptors.");
  Gauge& max_fds = reg.gauge("process_max_fds", "Maximum number of open file descriptors.");
  Gauge& rss = reg.gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  Gauge& vsz = reg.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  reg.add_collector([&fds, &max_fds, &rss, &vsz] {
    fds.set(open_fds());
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0)
      max_fds.set(rl.rlim_cur == RLIM_INFINITY ? INFINITY : static_cast<double>(rl.rlim_cur));
    std::string statm = read_small("/proc/self/statm");  // "size resident shared ..." in pages
    char* end = nullptr;
    double pages = std::strtod(statm.c_str(), &end);
    double resident = std::strtod(end, nullptr);
    double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    vsz.set(pages * page);
    rss.set(resident * page);
  });
}

}  // namespace gort::proxy::metrics
