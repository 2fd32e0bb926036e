// metrics.cpp: the registry, its series and render() in the Prometheus text
// format 0.0.4 (metrics.hpp).
//
// The text format, as Prometheus's Go client writes it: per family with a
// series, `# HELP name text` (backslash and newline escaped), `# TYPE name
// type`, then one line per sample, `name{label="value",...} value`; a
// histogram's samples are name_bucket{...,le="bound"} (cumulative, +Inf
// last), name_sum and name_count. Families come in name order and series in
// label-value order, so two scrapes of the same state are the same text.
#include "metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace gort::proxy::metrics {

namespace {

bool valid_name(std::string_view s, bool colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

[[noreturn]] void misuse(std::string_view name, const std::string& why) {
  throw std::invalid_argument("metrics: " + std::string(name) + ": " + why);
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// sample appends one line: name{labels[,extra]} value.
void sample(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
            std::string_view extra, std::string_view value) {
  out.append(name).append(suffix);
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out.append(labels);
    if (!labels.empty() && !extra.empty()) out += ',';
    out.append(extra);
    out += '}';
  }
  out += ' ';
  out.append(value);
  out += '\n';
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // the shortest form that reads back as v
  return std::string(buf, r.ptr);
}

// ---- Histogram ----

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i < bounds_.size(); i++)
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
      throw std::invalid_argument("metrics: histogram buckets must be finite and strictly increasing");
  for (std::size_t i = 0; i <= bounds_.size(); i++) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) noexcept {
  std::size_t i = std::isnan(v)
                      ? bounds_.size()
                      : static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                                 bounds_.begin());  // the first bound >= v
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); i++) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- families ----

FamilyBase::FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), type_(type), labels_(std::move(labels)) {
  if (!valid_name(name_, true)) misuse(name_, "not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  for (std::size_t i = 0; i < labels_.size(); i++) {
    const std::string& l = labels_[i];
    if (!valid_name(l, false) || l.starts_with("__"))
      misuse(name_, "label \"" + l + "\" is not a label name");
    if (type_ == Type::histogram && l == "le") misuse(name_, "a histogram cannot have a label \"le\"");
    if (std::find(labels_.begin(), labels_.begin() + static_cast<std::ptrdiff_t>(i), l) !=
        labels_.begin() + static_cast<std::ptrdiff_t>(i))
      misuse(name_, "label \"" + l + "\" appears twice");
  }
}

FamilyBase::~FamilyBase() = default;

bool FamilyBase::same(Type type, std::initializer_list<std::string_view> labels) const {
  return type == type_ && std::equal(labels.begin(), labels.end(), labels_.begin(), labels_.end());
}

std::string FamilyBase::label_pairs(std::span<const std::string_view> values) const {
  std::string out;
  for (std::size_t i = 0; i < labels_.size(); i++) {
    if (i > 0) out += ',';
    out.append(labels_[i]).append("=\"").append(escape_label_value(values[i])).append("\"");
  }
  return out;
}

void FamilyBase::render_header(std::string& out) const {
  static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram"};
  out.append("# HELP ").append(name_).append(" ").append(escape_help(help_)).append("\n");
  out.append("# TYPE ").append(name_).append(" ").append(kTypes[static_cast<int>(type_)]).append("\n");
}

template <class M>
Family<M>::Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
                  std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(labels)), bounds_(std::move(bounds)) {
  if constexpr (std::is_same_v<M, Histogram>) Histogram check(bounds_);  // throws if they are not usable
}

template <class M>
M& Family<M>::with(std::span<const std::string_view> values) {
  if (values.size() != labels_.size())
    misuse(name_, "with() got " + std::to_string(values.size()) + " label values for " +
                      std::to_string(labels_.size()) + " labels");
  {
    std::shared_lock lock(mu_);
    auto it = series_.find(values);
    if (it != series_.end()) return *it->second.m;
  }
  std::unique_lock lock(mu_);
  auto it = series_.find(values);  // another fiber may have made it meanwhile
  if (it != series_.end()) return *it->second.m;
  Series s{label_pairs(values), nullptr};
  if constexpr (std::is_same_v<M, Histogram>)
    s.m = std::make_unique<Histogram>(bounds_);
  else
    s.m = std::make_unique<M>();
  auto pos = series_.emplace(std::vector<std::string>(values.begin(), values.end()), std::move(s)).first;
  return *pos->second.m;
}

template <class M>
void Family<M>::render(std::string& out) const {
  std::shared_lock lock(mu_);
  if (series_.empty()) return;
  render_header(out);
  std::vector<std::string> les;  // histograms: le="..." per bucket
  if constexpr (std::is_same_v<M, Histogram>) {
    for (double b : bounds_) les.push_back("le=\"" + format_value(b) + "\"");
    les.push_back("le=\"+Inf\"");
  }
  for (const auto& entry : series_) {
    const Series& s = entry.second;
    if constexpr (std::is_same_v<M, Counter>) {
      std::string v;
      append_uint(v, s.m->value());
      sample(out, name_, "", s.labels, "", v);
    } else if constexpr (std::is_same_v<M, Gauge>) {
      sample(out, name_, "", s.labels, "", format_value(s.m->value()));
    } else {
      Histogram::Snapshot snap = s.m->snapshot();
      std::string v;
      for (std::size_t i = 0; i < les.size(); i++) {
        v.clear();
        append_uint(v, snap.cumulative[i]);
        sample(out, name_, "_bucket", s.labels, les[i], v);
      }
      sample(out, name_, "_sum", s.labels, "", format_value(snap.sum));
      v.clear();
      append_uint(v, snap.count());
      sample(out, name_, "_count", s.labels, "", v);
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry ----

Registry::Registry() = default;
Registry::~Registry() = default;

template <class M>
Family<M>& Registry::family(std::string_view name, std::string_view help, Type type,
                            std::initializer_list<std::string_view> labels, std::span<const double> buckets) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    auto* f = dynamic_cast<Family<M>*>(it->second.get());
    if (!f || !f->same(type, labels) ||
        !std::equal(buckets.begin(), buckets.end(), f->bounds_.begin(), f->bounds_.end()))
      misuse(name, "registered already with another type, labels or buckets");
    return *f;
  }
  auto f = std::make_unique<Family<M>>(std::string(name), std::string(help), type,
                                       std::vector<std::string>(labels.begin(), labels.end()),
                                       std::vector<double>(buckets.begin(), buckets.end()));
  Family<M>& ref = *f;
  families_.emplace(std::string(name), std::move(f));
  return ref;
}

CounterFamily& Registry::counter_family(std::string_view name, std::string_view help,
                                        std::initializer_list<std::string_view> labels) {
  return family<Counter>(name, help, Type::counter, labels, {});
}

GaugeFamily& Registry::gauge_family(std::string_view name, std::string_view help,
                                    std::initializer_list<std::string_view> labels) {
  return family<Gauge>(name, help, Type::gauge, labels, {});
}

HistogramFamily& Registry::histogram_family(std::string_view name, std::string_view help,
                                            std::initializer_list<std::string_view> labels,
                                            std::span<const double> buckets) {
  return family<Histogram>(name, help, Type::histogram, labels, buckets);
}

bool Registry::has(std::string_view name) const {
  std::lock_guard lock(mu_);
  return families_.find(name) != families_.end();
}

void Registry::add_collector(std::function<void()> collect) {
  std::lock_guard lock(collect_mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::render() {
  {
    std::lock_guard lock(collect_mu_);
    for (auto& c : collectors_) c();
  }
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& f : families_) f.second->render(out);
  return out;
}

}  // namespace gort::proxy::metrics
