// metrics.hpp: the proxy's metrics in the Prometheus text format (0.0.4),
// and the HTTP endpoint that serves them (metrics.cpp: the registry and
// render(); metrics_proxy.cpp: ProxyMetrics and the runtime and process
// gauges; metrics_http.cpp: the endpoint).
//
//   metrics::Registry reg;
//   metrics::ProxyMetrics m(reg);              // the proxy's families; gort's and the process's gauges
//   auto route = m.route("https", "api");      // once per route: stable handles
//   route.connections->inc();                  // then lock-free: one relaxed atomic add
//   route.bytes_client_to_upstream->inc(n);
//   m.error("https", "api", metrics::kind::dial).inc();
//   auto [ln, err] = metrics::listen_metrics("127.0.0.1:9090");  // loopback unless allow_public
//   metrics::MetricsServer srv(std::move(ln), reg);              // GET /metrics, GET /healthz
//
// The model is Prometheus's: a family has a name, a help text, a type and
// fixed label names; a series is one set of label values in a family,
// created the first time with() asks for it and kept for the registry's
// life, so the reference with() returns stays valid until the registry is
// destroyed and may be cached. A series is atomics only: updates take no
// lock. Counters count whole things (connections, bytes) in 64 bits;
// gauges and histogram sums are doubles.
//
// Misuse is a programming error and throws std::invalid_argument at the
// call that made it (at startup, or on a series' first use): a name that is
// not a Prometheus name, a name registered twice with another type, labels
// or buckets, with() given the wrong number of label values.
//
// Locks: Registry::collect_mu_ serialises the collectors, Registry::mu_
// protects the family map, Family::mu_ its series map; the order is
// collect_mu_ < mu_ < Family::mu_. Plain std:: locks, held for a map
// lookup or a render and never across a call that parks. MetricsServer's
// own lock is in metrics_http.cpp.
#pragma once

#include <gort/errors.hpp>
#include <gort/net.hpp>
#include <gort/wait_group.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace gort::proxy::metrics {

