// Tests of proxy/metrics.cpp, metrics_proxy.cpp and metrics_http.cpp: the
// text format against golden text, escaping, exact sums from many fibers on
// several Ps, cumulative histograms, the runtime's and the process's
// gauges; and the endpoint from outside: curl, and Python's urllib with
// prometheus_client's parser and stricter checks of our own on top (Debian's
// python3-prometheus-client, which tools/setup-deps.sh installs), raw
// requests for the error statuses, a slowloris dropped at its deadline, and
// listen_metrics refusing a public address.
#include "gort_net_test.hpp"

#include <gort/blocking.hpp>

#include "metrics.hpp"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

using namespace gort_test;
namespace net = gort::net;
namespace metrics = gort::proxy::metrics;
using metrics::MetricsServer;
using metrics::Registry;

namespace {

ChildResult command(const std::vector<std::string>& argv) {
  return gort::blocking([&] { return run_command(argv, {}, std::chrono::seconds(30)); });
}

bool has(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

// value_of: the value on the line that starts with series and a space, NaN
// if there is none.
double value_of(const std::string& text, const std::string& series) {
  std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return NAN;
  return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

// http_exchange: request sent raw on a fresh conn, and all that comes back
// before the server closes it.
std::string http_exchange(const net::Addr& addr, std::string_view request) {
  auto r = net::dial("tcp", addr.to_string());
  if (r.err) return "dial: " + r.err.message();
  r.value.set_deadline(Clock::now() + 20s);
  r.value.write(request);
  std::string got;
  if (auto err = read_all(r.value, &got)) got += "[read: " + err.message() + "]";
  return got;
}

std::string status_line(const std::string& resp) { return resp.substr(0, resp.find("\r\n")); }

// ok: CHECK that err is none, for a fiber (where REQUIRE's throw must not
// go): the caller returns if not.
bool ok(const std::error_code& err, std::string_view what) {
  CHECK_MESSAGE(!err, what, ": ", err.message());
  return !err;
}

// The strict check of a scrape: every line matches the 0.0.4 grammar, each
// family is declared once and before its samples, samples belong to their
// family; then prometheus_client's parser reads it, no family is untyped,
// histograms are cumulative with _count equal to +Inf, and the series the
// test made are there with their values. Exit 3: no prometheus_client.
constexpr const char* kScrapeCheck = R"PY(
import re, sys, urllib.request
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)
url, route = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=20) as r:
    assert r.status == 200, r.status
    ctype = r.headers['Content-Type']
    assert ctype.startswith('text/plain; version=0.0.4'), ctype
    body = r.read()
    assert int(r.headers['Content-Length']) == len(body)
text = body.decode('utf-8')
assert text.endswith('\n')
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r'(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN)'
SAMPLE = re.compile(rf'({NAME})(?:\{{{LABEL}(?:,{LABEL})*\}})? {VALUE}')
HELP = re.compile(rf'# HELP ({NAME}) (?:[^\\\n]|\\[\\n])*')
TYPE = re.compile(rf'# TYPE ({NAME}) (counter|gauge|histogram)')
types, current = {}, None
for i, line in enumerate(text.split('\n')[:-1], 1):
    if line.startswith('# HELP '):
        m = HELP.fullmatch(line)
        assert m, f'line {i}: bad HELP: {line!r}'
        assert m.group(1) not in types, f'line {i}: {m.group(1)} declared twice'
        current = m.group(1)
    elif line.startswith('# TYPE '):
        m = TYPE.fullmatch(line)
        assert m and m.group(1) == current, f'line {i}: bad TYPE: {line!r}'
        types[current] = m.group(2)
    else:
        m = SAMPLE.fullmatch(line)
        assert m, f'line {i}: bad sample: {line!r}'
        ok = ['_bucket', '_sum', '_count'] if types.get(current) == 'histogram' else ['']
        assert current in types and m.group(1) in [current + s for s in ok], f'line {i}: outside its family: {line!r}'
fams = list(text_string_to_metric_families(text))
assert len(fams) == len(types), (len(fams), len(types))
samples = {}
for f in fams:
    assert f.type in ('counter', 'gauge', 'histogram'), (f.name, f.type)
    series = {}
    for s in f.samples:
        samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        series.setdefault(tuple(sorted((k, v) for k, v in s.labels.items() if k != 'le')), []).append(s)
    if f.type != 'histogram':
        continue
    for ss in series.values():
        buckets = [s for s in ss if s.name.endswith('_bucket')]
        les = [float(s.labels['le']) for s in buckets]
        assert les == sorted(les) and les[-1] == float('inf'), les
        counts = [s.value for s in buckets]
        assert counts == sorted(counts), ('not cumulative', f.name, counts)
        assert [s.value for s in ss if s.name.endswith('_count')] == [counts[-1]], f.name
def value(name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))
assert value('gort_proxy_bytes_total', route=route, direction='client_to_upstream') == 100
assert value('gort_proxy_errors_total', listener='https', route=route, kind='dial') == 1
assert value('gort_proxy_connection_duration_seconds_count', route=route) == 2
assert value('gort_procs') == 2
assert value('process_open_fds') > 0
print('ok', len(fams), 'families')
)PY";

}  // namespace

