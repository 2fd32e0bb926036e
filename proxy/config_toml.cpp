// config_toml.cpp: the TOML file into a Config (config_toml.hpp), with
// toml++ (Debian's libtomlplusplus, built with exceptions: its parse_error is
// caught here and never leaves).
//
// Reader walks the parsed document scope by scope (the root, [metrics],
// [timeouts], each [[listener]], its [listener.timeouts] and each
// [[listener.route]]). Each scope first refuses keys it does not know, then
// reads the ones it does, type-checked. Problems are collected with their
// source positions and the earliest in the file is returned (a missing key
// only if nothing else is wrong), so the answer does not depend on the
// order toml++ keeps keys in. Meanwhile every key,
// array item and table read is entered in a side table, keyed as validate()
// reports its ConfigPlace ((listener, route, key, item)), so that
// validate()'s findings point at a line too.
#include "config_toml.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

namespace gort::proxy {

namespace {

struct Pos {
  std::uint32_t line = 1, col = 1;
};
Pos pos_of(const toml::source_region& r) {
  if (!r.begin) return {};
  return {r.begin.line, r.begin.column};
}

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// distance: Levenshtein's, for "did you mean".
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); i++) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); j++) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Scope: a table being read, and how to name its keys: prefix names the
// listener and route ("listener \"https\": route \"api\": "), path the
// sub-table ("timeouts.").
struct Scope {
  const toml::table& t;
  int l = -1, r = -1;
  std::string prefix, path;
};

using PlaceKey = std::tuple<int, int, std::string, int>;

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  ConfigError read(const toml::table& root, Config* cfg);
  // locate: validate()'s error at the source line of what it is about.
  ConfigError locate(const ConfigPlace& p, const ConfigError& e) const;

 private:
  // Problem: weak for a missing key, which is often the echo of a typo
  // elsewhere in its table (the unknown key is the better answer then).
  struct Problem {
    bool weak;
    Pos pos;
    std::string message;
  };

  void problem(Pos p, const Scope& s, std::string_view key, const std::string& msg, bool weak = false) {
    problems_.push_back({weak, p, s.prefix + s.path + std::string(key) + ": " + msg});
  }
  // enter: where key (or the scope's table itself, for "") is, for locate().
  void enter(const Scope& s, std::string_view key, int item, Pos p) {
    std::string k = s.path + std::string(key);
    if (!k.empty() && k.back() == '.') k.pop_back();
    pos_.emplace(PlaceKey{s.l, s.r, std::move(k), item}, p);
  }

  // known: the scope's keys are all in keys (else a problem each).
  void known(const Scope& s, std::initializer_list<std::string_view> keys) {
    for (auto&& kv : s.t) {
      const toml::key& k = kv.first;
      if (std::find(keys.begin(), keys.end(), k.str()) != keys.end()) continue;
      std::string msg = "unknown key";
      std::string_view best;
      std::size_t best_d = 3;
      for (auto want : keys)
        if (std::size_t d = distance(k.str(), want); d < best_d) best = want, best_d = d;
      if (!best.empty()) msg += " (did you mean " + quote(best) + "?)";
      problem(pos_of(k.source()), s, k.str(), msg);
    }
  }

  // find: the node of key (entered in the side table), or nullptr.
  const toml::node* find(const Scope& s, std::string_view key) {
    auto it = s.t.find(key);
    if (it == s.t.end()) return nullptr;
    enter(s, key, -1, pos_of(it->first.source()));
    return &it->second;
  }
  const toml::node* typed(const Scope& s, std::string_view key, toml::node_type want, const char* what) {
    const toml::node* n = find(s, key);
    if (!n || n->type() == want) return n;
    problem(pos_of(n->source()), s, key, std::string("expected ") + what + ", got " + type_name(n->type()));
    return nullptr;
  }
  void required(const Scope& s, std::string_view key) {
    if (!s.t.contains(key)) problem(pos_of(s.t.source()), s, key, "missing (required)", true);
  }

  void get(const Scope& s, std::string_view key, std::string* out) {
    if (auto n = typed(s, key, toml::node_type::string, "a string")) *out = n->as_string()->get();
  }
  void get(const Scope& s, std::string_view key, bool* out) {
    if (auto n = typed(s, key, toml::node_type::boolean, "true or false")) *out = n->as_boolean()->get();
  }
  void get(const Scope& s, std::string_view key, int* out) {
    auto n = typed(s, key, toml::node_type::integer, "an integer");
    if (!n) return;
    std::int64_t v = n->as_integer()->get();
    if (v < INT_MIN || v > INT_MAX) return problem(pos_of(n->source()), s, key, "out of range");
    *out = static_cast<int>(v);
  }
  void get(const Scope& s, std::string_view key, Duration* out) {
    auto n = typed(s, key, toml::node_type::string, "a duration string (\"10s\", \"250ms\", \"1h30m\")");
    std::string why;
    if (n && !parse_duration(n->as_string()->get(), out, &why)) problem(pos_of(n->source()), s, key, why);
  }
  void get(const Scope& s, std::string_view key, std::vector<std::string>* out) {
    auto n = typed(s, key, toml::node_type::array, "an array of strings");
    if (!n) return;
    out->clear();
    const toml::array& a = *n->as_array();
    for (std::size_t i = 0; i < a.size(); i++) {
      enter(s, key, int(i), pos_of(a[i].source()));
      if (auto str = a[i].as_string()) {
        out->push_back(str->get());
      } else {
        problem(pos_of(a[i].source()), s, std::string(key) + "[" + std::to_string(i) + "]",
                std::string("expected a string, got ") + type_name(a[i].type()));
      }
    }
  }

  // tables: the tables of an array of tables ([[key]]), else a problem.
  std::vector<const toml::table*> tables(const Scope& s, std::string_view key) {
    std::vector<const toml::table*> out;
    const toml::node* n = find(s, key);
    if (!n) return out;
    auto fail = [&](const toml::node& at) {
      problem(
          pos_of(at.source()), s, key,
          "expected an array of tables ([[" + s.path + std::string(key) + "]]), got " + type_name(at.type()));
    };
    if (!n->is_array()) {
      fail(*n);
      return out;
    }
    for (const toml::node& el : *n->as_array()) {
      if (!el.is_table()) {
        fail(el);
        return {};
      }
      out.push_back(el.as_table());
    }
    return out;
  }
  const toml::table* table(const Scope& s, std::string_view key) {
    auto n = typed(s, key, toml::node_type::table, "a table");
    return n ? n->as_table() : nullptr;
  }

  void timeouts(const Scope& s, Timeouts* t) {
    known(s, {"connect", "client_hello", "handshake", "idle"});
    enter(s, "", -1, pos_of(s.t.source()));
    get(s, "connect", &t->connect);
    get(s, "client_hello", &t->client_hello);
    get(s, "handshake", &t->handshake);
    get(s, "idle", &t->idle);
  }
  void listener(const Scope& s, const Timeouts& dflt, Listener* ln);
  void route(const Scope& s, Route* rt);

  std::string source_;
  std::vector<Problem> problems_;
  std::map<PlaceKey, Pos> pos_;
};