// Counter: a total that only grows. A cache line each, so that the
// counters of two routes bumped on two Ps do not share one.
class alignas(64) Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }
  // store sets the total: for a counter that mirrors one kept elsewhere
  // (io::stats()), set by a collector at scrape time. Not mixed with inc.
  void store(std::uint64_t total) noexcept { v_.store(total, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// Gauge: a value that goes up and down (active connections, queue lengths).
class alignas(64) Gauge {
 public:
  void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
  void inc() noexcept { add(1); }
  void dec() noexcept { add(-1); }
  double value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Histogram: observations counted into fixed buckets by upper bound
// (inclusive, Prometheus's `le`), plus +Inf, and their sum. Buckets are kept
// apart and added up at render, so `_count` always equals the +Inf bucket
// even while observations race with a scrape.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);  // strictly increasing, finite
  void observe(double v) noexcept;                     // NaN counts in +Inf only
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> d) noexcept {  // in seconds
    observe(std::chrono::duration<double>(d).count());
  }

  struct Snapshot {
    std::vector<double> bounds;             // as given; +Inf is implied after them
    std::vector<std::uint64_t> cumulative;  // bounds.size() + 1 counts: <= each bound, then all
    double sum = 0;
    std::uint64_t count() const noexcept { return cumulative.back(); }
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds: for a whole connection's life, and for a short
// step (a dial, a ClientHello, a TLS handshake).
inline constexpr double kConnectionBuckets[] = {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
inline constexpr double kLatencyBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};

enum class Type { counter, gauge, histogram };

// FamilyBase: what the registry knows of every family.
class FamilyBase {
 public:
  virtual ~FamilyBase();
  const std::string& name() const noexcept { return name_; }
  Type type() const noexcept { return type_; }
  // render appends the family in the text format: # HELP, # TYPE, a line
  // per sample; nothing if it has no series yet.
  virtual void render(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> labels);
  // same reports whether a registration asks for this family again.
  bool same(Type type, std::initializer_list<std::string_view> labels) const;
  std::string label_pairs(std::span<const std::string_view> values) const;  // `a="x",b="y"`, escaped
  void render_header(std::string& out) const;

  std::string name_, help_;
  Type type_;
  std::vector<std::string> labels_;

  friend class Registry;
};

// LabelLess: orders label-value vectors, and finds one by a span of views.
struct LabelLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// Family: the series of one family, by label values (M is Counter, Gauge or
// Histogram). Rendered in the order of their label values.
template <class M>
class Family final : public FamilyBase {
 public:
  // with returns the series for these label values (as many as the
  // family's label names), creating it the first time. Cache the
  // reference: it is valid for the registry's life.
  M& with(std::initializer_list<std::string_view> values) {
    return with(std::span(values.begin(), values.size()));
  }
  M& with(std::span<const std::string_view> values);
  void render(std::string& out) const override;

  Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
         std::vector<double> bounds = {});

 private:
  struct Series {
    std::string labels;  // rendered: `a="x",b="y"`, "" without labels
    std::unique_ptr<M> m;
  };
  mutable std::shared_mutex mu_;  // protects series_ (shared: lookups, render; unique: creation)
  std::map<std::vector<std::string>, Series, LabelLess> series_;
  std::vector<double> bounds_;  // histograms' buckets

  friend class Registry;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// Registry: the families of one endpoint. Registering a name again with the
// same type, labels (and buckets) returns the family already there.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& counter_family(std::string_view name, std::string_view help,
                                std::initializer_list<std::string_view> labels = {});
  GaugeFamily& gauge_family(std::string_view name, std::string_view help,
                            std::initializer_list<std::string_view> labels = {});
  HistogramFamily& histogram_family(std::string_view name, std::string_view help,
                                    std::initializer_list<std::string_view> labels,
                                    std::span<const double> buckets);
  // counter and gauge: a family without labels, and its one series.
  Counter& counter(std::string_view name, std::string_view help) {
    return counter_family(name, help).with({});
  }
  Gauge& gauge(std::string_view name, std::string_view help) { return gauge_family(name, help).with({}); }

  // has: is a family of this name registered?
  bool has(std::string_view name) const;

  // add_collector: collect runs at the start of every render, one render at
  // a time, to store values read from elsewhere into series (gort::stats()).
  void add_collector(std::function<void()> collect);

  // render runs the collectors and returns every family in the text
  // format 0.0.4, families by name, series by label values.
  std::string render();

 private:
  template <class M>
  Family<M>& family(std::string_view name, std::string_view help, Type type,
                    std::initializer_list<std::string_view> labels, std::span<const double> buckets);

  std::mutex collect_mu_;                          // serialises collectors_' runs; guards collectors_
  std::vector<std::function<void()>> collectors_;  // guarded by collect_mu_
  mutable std::mutex mu_;                          // protects families_ (the map, not the families)
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_;
};

// escape_label_value: Prometheus's escaping in a label value: backslash,
// double quote and newline as \\, \" and \n. escape_help: backslash and
// newline. format_value: a sample value (shortest round-trip form, +Inf,
// -Inf, NaN).
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
std::string format_value(double v);

// ---- the proxy's families (metrics_proxy.cpp) ----

// kind: the values of errors_total's "kind" label the proxy uses:
//   hello_timeout    no whole ClientHello in time
//   not_tls          the first bytes were no TLS handshake
//   malformed_hello  a ClientHello that does not parse
//   no_route         no route for the server name
//   dial             the upstream could not be reached
//   upstream_closed  the upstream reset or failed mid-copy
//   client_reset     the client reset or failed mid-copy
//   idle_timeout     no byte either way for too long
//   tls_handshake    terminating TLS failed
//   limit            refused: too many connections
namespace kind {
inline constexpr std::string_view hello_timeout = "hello_timeout", not_tls = "not_tls",
                                  malformed_hello = "malformed_hello", no_route = "no_route", dial = "dial",
                                  upstream_closed = "upstream_closed", client_reset = "client_reset",
                                  idle_timeout = "idle_timeout", tls_handshake = "tls_handshake",
                                  limit = "limit";
}  // namespace kind

// direction: the values of bytes_total's "direction" label.
inline constexpr std::string_view kClientToUpstream = "client_to_upstream";
inline constexpr std::string_view kUpstreamToClient = "upstream_to_client";

// RouteSeries: the series of one (listener, route), looked up once.
struct RouteSeries {
  Counter* connections = nullptr;               // connections_total{listener, route}
  Counter* bytes_client_to_upstream = nullptr;  // bytes_total{route, direction}
  Counter* bytes_upstream_to_client = nullptr;
  Histogram* duration = nullptr;  // connection_duration_seconds{route}
  Histogram* dial = nullptr;      // upstream_dial_seconds{route}
};

// ProxyMetrics: the proxy's families, registered in reg, and collectors
// for gort's scheduler, io::copy's paths and the process. A connection
// that took no route (a hello error, no_route) has route "".
struct ProxyMetrics {
  explicit ProxyMetrics(Registry& reg);

  CounterFamily& connections_total;              // gort_proxy_connections_total{listener, route}
  GaugeFamily& connections_active;               // gort_proxy_connections_active{listener}
  CounterFamily& bytes_total;                    // gort_proxy_bytes_total{route, direction}
  CounterFamily& errors_total;                   // gort_proxy_errors_total{listener, route, kind}
  HistogramFamily& connection_duration_seconds;  // gort_proxy_connection_duration_seconds{route}
  HistogramFamily& upstream_dial_seconds;        // gort_proxy_upstream_dial_seconds{route}
  HistogramFamily& client_hello_seconds;   // gort_proxy_client_hello_seconds{listener}: accept to whole hello
  HistogramFamily& tls_handshake_seconds;  // gort_proxy_tls_handshake_seconds{listener}: terminated TLS

  RouteSeries route(std::string_view listener, std::string_view route);
  Counter& error(std::string_view listener, std::string_view route, std::string_view kind) {
    return errors_total.with({listener, route, kind});
  }
};

// add_runtime_metrics: gauges and counters read at scrape time from
// gort::stats() (gort_procs, gort_fibers_alive, gort_ms, gort_idle_ps,
// gort_run_queue_length{p}, ...) and io::stats() (gort_io_copy_bytes_total{path}).
// ProxyMetrics calls both; a second call on one registry does nothing.
void add_runtime_metrics(Registry& reg);
// add_process_metrics: process_open_fds, process_max_fds,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, from /proc/self (Prometheus's standard names).
void add_process_metrics(Registry& reg);

// ---- the endpoint (metrics_http.cpp) ----

enum class metrics_errc {
  not_loopback = 1,  // listen_metrics: the address is not a loopback one, and allow_public is not set
};
const std::error_category& metrics_category() noexcept;  // name() == "gort.metrics"
inline std::error_code make_error_code(metrics_errc e) noexcept {
  return {static_cast<int>(e), metrics_category()};
}

struct ListenOptions {
  bool allow_public = false;  // listen on any address, not only 127.0.0.0/8 and ::1
};

// listen_metrics listens on a TCP "host:port" for the endpoint. The host is
// resolved first, and unless opts.allow_public the address must be a
// loopback one: ":9090", "0.0.0.0:9090" or a public IP fail with
// metrics_errc::not_loopback, whose message says so.
Result<net::Listener> listen_metrics(std::string_view address, const ListenOptions& opts = {});

struct ServeOptions {
  std::chrono::steady_clock::duration read_timeout = std::chrono::seconds(5);    // the whole request head
  std::chrono::steady_clock::duration write_timeout = std::chrono::seconds(10);  // the whole response
  std::size_t max_header_bytes = 8192;  // a longer request head gets 431
  int max_conns = 64;                   // conns served at once; more are closed on accept
};

// MetricsServer serves reg's render() over HTTP/1.x on ln: a fiber accepts
// and starts a fiber per conn, which reads one request head (under
// read_timeout, at most max_header_bytes), answers it and closes the conn.
//   GET|HEAD /metrics  200, text/plain; version=0.0.4
//   GET|HEAD /healthz  200 "ok\n"
//   other paths        404; other methods 405; malformed 400; too long 431
// stop() (and the destructor) closes ln and the conns still open and waits
// for every fiber. Construct, use and destroy it in fibers; reg must
// outlive it.
class MetricsServer {
 public:
  MetricsServer(net::Listener ln, Registry& reg, ServeOptions opts = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const net::Addr& addr() const noexcept { return ln_.addr(); }
  int active_conns() const noexcept;      // conns being served now
  std::uint64_t served() const noexcept;  // conns accepted so far
  void stop();

  struct State;  // metrics_http.cpp: the conns open, for stop()

 private:
  net::Listener ln_;
  std::unique_ptr<State> st_;
  gort::WaitGroup wg_;  // the accept fiber
  bool stopped_ = false;
};

}  // namespace gort::proxy::metrics

template <>
struct std::is_error_code_enum<gort::proxy::metrics::metrics_errc> : std::true_type {};
