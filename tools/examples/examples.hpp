// examples.hpp: the little the network examples share, so that each
// program shows only its pattern: Go-style command-line flags (Go's flag
// package: -listen ADDR, --listen=ADDR), Go durations ("200ms", "30s"), the
// "listening on ADDR" line tests wait for, and log lines on stderr.
//
//   examples::Args args(argc, argv, {"listen", "timeout"}, "usage: prog [--listen ADDR] [--timeout 30s]");
//   std::string addr = args.get("listen", "127.0.0.1:9000");   // or the one positional argument
//   auto timeout = args.duration("timeout", std::chrono::seconds(30));
//   ...
//   examples::announce(ln);           // stdout: "listening on 127.0.0.1:41234", flushed
//   examples::logf("conn %s: %s", remote.c_str(), examples::errstr(err).c_str());  // stderr
#pragma once

#include <gort/net.hpp>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

namespace examples {

// Args: flags given as -name value, -name=value, --name value or
// --name=value, each of them in `known`; at most one positional argument,
// which stands for -listen (so `talk-accept localhost:4242` works too).
// Anything else prints the usage and exits 2, as Go's flag package does.
class Args {
 public:
  Args(int argc, char** argv, std::initializer_list<std::string_view> known, const char* usage)
      : usage_(usage) {
    for (int i = 1; i < argc; ++i) {
      std::string_view a = argv[i];
      if (a == "-h" || a == "--help" || a == "-help") fail("");
      if (a.size() < 2 || a[0] != '-') {
        if (flags_.count("listen")) fail("unexpected argument " + std::string(a));
        flags_["listen"] = std::string(a);
        continue;
      }
      a.remove_prefix(a[1] == '-' ? 2 : 1);
      std::string name(a.substr(0, a.find('='))), value;
      bool known_name = false;
      for (auto k : known) known_name |= k == name;
      if (!known_name) fail("flag provided but not defined: -" + name);
      if (auto eq = a.find('='); eq != std::string_view::npos) {
        value = std::string(a.substr(eq + 1));
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        fail("flag needs an argument: -" + name);
      }
      flags_[name] = value;
    }
  }

  std::string get(const std::string& name, std::string def) const {
    auto it = flags_.find(name);
    return it == flags_.end() ? def : it->second;
  }

  long integer(const std::string& name, long def) const {
    auto it = flags_.find(name);
    if (it == flags_.end()) return def;
    char* end = nullptr;
    long v = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0') fail("invalid value \"" + it->second + "\" for flag -" + name);
    return v;
  }

  // duration parses Go's time.ParseDuration forms with one unit:
  // "200ms", "30s", "1.5s", "2m", "100us", "0".
  std::chrono::nanoseconds duration(const std::string& name, std::chrono::nanoseconds def) const {
    auto it = flags_.find(name);
    if (it == flags_.end()) return def;
    const std::string& s = it->second;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    std::string_view unit(end);
    double ns_per = 0;
    if (unit == "ns")
      ns_per = 1;
    else if (unit == "us" || unit == "µs")
      ns_per = 1e3;
    else if (unit == "ms")
      ns_per = 1e6;
    else if (unit == "s")
      ns_per = 1e9;
    else if (unit == "m")
      ns_per = 60e9;
    else if (unit == "h")
      ns_per = 3600e9;
    else if (unit.empty() && v == 0 && end != s.c_str())
      ns_per = 1;
    if (ns_per == 0 || v < 0)
      fail("invalid value \"" + s + "\" for flag -" + name + ": want e.g. 200ms or 30s");
    return std::chrono::nanoseconds(static_cast<long long>(v * ns_per));
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    if (!why.empty()) std::fprintf(stderr, "%s\n", why.c_str());
    std::fprintf(stderr, "%s\n", usage_);
    std::exit(2);
  }

  const char* usage_;
  std::map<std::string, std::string> flags_;
};

// announce prints the bound address (with the real port when the address
// asked for port 0) on stdout, flushed: tests and scripts wait for it.
inline void announce(const gort::net::Listener& ln) {
  std::printf("listening on %s\n", ln.addr().to_string().c_str());
  std::fflush(stdout);
}

// errstr is how Go's %v prints an error: "<nil>" for none.
inline std::string errstr(std::error_code err) { return err ? err.message() : "<nil>"; }

// logf writes one line to stderr, like Go's log.Printf (without the time).
// stderr is unbuffered, and one fprintf call is one write for short lines,
// so lines from different fibers do not interleave.
__attribute__((format(printf, 1, 2))) inline void logf(const char* fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "%s\n", line);
}

}  // namespace examples
