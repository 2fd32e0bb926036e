// main.cpp: gort-proxy's entry: flags or a config file, --check-config,
// --demo, then serve() (run.cpp) in gort's runtime.
#include "config_toml.hpp"
#include "demo.hpp"
#include "flags.hpp"
#include "run.hpp"

#include <gort/gort.hpp>

#include <cstdio>

using namespace gort::proxy;

int main(int argc, char** argv) {
  Options o;
  if (auto e = parse_flags(argc, argv, &o)) {
    std::fprintf(stderr, "gort-proxy: %s\n\n%s", e.message.c_str(), usage());
    return 2;
  }
  if (o.help) {
    std::fputs(usage(), stdout);
    return 0;
  }
  if (o.demo) return run_demo();
  Config cfg = o.cfg;
  ConfigError e = o.config_file.empty() ? validate(cfg) : load_toml_file(o.config_file, &cfg);
  if (e) {
    std::fprintf(stderr, "gort-proxy: %s\n", e.message.c_str());
    return 1;
  }
  if (o.check_config) {
    std::size_t routes = 0;
    for (const auto& l : cfg.listeners) routes += l.routes.size();
    std::printf("%s: OK: %zu listener(s), %zu route(s)\n", cfg.source.c_str(), cfg.listeners.size(), routes);
    return 0;
  }
  return gort::run([&] { return serve(cfg, o.config_file); });
}
