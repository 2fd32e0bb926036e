// demo.hpp: `gort-proxy --demo`, the README's main job: everything on
// loopback, nothing to install or configure.
#pragma once

namespace gort::proxy {

// run_demo makes development certificates (a local CA and leaves for
// a.demo.test and b.demo.test, with gort::certs, in $GORT_DEMO_DIR or
// ./gort-demo), starts two TLS backends (gort tls servers, one per name)
// and a plain HTTP backend in-process, then the proxy with an embedded
// config: 127.0.0.1:8443 routes by SNI to the two TLS backends
// (passthrough: the backends terminate TLS), 127.0.0.1:8080 forwards to the
// plain backend, metrics on 127.0.0.1:9100. It prints the curl commands
// that show it working and runs until Ctrl-C. Ports: $GORT_DEMO_TLS_PORT,
// $GORT_DEMO_PLAIN_PORT, $GORT_DEMO_METRICS_PORT. Returns the exit status.
int run_demo();

}  // namespace gort::proxy