// name_of: a table's name key if it is a string, else the default validate()
// will give it, for the prefix of messages.
std::string name_of(const toml::table& t, const char* dflt, std::size_t i) {
  if (auto n = t.get_as<std::string>("name")) return n->get();
  return dflt + std::to_string(i);
}

ConfigError Reader::read(const toml::table& root, Config* cfg) {
  Scope top{root, -1, -1, "", ""};
  pos_.emplace(PlaceKey{-1, -1, "", -1}, Pos{});
  known(top, {"max_connections", "grace_period", "access_log", "metrics", "timeouts", "listener"});
  get(top, "max_connections", &cfg->max_connections);
  get(top, "grace_period", &cfg->grace_period);
  get(top, "access_log", &cfg->access_log);
  if (auto m = table(top, "metrics")) {
    Scope s{*m, -1, -1, "", "metrics."};
    known(s, {"address", "public"});
    get(s, "address", &cfg->metrics_address);
    get(s, "public", &cfg->metrics_public);
  }
  if (auto t = table(top, "timeouts")) timeouts(Scope{*t, -1, -1, "", "timeouts."}, &cfg->timeouts);
  required(top, "listener");
  auto lts = tables(top, "listener");
  for (std::size_t l = 0; l < lts.size(); l++)
    listener(Scope{*lts[l], int(l), -1, "listener " + quote(name_of(*lts[l], "listener", l)) + ": ", ""},
             cfg->timeouts, &cfg->listeners.emplace_back());
  if (problems_.empty()) return {};
  auto first = std::min_element(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
    return std::tie(a.weak, a.pos.line, a.pos.col) < std::tie(b.weak, b.pos.line, b.pos.col);
  });
  return {source_ + ":" + std::to_string(first->pos.line) + ":" + std::to_string(first->pos.col) + ": " +
          first->message};
}

