// access_log.cpp: AccessLog (see access_log.hpp).
#include "access_log.hpp"

#include <cerrno>
#include <chrono>
#include <ctime>

namespace gort::proxy {

namespace {

// field appends " key=value", quoting value if it has a space, a quote or
// an '=' (logfmt), or if it is empty ("").
void field(std::string& out, const char* key, const std::string& value) {
  out += ' ';
  out += key;
  out += '=';
  bool quote = value.empty() || value.find_first_of(" \"=\\") != std::string::npos;
  if (!quote) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
}

std::string now_utc() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

}  // namespace

AccessLog::~AccessLog() {
  if (owned_ && out_) std::fclose(out_);
}

std::error_code AccessLog::open(const std::string& path) {
  std::FILE* f = nullptr;
  bool owned = false;
  if (path == "-") {
    f = stderr;
  } else if (!path.empty()) {
    f = std::fopen(path.c_str(), "ae");  // append, close-on-exec
    if (!f) return {errno, std::system_category()};
    owned = true;
  }
  std::lock_guard l(mu_);
  if (owned_ && out_) std::fclose(out_);
  out_ = f;
  owned_ = owned;
  return {};
}

std::string AccessLog::format(const ConnInfo& c) {
  std::string line = now_utc();
  field(line, "listener", c.listener);
  field(line, "client", c.client);
  if (!c.sni.empty()) field(line, "sni", c.sni);
  field(line, "route", c.route);
  field(line, "upstream", c.upstream);
  field(line, "up", std::to_string(c.up_bytes));
  field(line, "down", std::to_string(c.down_bytes));
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.3fs", std::chrono::duration<double>(c.duration).count());
  field(line, "duration", dur);
  field(line, "end", c.end);
  if (!c.detail.empty()) field(line, "detail", c.detail);
  return line;
}

void AccessLog::write(const ConnInfo& c) {
  std::string line = format(c);
  line += '\n';
  std::lock_guard l(mu_);
  if (!out_) return;
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace gort::proxy
