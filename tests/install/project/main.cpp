// The outside project's program: a few fibers and a listener through the
// installed headers and libraries (runtime, net, io, tls). Prints one line that install_test.sh
// checks, exits 0 if right.
#include <gort/gort.hpp>
#include <gort/io.hpp>
#include <gort/net.hpp>
#include <gort/tls.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>

int main() {
  int status = gort::run([] {
    gort::WaitGroup wg;
    std::atomic<int> sum{0};
    wg.add(100);
    for (int i = 1; i <= 100; ++i) {
      gort::go(
          [&](int n) {
            gort::sleep_for(std::chrono::milliseconds(n % 5));
            sum.fetch_add(n);
            wg.done();
          },
          i);
    }
    wg.wait();
    auto [ln, err] = gort::net::listen("tcp", "127.0.0.1:0");  // gort::net links
    if (err || ln.addr().port() == 0) return 2;
    if (gort::tls::Context::server({}).err != gort::tls_errc::bad_config) return 3;  // gort::tls links
    if (gort::io::stats().splice_bytes != 0) return 4;
    return sum.load() == 5050 ? 42 : 1;  // 42: proves run() passes main's status through
  });
  std::printf("install-test: gort::run returned %d\n", status);
  return status == 42 ? 0 : 1;
}
