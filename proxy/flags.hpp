// flags.hpp: gort-proxy's command line. The simple case needs no file:
//
//   gort-proxy --listen 127.0.0.1:8443 --upstream 127.0.0.1:9000
//
// makes a Config with one listener and one forward route (the talk's proxy);
// --upstream may repeat (or take a comma list) for round-robin. The full
// case is a TOML file (--config); flags that set the same things then fail.
// Flags are Go's flag package's forms: -name value, --name value,
// --name=value.
#pragma once

#include "config.hpp"

#include <string>

namespace gort::proxy {

struct Options {
  Config cfg;               // from the flags, or empty when config_file is set
  std::string config_file;  // --config
  bool check_config = false;
  bool demo = false;
  bool help = false;
};

// usage: the text --help prints.
const char* usage();

// parse_flags reads argv into *out; an error names the flag.
ConfigError parse_flags(int argc, char** argv, Options* out);

}  // namespace gort::proxy
