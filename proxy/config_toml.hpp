// config_toml.hpp: gort-proxy's configuration file, TOML (read with toml++),
// made into a Config (config.hpp) and validated. The schema, documented key
// by key, is proxy/gort-proxy.example.toml; proxy/README.md has a summary.
//
// Every error names where it is: "path:line:col: key.path: message", where
// key.path names the listener and route by their names, e.g.
//   gort.toml:14:3: listener "https": route "api": upstreams: "10.0.0.1" has no port
// Syntax errors, unknown keys (a typo is an error, never ignored), wrong
// types, bad durations and enums, missing keys, and validate()'s findings
// (mapped back to the line of the listener, route, key or array item they
// are about) all read this way. Nothing throws out of these functions.
#pragma once

#include "config.hpp"

#include <string>
#include <string_view>

namespace gort::proxy {

// parse_toml reads text (a TOML document named source_name in messages)
// into *out and validates it; on error *out is left as it was.
ConfigError parse_toml(std::string_view text, const std::string& source_name, Config* out);

// load_toml_file reads the file at path, then parse_toml(text, path, out).
ConfigError load_toml_file(const std::string& path, Config* out);

// parse_duration reads Go's time.ParseDuration syntax: a sign, then one or
// more decimal numbers with a unit each, "300ms", "1.5h", "1h30m", "-2s";
// units ns, us (or µs), ms, s, m, h; "0" alone needs none. On error it
// returns false and *why says what is wrong (out is untouched).
bool parse_duration(std::string_view s, Duration* out, std::string* why);

// ConfigPlace: where in a Config validate() found its problem, so that a
// parser can point at the source: indexes into listeners and their routes
// (-1: not about one), the key as the TOML file spells it ("upstreams",
// "timeouts.idle", "metrics.address"; "" for the whole listener or route),
// and the index of an array item (-1: the whole key).
struct ConfigPlace {
  int listener = -1;
  int route = -1;
  std::string key;
  int item = -1;
};

// validate as config.hpp's, also telling where (config.cpp).
ConfigError validate(Config& cfg, ConfigPlace* where);

// read_whole_file reads the file at path into *text, or returns false and
// *why: "cannot read \"path\": " and errno's words (config.cpp).
bool read_whole_file(const std::string& path, std::string* text, std::string* why);

}  // namespace gort::proxy