TEST_CASE("metrics: a counter's series render in the Prometheus text format") {
  static const double kBounds[] = {0.25, 1};
  Registry reg;
  auto& conns = reg.counter_family("test_connections_total", "Connections accepted.", {"listener", "route"});
  conns.with({"https", "api"}).inc(3);
  conns.with({"http", "web"}).inc();
  reg.gauge("test_active", "Open now.").set(2);
  auto& seconds = reg.histogram_family("test_seconds", "How long.", {"route"}, kBounds);
  for (double v : {0.125, 0.25, 0.5, 4.0}) seconds.with({"api"}).observe(v);
  reg.counter_family("test_unused_total", "A family without series is left out.", {"x"});
  reg.gauge("test_ratio", "Not a whole number.").set(0.1);
  CHECK(reg.render() ==
        "# HELP test_active Open now.\n"
        "# TYPE test_active gauge\n"
        "test_active 2\n"
        "# HELP test_connections_total Connections accepted.\n"
        "# TYPE test_connections_total counter\n"
        "test_connections_total{listener=\"http\",route=\"web\"} 1\n"
        "test_connections_total{listener=\"https\",route=\"api\"} 3\n"
        "# HELP test_ratio Not a whole number.\n"
        "# TYPE test_ratio gauge\n"
        "test_ratio 0.1\n"
        "# HELP test_seconds How long.\n"
        "# TYPE test_seconds histogram\n"
        "test_seconds_bucket{route=\"api\",le=\"0.25\"} 2\n"
        "test_seconds_bucket{route=\"api\",le=\"1\"} 3\n"
        "test_seconds_bucket{route=\"api\",le=\"+Inf\"} 4\n"
        "test_seconds_sum{route=\"api\"} 4.875\n"
        "test_seconds_count{route=\"api\"} 4\n");
}

