// run.hpp: gort-proxy's life once its Config is good: the access log, the
// metrics endpoint, the Server, and the signals (SIGHUP reloads the config
// file; SIGTERM or SIGINT shut down gracefully, a second one at once).
// main.cpp and the demo (demo.cpp) both end here.
#pragma once

#include "config.hpp"
#include "server.hpp"

#include <functional>
#include <string>

namespace gort::proxy {

// serve runs the proxy for cfg in the calling fiber until a SIGTERM or
// SIGINT has been handled, and returns the process's exit status.
// config_file is what SIGHUP reloads ("" : nothing to reload). on_ready
// runs once every listener is open (the demo prints its commands there).
int serve(const Config& cfg, const std::string& config_file,
          const std::function<void(Server&)>& on_ready = {});

// logf: a line on stderr, "gort-proxy: " first.
void logf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace gort::proxy
