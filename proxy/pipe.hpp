// pipe.hpp: the talk's data phase, both ways at once:
//
//   go func() { io.Copy(upstream, conn); upstream.CloseWrite() }()
//   io.Copy(conn, upstream); conn.CloseWrite()
//
// with what a proxy people run adds:
//  - half-close: a direction that reaches EOF half-closes the other side
//    (close_write) and the other direction goes on, so a client that shuts
//    down its writing still gets the whole reply;
//  - an error in either direction (a reset, a closed conn) closes both
//    conns, which ends the other copy at once;
//  - an idle timeout: a watchdog fiber samples both copies' Progress and
//    closes both conns when no byte moved either way for `idle` (nginx
//    stream's proxy_timeout, HAProxy's timeout tunnel).
// C and U are anything io::copy takes both ways with close, close_write
// (net::PrefixConn: splice; tls::Conn: the buffered loop).
#pragma once

#include "config.hpp"

#include <gort/gort.hpp>
#include <gort/io.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <system_error>

namespace gort::proxy {

struct PipeResult {
  std::uint64_t up_bytes = 0, down_bytes = 0;  // client -> upstream, upstream -> client
  std::error_code up_err, down_err;            // each copy's end ({} at EOF)
  bool idle_timeout = false;
};

template <class C, class U>
PipeResult pipe(C& client, U& upstream, Duration idle, io::Progress& up, io::Progress& down) {
  PipeResult r;
  gort::Chan<int> up_done(1), quit(1), watchdog_done(1);
  gort::go([&] {  // client -> upstream
    auto res = io::copy(upstream, client, up);
    r.up_bytes = res.value;
    r.up_err = res.err;
    if (res.err) {
      client.close();
      upstream.close();
    } else {
      upstream.close_write();  // the client's EOF, passed on
    }
    up_done.send(1);
  });
  std::atomic<bool> idle_fired{false};
  if (idle.count() > 0) {
    gort::go([&] {  // the idle watchdog: runs until both copies are done
      const auto every =
          std::clamp<Duration>(idle / 4, std::chrono::milliseconds(10), std::chrono::seconds(5));
      gort::Ticker tick(every);
      std::uint64_t seen = up.load() + down.load();
      auto last = std::chrono::steady_clock::now();
      for (bool stop = false; !stop;) {
        gort::select(gort::on_recv(quit, [&](int) { stop = true; }), gort::on_recv(tick.c, [](auto) {}));
        if (stop) break;
        const std::uint64_t now_bytes = up.load() + down.load();
        const auto now = std::chrono::steady_clock::now();
        if (now_bytes != seen) {
          seen = now_bytes;
          last = now;
        } else if (now - last >= idle) {
          idle_fired = true;
          client.close();  // both copies end with io_errc::closed
          upstream.close();
          break;
        }
      }
      watchdog_done.send(1);
    });
  }
  auto res = io::copy(client, upstream, down);  // upstream -> client
  r.down_bytes = res.value;
  r.down_err = res.err;
  if (res.err) {
    client.close();
    upstream.close();
  } else {
    client.close_write();  // the upstream's EOF, passed on
  }
  up_done.recv();  // the other direction: the client's EOF, an error, or the watchdog
  if (idle.count() > 0) {
    quit.send(1);
    watchdog_done.recv();
  }
  r.idle_timeout = idle_fired;
  return r;
}

}  // namespace gort::proxy