TEST_CASE("metrics: label values and help texts escape backslash and quote and newline as the format wants") {
  Registry reg;
  reg.counter_family("esc_total", "A \\ backslash,\na newline, \"quotes\" as they are.", {"v"})
      .with({"a\\b\"c\nd"})
      .inc();
  CHECK(reg.render() ==
        "# HELP esc_total A \\\\ backslash,\\na newline, \"quotes\" as they are.\n"
        "# TYPE esc_total counter\n"
        "esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
  CHECK(metrics::format_value(NAN) == "NaN");
  CHECK(metrics::format_value(INFINITY) == "+Inf");
  CHECK(metrics::format_value(-INFINITY) == "-Inf");
  CHECK(metrics::format_value(1e21) == "1e+21");
  CHECK(metrics::format_value(-2.5) == "-2.5");
  CHECK(metrics::format_value(1700000000.25) == "1700000000.25");
}

TEST_CASE("metrics: a series is made once and its handle stays valid and misuse throws") {
  Registry reg;
  auto& fam = reg.counter_family("a_total", "A.", {"x"});
  metrics::Counter& first = fam.with({"1"});
  for (int i = 0; i < 100; i++) fam.with({std::to_string(i)});  // the map grows; first stays put
  CHECK(&fam.with({"1"}) == &first);
  CHECK(&reg.counter_family("a_total", "A.", {"x"}) == &fam);  // asked again: the same family
  CHECK_THROWS_AS(reg.counter_family("a_total", "A.", {"y"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.gauge_family("a_total", "A.", {"x"}), std::invalid_argument);
  CHECK_THROWS_AS(fam.with({}), std::invalid_argument);
  CHECK_THROWS_AS(fam.with({"1", "2"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("1abc", ""), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("a-b", ""), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter_family("b_total", "", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter_family("b_total", "", {"x", "x"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter_family("b_total", "", {"a:b"}), std::invalid_argument);
  static const double kBad[] = {1, 1};
  static const double kGood[] = {1, 2};
  CHECK_THROWS_AS(reg.histogram_family("h", "", {}, kBad), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram_family("h", "", {"le"}, kGood), std::invalid_argument);
  auto& h = reg.histogram_family("h", "", {}, kGood);
  CHECK(&reg.histogram_family("h", "", {}, kGood) == &h);
  CHECK_THROWS_AS(reg.histogram_family("h", "", {}, metrics::kLatencyBuckets), std::invalid_argument);
  CHECK(reg.counter("ns:subsystem:name", "colons are allowed in names").value() == 0);
}

TEST_CASE("metrics: increments from many fibers on several Ps sum exactly while scrapes run") {
  constexpr int kFibers = 64, kIncs = scaled(20000) + 1000;
  Registry reg;
  auto& fam = reg.counter_family("c_total", "C.", {"k"});
  metrics::Gauge& active = reg.gauge("g", "G.");
  auto& hist = reg.histogram_family("h_seconds", "H.", {"k"}, metrics::kLatencyBuckets);
  std::atomic<int> renders{0};
  int rc = gort::run(gort::Config{.procs = 4}, [&] {
    gort::WaitGroup wg;
    std::atomic<bool> done{false};
    wg.add(kFibers + 1);
    gort::go([&] {  // a scraper racing the updates, and the series' creation
      while (!done.load()) {
        reg.render();
        renders++;
        gort::yield();
      }
      wg.done();
    });
    gort::WaitGroup workers;
    workers.add(kFibers);
    for (int i = 0; i < kFibers; i++) {
      gort::go([&, i] {
        // Every fiber looks its series up itself: the first lookups race to create them.
        metrics::Counter& shared = fam.with({"shared"});
        metrics::Counter& mine = fam.with({std::to_string(i % 4)});
        metrics::Histogram& h = hist.with({std::to_string(i % 2)});
        for (int k = 0; k < kIncs; k++) {
          shared.inc();
          mine.inc(2);
          active.inc();
          h.observe(0.25 * (k % 3));  // 0, 0.25, 0.5: sums stay exact
          if (k % 1000 == 0) gort::yield();
        }
        workers.done();
        wg.done();
      });
    }
    workers.wait();
    done = true;
    wg.wait();
  });
  CHECK(rc == 0);
  CHECK(renders.load() > 0);
  CHECK(fam.with({"shared"}).value() == std::uint64_t{kFibers} * kIncs);
  for (int k = 0; k < 4; k++)
    CHECK(fam.with({std::to_string(k)}).value() == std::uint64_t{kFibers / 4} * kIncs * 2);
  CHECK(active.value() == double{kFibers} * kIncs);
  std::uint64_t count = 0;
  double sum = 0;
  for (const char* k : {"0", "1"}) {
    auto snap = hist.with({k}).snapshot();
    count += snap.count();
    sum += snap.sum;
  }
  CHECK(count == std::uint64_t{kFibers} * kIncs);
  double per_fiber = 0;
  for (int k = 0; k < kIncs; k++) per_fiber += 0.25 * (k % 3);
  CHECK(sum == per_fiber * kFibers);
}

TEST_CASE("metrics: histogram buckets are cumulative and a bound falls in its own bucket") {
  static const double kBounds[] = {1, 2, 5};
  metrics::Histogram h(kBounds);
  for (double v : {0.5, 1.0, -1.0, 1.5, 2.0, 3.0, 7.0}) h.observe(v);
  h.observe(std::chrono::milliseconds(2500));  // 2.5 s
  auto s = h.snapshot();
  CHECK(s.cumulative == std::vector<std::uint64_t>{3, 5, 7, 8});
  CHECK(s.count() == 8);
  CHECK(s.sum == 0.5 + 1 - 1 + 1.5 + 2 + 3 + 7 + 2.5);
  h.observe(NAN);  // counted, in +Inf only
  s = h.snapshot();
  CHECK(s.cumulative == std::vector<std::uint64_t>{3, 5, 7, 9});
  CHECK(std::isnan(s.sum));
}

TEST_CASE("metrics: ProxyMetrics renders the proxy's series and gort's and the process's gauges") {
  Registry reg;
  std::string text;
  int rc = gort::run(gort::Config{.procs = 2}, [&] {
    metrics::ProxyMetrics m(reg);
    metrics::add_runtime_metrics(reg);  // again: nothing more
    metrics::add_process_metrics(reg);
    metrics::RouteSeries api = m.route("https", "api");
    CHECK(m.route("https", "api").connections == api.connections);
    api.connections->inc();
    api.bytes_client_to_upstream->inc(100);
    api.bytes_upstream_to_client->inc(2000);
    api.duration->observe(std::chrono::milliseconds(1500));
    api.dial->observe(std::chrono::microseconds(700));
    m.connections_active.with({"https"}).inc();
    m.error("https", "", metrics::kind::no_route).inc();
    text = "\n" + reg.render();  // value_of looks for "\n" + series
  });
  CHECK(rc == 0);
  CHECK(value_of(text, R"(gort_proxy_connections_total{listener="https",route="api"})") == 1);
  CHECK(value_of(text, R"(gort_proxy_bytes_total{route="api",direction="client_to_upstream"})") == 100);
  CHECK(value_of(text, R"(gort_proxy_bytes_total{route="api",direction="upstream_to_client"})") == 2000);
  CHECK(value_of(text, R"(gort_proxy_errors_total{listener="https",route="",kind="no_route"})") == 1);
  CHECK(value_of(text, R"(gort_proxy_connections_active{listener="https"})") == 1);
  CHECK(value_of(text, R"(gort_proxy_connection_duration_seconds_bucket{route="api",le="1"})") == 0);
  CHECK(value_of(text, R"(gort_proxy_connection_duration_seconds_bucket{route="api",le="5"})") == 1);
  CHECK(value_of(text, R"(gort_proxy_upstream_dial_seconds_bucket{route="api",le="0.001"})") == 1);
  CHECK(value_of(text, "gort_procs") == 2);
  CHECK(value_of(text, "gort_fibers_alive") >= 1);
  CHECK(value_of(text, "gort_ms") >= 1);
  CHECK(value_of(text, "gort_fibers_spawned_total") >= 1);
  CHECK(value_of(text, R"(gort_run_queue_length{p="0"})") >= 0);
  CHECK(value_of(text, R"(gort_run_queue_length{p="1"})") >= 0);
  CHECK(value_of(text, R"(gort_io_copy_bytes_total{path="splice"})") >= 0);
  CHECK(value_of(text, "process_open_fds") >= 3);
  CHECK(value_of(text, "process_max_fds") >= value_of(text, "process_open_fds"));
  CHECK(value_of(text, "process_resident_memory_bytes") > 1e6);
  CHECK(value_of(text, "process_virtual_memory_bytes") > value_of(text, "process_resident_memory_bytes"));
  double start = value_of(text, "process_start_time_seconds"), now = static_cast<double>(std::time(nullptr));
  CHECK_MESSAGE((start > now - 600 && start <= now + 1), start, " vs ", now);
}

TEST_CASE("metrics: curl and Python's urllib scrape /metrics and prometheus_client's parser accepts it") {
  int rc = gort::run(gort::Config{.procs = 2}, [] {
    Registry reg;
    metrics::ProxyMetrics m(reg);
    const std::string route = "odd \"route\" \\ with\na newline";  // every escape, through real parsers
    metrics::RouteSeries s = m.route("https", route);
    s.bytes_client_to_upstream->inc(100);
    s.duration->observe(0.2);
    s.duration->observe(20.0);
    m.error("https", route, metrics::kind::dial).inc();
    auto ln = metrics::listen_metrics("127.0.0.1:0");
    if (!ok(ln.err, "listen_metrics")) return;
    MetricsServer srv(std::move(ln.value), reg);
    const std::string url = "http://" + srv.addr().to_string() + "/metrics";

    auto c = command({"curl", "-sS", "--max-time", "20", "-D", "-", url});  // head, then body, on stdout
    CHECK_MESSAGE(c.status == 0, c.err);
    std::size_t blank = c.out.find("\r\n\r\n");
    CHECK_MESSAGE(blank != std::string::npos, c.out);
    if (blank == std::string::npos) return;
    std::string head = c.out.substr(0, blank + 2), body = c.out.substr(blank + 4);
    CHECK(status_line(head) == "HTTP/1.1 200 OK");
    CHECK(has(head, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    CHECK(has(head, "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"));
    CHECK(has(head, "\r\nConnection: close\r\n"));
    CHECK(has(body, "\ngort_procs 2\n"));
    CHECK(has(body, "# TYPE gort_proxy_bytes_total counter\n"));

    // Debian's prometheus_client lives in /usr/bin/python3's dist-packages;
    // a python3 first in PATH (pyenv, a venv) may lack it.
    ChildResult py;
    for (const char* python : {"python3", "/usr/bin/python3"}) {
      py = command({python, "-c", kScrapeCheck, url, route});
      if (py.status != 3) break;
    }
    CHECK_MESSAGE(py.status != 3,
                  "no prometheus_client: install python3-prometheus-client (tools/setup-deps.sh)");
    CHECK_MESSAGE(py.status == 0, py.out, py.err);
    CHECK(has(py.out, "ok "));
    CHECK(srv.served() == 2);
    srv.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("metrics: /healthz answers ok and other paths get 404 and other methods 405 and bad requests 400") {
  int rc = gort::run([] {
    Registry reg;
    reg.counter("x_total", "X.").inc();
    auto ln = metrics::listen_metrics("127.0.0.1:0");
    if (!ok(ln.err, "listen_metrics")) return;
    MetricsServer srv(std::move(ln.value), reg);
    const std::string base = "http://" + srv.addr().to_string();
    auto health = command({"curl", "-sS", "--max-time", "20", base + "/healthz"});
    CHECK(health.out == "ok\n");
    auto nf =
        command({"curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", base + "/nope"});
    CHECK(nf.out == "404");

    const net::Addr& a = srv.addr();
    std::string r = http_exchange(a, "GET /metrics?name=x HTTP/1.0\r\n\r\n");  // 1.0 needs no Host
    CHECK(status_line(r) == "HTTP/1.1 200 OK");
    const std::string body = "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n";
    CHECK(has(r, "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"));
    CHECK(has(r, "\r\n\r\n" + body));
    r = http_exchange(a, "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(status_line(r) == "HTTP/1.1 200 OK");
    CHECK(has(r, "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"));  // GET's body's
    CHECK(r.substr(r.find("\r\n\r\n") + 4).empty());
    r = http_exchange(a, "GET /metrics HTTP/1.1\nHost: a\n\n");  // bare LFs, as Go's server takes them
    CHECK(status_line(r) == "HTTP/1.1 200 OK");
    r = http_exchange(a, "HEAD /nope HTTP/1.0\r\n\r\n");
    CHECK(status_line(r) == "HTTP/1.1 404 Not Found");
    CHECK(r.substr(r.find("\r\n\r\n") + 4).empty());
    {  // a head that comes in pieces
      auto d = net::dial("tcp", a.to_string());
      if (!ok(d.err, "dial")) return;
      for (const char* piece : {"GET /hea", "lthz HTTP/1.0\r", "\n\r\n"}) {
        d.value.write(std::string_view(piece));
        gort::sleep_for(20ms);
      }
      std::string got;
      d.value.set_read_deadline(Clock::now() + 20s);
      read_all(d.value, &got);
      CHECK(status_line(got) == "HTTP/1.1 200 OK");
      CHECK(has(got, "\r\n\r\nok\n"));
    }
    r = http_exchange(a, "POST /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(status_line(r) == "HTTP/1.1 405 Method Not Allowed");
    CHECK(has(r, "\r\nAllow: GET, HEAD\r\n"));
    CHECK(status_line(http_exchange(a, "GET /metrics HTTP/1.1\r\n\r\n")) ==
          "HTTP/1.1 400 Bad Request");  // no Host
    CHECK(status_line(http_exchange(a, "GET /metrics HTTP/2.0\r\n\r\n")) ==
          "HTTP/1.1 505 HTTP Version Not Supported");
    for (const char* bad :
         {"hello\r\n\r\n", "GET\r\n\r\n", "GET  /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
          "GET metrics HTTP/1.1\r\nHost: a\r\n\r\n", "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
          "GET /metrics HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "GET /metrics FTP/1.1\r\n\r\n"}) {
      std::string got = status_line(http_exchange(a, bad));
      CHECK_MESSAGE(got == "HTTP/1.1 400 Bad Request", bad);
    }
    // A head over 8 KiB: 431, and the response arrives whole though the
    // client's bytes were not all read.
    r = http_exchange(a,
                      "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    CHECK(status_line(r) == "HTTP/1.1 431 Request Header Fields Too Large");
    srv.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("metrics: a slowloris client is dropped at the read deadline and stop closes idle conns at once") {
  int rc = gort::run([] {
    Registry reg;
    reg.counter("x_total", "X.").inc();
    auto ln = metrics::listen_metrics("127.0.0.1:0");
    if (!ok(ln.err, "listen_metrics")) return;
    MetricsServer srv(std::move(ln.value), reg, metrics::ServeOptions{.read_timeout = 300ms});
    auto d = net::dial("tcp", srv.addr().to_string());
    if (!ok(d.err, "dial")) return;
    net::Conn slow = std::move(d.value);
    std::atomic<bool> dropped{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {  // a header line every 50 ms: each byte in time, the head never done
      slow.write("GET /metrics HTTP/1.1\r\nHost: a\r\n");
      while (!dropped.load() && !slow.write("X-Slow: 1\r\n").err) gort::sleep_for(50ms);
      wg.done();
    });
    auto t0 = Clock::now();
    slow.set_read_deadline(t0 + 10s);
    std::string got;
    std::error_code err = read_all(slow, &got);  // EOF or a reset, once the server gives up
    auto took = Clock::now() - t0;
    dropped = true;
    wg.wait();
    CHECK(got.empty());
    CHECK(err != gort::io_errc::timeout);
    CHECK_MESSAGE((took >= 250ms && took < 3s), ms(took), " ms");
    for (int i = 0; i < 100 && srv.active_conns() > 0; i++) gort::sleep_for(10ms);
    CHECK(srv.active_conns() == 0);
    slow.close();

    // max_conns: past it a conn is closed at once, unanswered.
    Registry reg2;
    auto ln2 = metrics::listen_metrics("127.0.0.1:0");
    if (!ok(ln2.err, "listen_metrics")) return;
    MetricsServer one(std::move(ln2.value), reg2, metrics::ServeOptions{.read_timeout = 30s, .max_conns = 1});
    auto idle = net::dial("tcp", one.addr().to_string());
    if (!ok(idle.err, "dial")) return;
    for (int i = 0; i < 200 && one.active_conns() < 1; i++) gort::sleep_for(5ms);
    CHECK(one.active_conns() == 1);
    CHECK_FALSE(has(http_exchange(one.addr(), "GET /healthz HTTP/1.0\r\n\r\n"), "HTTP/"));
    // stop closes the idle conn, though its deadline is 30 s away.
    t0 = Clock::now();
    one.stop();
    CHECK(Clock::now() - t0 < 2s);
    got.clear();
    idle.value.set_read_deadline(Clock::now() + 5s);
    err = read_all(idle.value, &got);
    CHECK(err != gort::io_errc::timeout);
    CHECK(got.empty());
    srv.stop();
  });
  CHECK(rc == 0);
}

TEST_CASE("metrics: listen_metrics refuses a non-loopback address unless allow_public is set") {
  int rc = gort::run([] {
    for (const char* addr : {":0", "0.0.0.0:0", "[::]:0", "8.8.8.8:0", "192.168.1.1:0"}) {
      auto r = metrics::listen_metrics(addr);
      CHECK_MESSAGE(r.err == metrics::metrics_errc::not_loopback, addr, ": ", r.err.message());
    }
    std::string why = metrics::make_error_code(metrics::metrics_errc::not_loopback).message();
    CHECK(has(why, "loopback"));
    CHECK(has(why, "allow_public"));
    CHECK(metrics::listen_metrics("127.0.0.1").err == gort::io_errc::missing_port);
    for (const char* addr : {"127.0.0.1:0", "127.0.0.2:0", "localhost:0"}) {
      auto r = metrics::listen_metrics(addr);
      CHECK_MESSAGE(!r.err, addr, ": ", r.err.message());
      CHECK(r.value.addr().port() > 0);
    }
    if (!net::listen("tcp", "[::1]:0").err) {  // where the host has IPv6
      auto r = metrics::listen_metrics("[::1]:0");
      CHECK_MESSAGE(!r.err, r.err.message());
    }
    auto pub = metrics::listen_metrics("0.0.0.0:0", {.allow_public = true});
    CHECK_MESSAGE(!pub.err, pub.err.message());
  });
  CHECK(rc == 0);
}