// listener: a [[listener]]; its [listener.timeouts] starts from dflt (the
// top-level [timeouts]), so a key it leaves out is inherited.
void Reader::listener(const Scope& s, const Timeouts& dflt, Listener* ln) {
  known(s, {"name", "address", "reuse_port", "accept_proxy", "timeouts", "route"});
  enter(s, "", -1, pos_of(s.t.source()));
  get(s, "name", &ln->name);
  required(s, "address");
  get(s, "address", &ln->address);
  get(s, "reuse_port", &ln->reuse_port);
  get(s, "accept_proxy", &ln->accept_proxy);
  if (auto t = table(s, "timeouts")) {
    Timeouts own = dflt;
    timeouts(Scope{*t, s.l, -1, s.prefix, "timeouts."}, &own);
    ln->timeouts = own;
  }
  required(s, "route");
  auto rts = tables(s, "route");
  for (std::size_t r = 0; r < rts.size(); r++)
    route(Scope{*rts[r], s.l, int(r), s.prefix + "route " + quote(name_of(*rts[r], "route", r)) + ": ", ""},
          &ln->routes.emplace_back());
}

void Reader::route(const Scope& s, Route* rt) {
  known(s, {"name", "mode", "sni", "alpn", "default", "upstreams", "proxy_protocol", "cert", "key",
            "next_protos", "upstream_tls", "upstream_server_name", "upstream_ca", "upstream_insecure"});
  enter(s, "", -1, pos_of(s.t.source()));
  get(s, "name", &rt->name);
  required(s, "mode");
  std::string mode;
  get(s, "mode", &mode);
  if (mode == "forward") {
    rt->mode = Mode::forward;
  } else if (mode == "passthrough") {
    rt->mode = Mode::passthrough;
  } else if (mode == "terminate") {
    rt->mode = Mode::terminate;
  } else if (auto n = s.t.get("mode"); n && n->is_string()) {
    problem(pos_of(n->source()), s, "mode",
            quote(mode) + " is not a mode: forward, passthrough or terminate");
  }
  get(s, "sni", &rt->sni);
  get(s, "alpn", &rt->alpn);
  get(s, "default", &rt->is_default);
  required(s, "upstreams");
  get(s, "upstreams", &rt->upstreams);
  get(s, "proxy_protocol", &rt->proxy_protocol);
  get(s, "cert", &rt->cert_file);
  get(s, "key", &rt->key_file);
  get(s, "next_protos", &rt->next_protos);
  get(s, "upstream_tls", &rt->upstream_tls);
  get(s, "upstream_server_name", &rt->upstream_server_name);
  get(s, "upstream_ca", &rt->upstream_ca_file);
  get(s, "upstream_insecure", &rt->upstream_insecure);
}

ConfigError Reader::locate(const ConfigPlace& p, const ConfigError& e) const {
  const PlaceKey tries[] = {
      {p.listener, p.route, p.key, p.item},
      {p.listener, p.route, p.key, -1},
      {p.listener, p.route, "", -1},
      {p.listener, -1, "", -1},
      {-1, -1, "", -1},
  };
  Pos at;
  for (const auto& k : tries)
    if (auto it = pos_.find(k); it != pos_.end()) {
      at = it->second;
      break;
    }
  return {source_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.col) + ": " + e.message};
}

}  // namespace

ConfigError parse_toml(std::string_view text, const std::string& source_name, Config* out) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    Pos p = pos_of(e.source());
    return {source_name + ":" + std::to_string(p.line) + ":" + std::to_string(p.col) + ": " +
            std::string(e.description())};
  }
  Config cfg;
  cfg.source = source_name;
  Reader reader(source_name);
  if (auto e = reader.read(root, &cfg)) return e;
  ConfigPlace where;
  if (auto e = validate(cfg, &where)) return reader.locate(where, e);
  *out = std::move(cfg);
  return {};
}

ConfigError load_toml_file(const std::string& path, Config* out) {
  std::string text, why;
  if (!read_whole_file(path, &text, &why)) return {why};
  return parse_toml(text, path, out);
}

}  // namespace gort::proxy
