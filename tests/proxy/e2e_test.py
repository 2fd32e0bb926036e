#!/usr/bin/env python3
"""e2e_test.py: gort-proxy end to end, the real binary between real clients
and real servers (issue 7).

    e2e_test.py SCENARIO GORT_PROXY GORT_CERTS

SCENARIO is one of the names in SCENARIOS below (e2e_test.py --list prints
them with what each checks); GORT_PROXY and GORT_CERTS are the binaries
under test (the targets gort-proxy and gort-certs). Each scenario is its own
CTest test (tests/CMakeLists.txt). The peers are what people run: curl,
openssl s_client and s_server, nginx (http and stream, with proxy_protocol),
HAProxy (send-proxy-v2), and python sockets where a test must count or
check every byte.

The scenarios are in e2e/: routing.py (SNI, no route, termination, the PROXY
protocol, the hello timeout), traffic.py (256 MiB, half-close, the
connection limit), lifecycle.py (shutdown, reload, the demo,
--check-config); the harness they share is e2e/harness.py.

How each test holds together:
  - ports come from the kernel: gort-proxy listens on "127.0.0.1:0" and its
    `gort-proxy: listener "NAME" on 127.0.0.1:PORT` line is read back; the
    python backends bind port 0; nginx, HAProxy and s_server get a port that
    was free a moment ago (bound to 0, closed) and are waited for in
    /proc/net/tcp;
  - certificates are made by gort-certs, in a temporary directory that the
    test removes when it passes;
  - every wait is bounded (sockets, subprocesses, log lines), a watchdog
    (SIGALRM, below CTest's TIMEOUT) bounds the whole test, and every child
    is in a process group of its own, killed at exit (and killed by the
    kernel if this script dies: PR_SET_PDEATHSIG);
  - gort-proxy must exit 0 when stopped, and a sanitizer report on its
    stderr fails the test (the suite also runs in ASan+UBSan and TSan builds).

Exit status: 0 pass, 1 fail, 77 skipped (a peer program is not installed:
tools/setup-deps.sh installs them all), 2 usage.

Sizes and times under the sanitizers: the driver reads which sanitizer the
gort-proxy binary was built with (from its symbols) and widens the upper
bounds of its timing checks by SLOW. The big transfer is 256 MiB each way
in every build (io::copy splices: about 1 s, under TSan too), or
$GORT_E2E_MIB MiB when set.

Two scenarios guard bugs this suite found (see their docstrings):
stop-repeat (serve() returned while a fiber still used its locals) and
shutdown-hup (a SIGHUP during the grace period cut every connection).
"""

import os
import shutil
import signal
import sys
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from e2e import lifecycle, routing, traffic  # noqa: E402
from e2e.harness import BACKENDS, ENV, PROCS, SKIP, WATCHDOG, Skipped, kill_all  # noqa: E402

SCENARIOS = {
    "sni": routing.test_sni,
    "no-route": routing.test_no_route,
    "terminate": routing.test_terminate,
    "bytes": traffic.test_bytes,
    "half-close": traffic.test_half_close,
    "proxy-protocol-nginx": routing.test_proxy_protocol_nginx,
    "proxy-protocol-haproxy": routing.test_proxy_protocol_haproxy,
    "shutdown-drain": lifecycle.test_shutdown_drain,
    "shutdown-cut": lifecycle.test_shutdown_cut,
    "shutdown-twice": lifecycle.test_shutdown_twice,
    "shutdown-hup": lifecycle.test_shutdown_hup,
    "reload": lifecycle.test_reload,
    "reload-broken": lifecycle.test_reload_broken,
    "hello-timeout": routing.test_hello_timeout,
    "limit": traffic.test_limit,
    "demo": lifecycle.test_demo,
    "check-config": lifecycle.test_check_config,
    "stop-repeat": lifecycle.test_stop_repeat,
}


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--list":
        for k, f in SCENARIOS.items():
            print(f"{k:24} {f.__doc__.splitlines()[0]}")
        return 0
    if len(sys.argv) != 4 or sys.argv[1] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2

    def dump_children():  # the last lines here, everything in files kept with the temporary directory
        for p in PROCS:
            print(f"--- {p.name} (status {p.p.poll()}) stderr, last lines:\n{p.text(last=25)}", flush=True)
            if ENV.tmp:
                for key in ("out", "err"):
                    with open(os.path.join(ENV.tmp, f"{p.name}.std{key}"), "w") as f:
                        f.write(p.text(key) + "\n")
        if ENV.tmp and PROCS:
            print(f"(each child's whole stdout and stderr: {ENV.tmp}/NAME.stdout, NAME.stderr)", flush=True)

    def watchdog(*_):
        print(f"FAIL: watchdog: the test took more than {WATCHDOG} s", flush=True)
        dump_children()
        kill_all()
        os._exit(1)

    def terminated(sig, _):  # CTest's timeout, or ^C: no child outlives the driver
        kill_all()
        os._exit(128 + sig)

    signal.signal(signal.SIGALRM, watchdog)
    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, terminated)
    signal.alarm(WATCHDOG)
    status = 1
    try:
        ENV.setup(sys.argv[2], sys.argv[3])
        SCENARIOS[sys.argv[1]]()
        status = 0
        print("PASS", flush=True)
    except Skipped as e:
        print(f"SKIP: {e}", flush=True)
        status = SKIP
    except Exception as e:
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        if e.__context__:  # raised in a finally (stopping the proxy) while handling this first failure
            print(f"  (first: {type(e.__context__).__name__}: {e.__context__})", flush=True)
        if not isinstance(e, AssertionError) and type(e).__name__ != "TestFailure":
            traceback.print_exc()
        dump_children()
    finally:
        kill_all()
        for b in BACKENDS:
            b.close()
        if ENV.tmp and status != 1:
            shutil.rmtree(ENV.tmp, ignore_errors=True)
        elif ENV.tmp:
            print(f"(temporary files kept in {ENV.tmp})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
