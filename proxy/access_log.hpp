// access_log.hpp: one line per connection, when it ends, in logfmt (key=value,
// quoted where needed), what nginx's stream log_format and HAProxy's tcplog
// give: when, the listener, the client, the server name, the route and
// upstream, bytes each way, how long, and how it ended.
//
//   2026-11-29T01:02:03.456Z listener=https client=127.0.0.1:51234 sni=a.test route=api
//     upstream=127.0.0.1:9001 up=517 down=4096 duration=0.012s end=ok
//
// write() may be called from any fiber; a mutex keeps lines whole. The
// write is a blocking fwrite+fflush: cheap to a pipe or a file in the page
// cache (a slow disk holds the M, and sysmon hands its P on after 10 ms).
#pragma once

#include "session.hpp"

#include <cstdio>
#include <mutex>
#include <string>

namespace gort::proxy {

class AccessLog {
 public:
  AccessLog() = default;
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // open: "-" for stderr, "" for no log, else a file appended to. Returns
  // the error of fopen, and keeps the log it had on failure.
  std::error_code open(const std::string& path);
  void write(const ConnInfo& c);
  // format: the line for c, without the newline.
  static std::string format(const ConnInfo& c);

 private:
  std::mutex mu_;  // protects out_ and owned_, and keeps lines whole
  std::FILE* out_ = nullptr;
  bool owned_ = false;  // out_ was opened here (not stderr)
};

}  // namespace gort::proxy
