"""lifecycle.py: gort-proxy's scenarios about the process: graceful
shutdown, SIGHUP reload, --demo, --check-config, and stopping many times."""

import os
import random
import re
import signal
import socket
import threading
import time

from .harness import (
    IO_TIMEOUT, CHUNK, SANITIZER_MARKS, check, log, ENV, tool, PROCS, run, Proc, free_port, Proxy,
    forward_config, make_cert, Worker, Backend, Stream, Sink, stream_handler, echo_handler, hold_handler,
    recv_line, recv_until_eof, echo_roundtrip, silent_for,
)


# ---------------------------------------------------------------- 7. graceful shutdown


def test_shutdown_drain():
    """SIGTERM mid-transfer: new connects refused, the transfer completes byte-exact, exit 0 in the grace period."""
    total, first = 32 * CHUNK, 4 * CHUNK
    grace = 20.0
    results = {}
    be = Backend(stream_handler(results, seed=5, total=total), "stream")
    proxy = Proxy(forward_config(be.addr, grace_period=f'"{grace:.0f}s"'))
    c = proxy.connect()
    up, down = Stream(4, total), Sink()
    up.send(c, first)
    down.recv(c, first)
    log(f"in flight: {first >> 20} MiB each way of {total >> 20}")
    mark = proxy.mark()
    t_term = time.monotonic()
    proxy.p.send_signal(signal.SIGTERM)
    proxy.wait_line(r"SIGTERM: closing the listeners; 1 connections may finish within 20 s", after=mark)
    deadline = time.monotonic() + 5 * ENV.slow
    while True:
        try:
            probe = proxy.connect(timeout=2)
        except ConnectionRefusedError:
            break
        except ConnectionResetError:
            break  # it reached the backlog just as the listener closed: the kernel resets it
        probe.close()
        check(time.monotonic() < deadline, "new connections are still accepted after SIGTERM")
        time.sleep(0.05)
    log(f"{time.monotonic() - t_term:.2f} s after SIGTERM a new connect is refused")
    check(proxy.running(), "gort-proxy exited with the transfer in flight")
    # The rest, both ways.
    w = Worker(lambda: (up.send(c), c.shutdown(socket.SHUT_WR)))
    down.recv(c)
    w.join(timeout=60)
    c.close()
    be.wait(lambda b: 0 in b.done, "the transfer's conn ended")
    rx, tx = results[0]
    check(rx.n == total and rx.digest() == up.digest(), f"client -> backend after SIGTERM: {rx.n} of {total} bytes")
    check(down.n == total and down.digest() == tx.digest(), f"backend -> client: {down.n} of {total} bytes")
    rc = proxy.wait_exit(grace)
    took = time.monotonic() - t_term
    check(rc == 0, f"exit status {rc}")
    check(took < grace, f"exited {took:.1f} s after SIGTERM, the grace period is {grace} s")
    proxy.access(end="ok", upstream=be.addr, up=total, down=total)
    proxy.check_sanitizers()
    log(f"the transfer finished byte-exact ({total >> 20} MiB each way); exit 0 {took:.2f} s after SIGTERM "
        f"(grace {grace:.0f} s); access log end=ok")


def test_shutdown_cut():
    """An idle connection still open when a short grace period ends is cut (end=shutdown); exit 0."""
    grace = 0.5
    be = Backend(hold_handler, "hold")
    proxy = Proxy(forward_config(be.addr, grace_period='"500ms"'))
    c = proxy.connect()
    c.sendall(b"hi")
    be.wait(lambda b: b.accepted == 1, "the conn through")
    t0 = time.monotonic()
    proxy.p.send_signal(signal.SIGTERM)
    data, took = recv_until_eof(c, 10 * ENV.slow)
    c.close()
    check(data == b"", f"the idle client got {data!r}")
    check(grace * 0.9 <= took <= grace + 1.5 * ENV.slow, f"cut {took:.2f} s after SIGTERM; grace is {grace} s")
    rc = proxy.wait_exit(10 * ENV.slow)
    exited = time.monotonic() - t0
    check(rc == 0, f"exit status {rc}")
    rec = proxy.access(end="shutdown")
    check(rec["up"] == "2", f"access log: {rec}")
    proxy.check_sanitizers()
    log(f"the idle conn was cut {took:.2f} s after SIGTERM (grace {grace} s), access log end=shutdown; "
        f"exit 0 after {exited:.2f} s")


def test_shutdown_twice():
    """A second SIGTERM ends a long grace period at once."""
    be = Backend(hold_handler, "hold")
    proxy = Proxy(forward_config(be.addr, grace_period='"60s"'))
    c = proxy.connect()
    c.sendall(b"hi")
    be.wait(lambda b: b.accepted == 1, "the conn through")
    mark = proxy.mark()
    proxy.p.send_signal(signal.SIGTERM)
    proxy.wait_line("SIGTERM: closing the listeners", after=mark)
    silent_for(c, 1.0)
    check(proxy.running(), "gort-proxy exited during a 60 s grace period with a conn open")
    t0 = time.monotonic()
    proxy.p.send_signal(signal.SIGTERM)
    data, took = recv_until_eof(c, 10 * ENV.slow)
    c.close()
    rc = proxy.wait_exit(10 * ENV.slow)
    exited = time.monotonic() - t0
    check(rc == 0, f"exit status {rc}")
    check(exited < 3 * ENV.slow, f"exit {exited:.2f} s after the second SIGTERM")
    proxy.access(end="shutdown")
    proxy.check_sanitizers()
    log(f"still serving 1 s into a 60 s grace period; the second SIGTERM: cut after {took:.2f} s, "
        f"exit 0 after {exited:.2f} s, end=shutdown")


def test_shutdown_hup():
    """A SIGHUP during the grace period (a reload, a log rotation) is no second SIGTERM: the transfer goes on.

    It guards a bug it found: serve() (proxy/run.cpp) took any signal during
    the grace period, SIGHUP too, as the second one and cut every connection;
    the usage says "SIGTERM or SIGINT stop gracefully (a second one: at once)."""
    total, first = 16 * CHUNK, 2 * CHUNK
    results = {}
    be = Backend(stream_handler(results, seed=5, total=total), "stream")
    proxy = Proxy(forward_config(be.addr, grace_period='"20s"'))
    c = proxy.connect()
    up, down = Stream(4, total), Sink()
    up.send(c, first)
    down.recv(c, first)
    mark = proxy.mark()
    proxy.p.send_signal(signal.SIGTERM)
    proxy.wait_line("SIGTERM: closing the listeners", after=mark)
    time.sleep(0.2)
    proxy.p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    check(proxy.running(), "gort-proxy exited at a SIGHUP during the grace period")
    w = Worker(lambda: (up.send(c), c.shutdown(socket.SHUT_WR)))
    down.recv(c)
    w.join(timeout=60)
    c.close()
    be.wait(lambda b: 0 in b.done, "the transfer's conn ended")
    rx, tx = results[0]
    check(down.n == total and down.digest() == tx.digest(),
          f"backend -> client: {down.n} of {total} bytes after a SIGHUP in the grace period")
    check(rx.n == total and rx.digest() == up.digest(), f"client -> backend: {rx.n} of {total} bytes")
    rc = proxy.wait_exit(20)
    check(rc == 0, f"exit status {rc}")
    proxy.access(end="ok", upstream=be.addr)
    proxy.check_sanitizers()
    log("a SIGHUP in the grace period did not cut the transfer; it finished byte-exact, end=ok, exit 0")


# ---------------------------------------------------------------- 8. reload


def test_reload():
    """SIGHUP moves the route from backend A to B: new conns reach B, a transfer on A goes on to the end."""
    a, b = Backend(echo_handler("A"), "A"), Backend(echo_handler("B"), "B")
    proxy = Proxy(forward_config(a.addr))
    try:
        long = proxy.connect()
        check(recv_line(long) == "A", "the first conn is not on A")
        stop = threading.Event()
        moved = [0]

        def keep_going():  # 64 KiB round trips until told to stop, then a clean half-close
            rng = random.Random(9)
            while not stop.is_set():
                echo_roundtrip(long, rng, 65536)
                moved[0] += 65536
            long.shutdown(socket.SHUT_WR)
            rest, _ = recv_until_eof(long, IO_TIMEOUT)
            check(rest == b"", f"bytes after the last echo: {rest[:40]!r}")

        w = Worker(keep_going)
        time.sleep(0.3)
        before = moved[0]
        proxy.write_config(forward_config(b.addr))
        mark = proxy.mark()
        proxy.p.send_signal(signal.SIGHUP)
        proxy.wait_line(rf"^gort-proxy: reloaded {re.escape(proxy.config_path)} ", after=mark)
        for _ in range(3):
            c = proxy.connect()
            check(recv_line(c) == "B", "a new conn after SIGHUP is not on B")
            echo_roundtrip(c, random.Random(1), 1000)
            c.close()
        log("after SIGHUP, 3 new conns reached backend B")
        at_reload = moved[0]
        time.sleep(0.3)
        check(moved[0] > at_reload, "the transfer on A stopped moving after the reload")
        stop.set()
        w.join()
        long.close()
        a.wait(lambda x: 0 in x.done, "the long conn ended")
        check(a.accepted == 1 and b.accepted == 3, f"conns: A {a.accepted}, B {b.accepted}")
        check(not a.errors and not b.errors, f"backends: {a.errors} {b.errors}")
        rec = proxy.access(upstream=a.addr, end="ok")
        check(rec["up"] == str(moved[0]) and rec["down"] == str(moved[0] + 2), f"access log: {rec}")
        log(f"the conn on A went on through the reload ({before} bytes before, {moved[0]} in all, echoed "
            f"byte-exact), ended ok")
    finally:
        proxy.stop()


def test_reload_broken():
    """SIGHUP with a broken file is refused (a log line with file:line) and the old config goes on serving."""
    a, b = Backend(echo_handler("A"), "A"), Backend(echo_handler("B"), "B")
    proxy = Proxy(forward_config(a.addr))
    try:
        long = proxy.connect()
        check(recv_line(long) == "A", "not on A")
        good = forward_config(a.addr)
        broken = [
            # (text, the line the message must name, what it must say)
            (forward_config("127.0.0.1"), good.splitlines().index('mode = "forward"') + 2, "has no port"),
            (good.replace('mode = "forward"', 'mode = "forwardd"'), good.splitlines().index('mode = "forward"') + 1,
             "mode"),
            ('access_log = "-"\n[[listener]\nname = "x"\n', 2, ""),  # not TOML
            (forward_config(b.addr, grace_period='"30"'), 1, 'grace_period: invalid duration "30"'),
        ]
        rng = random.Random(3)
        for text, line, what in broken:
            proxy.write_config(text)
            mark = proxy.mark()
            proxy.p.send_signal(signal.SIGHUP)
            _, m = proxy.wait_line(r"^gort-proxy: reload refused, the old config goes on serving: (.*)$", after=mark)
            msg = m.group(1)
            check(re.match(rf"{re.escape(proxy.config_path)}:{line}:\d+: ", msg), f"not at line {line}: {msg}")
            check(what in msg, f"the message does not say {what!r}: {msg}")
            c = proxy.connect()
            check(recv_line(c) == "A", "after a refused reload a new conn is not on A")
            c.close()
            echo_roundtrip(long, rng, 100_000)
            log(f"refused: {msg}; new conns still reach A, the open one still echoes")
        check(proxy.running(), "gort-proxy died")
        # And a good file after the broken ones is taken.
        proxy.write_config(forward_config(b.addr))
        mark = proxy.mark()
        proxy.p.send_signal(signal.SIGHUP)
        proxy.wait_line("^gort-proxy: reloaded ", after=mark)
        c = proxy.connect()
        check(recv_line(c) == "B", "a good file after the broken ones was not taken")
        c.close()
        long.close()
        check(b.accepted == 1, f"B saw {b.accepted} conns")
        log("then a good file: reloaded, new conns on B")
    finally:
        proxy.stop()


# ---------------------------------------------------------------- 11. the demo


def test_demo():
    """gort-proxy --demo on free ports: the curl commands it prints work; SIGINT stops it with 0."""
    tool("curl", "curl")
    tool("openssl", "openssl")
    env = dict(os.environ)
    ports = {"TLS": free_port(), "PLAIN": free_port(), "METRICS": free_port()}
    for k, v in ports.items():
        env[f"GORT_DEMO_{k}_PORT"] = str(v)
    env["GORT_DEMO_DIR"] = ENV.path("demo")
    demo = Proc([ENV.proxy, "--demo"], "gort-proxy --demo", env=env, cwd=ENV.tmp)
    try:
        demo.wait_line(r"^Ctrl-C stops it\.$", key="out", timeout=IO_TIMEOUT * ENV.slow)
        cmds = [ln.strip() for ln in demo.lines["out"] if re.match(r"^  (curl|openssl) ", ln)]
        check(len(cmds) == 5, f"the demo printed {len(cmds)} commands:\n{demo.text('out')}")
        want = [
            (r"https://a\.demo\.test", 0, "hello from TLS backend a (a.demo.test), through gort-proxy\n"),
            (r"https://b\.demo\.test", 0, "hello from TLS backend b (b.demo.test), through gort-proxy\n"),
            (rf"^curl http://127\.0\.0\.1:{ports['PLAIN']}/$", 0, "hello from the plain backend, through gort-proxy\n"),
            (r"^openssl s_client .*-servername c\.demo\.test", None, None),
            (r"/metrics \| grep gort_proxy_$", 0, "gort_proxy_"),
        ]
        counted = (r'^gort_proxy_connections_total\{listener="tls",route="a"\} 1$',
                   r'^gort_proxy_connections_total\{listener="tls",route="b"\} 1$',
                   r'^gort_proxy_connections_total\{listener="plain",route="forward"\} 1$',
                   r'^gort_proxy_errors_total\{[^}]*kind="no_route"[^}]*\} 1$')
        for cmd, (rx, want_rc, want_out) in zip(cmds, want):
            check(re.search(rx, cmd), f"command {cmd!r} is not like {rx!r}")
            if cmd.startswith("curl"):
                cmd = cmd.replace("curl ", "curl -sS --max-time 10 ", 1)
            rc, out, err = run(["bash", "-c", cmd], timeout=15 * ENV.slow)
            for _ in range(20 if want_out == "gort_proxy_" else 0):
                # The conns above, counted (each just after its access log line).
                if all(re.search(rx, out, re.M) for rx in counted):
                    break
                time.sleep(0.1)
                rc, out, err = run(["bash", "-c", cmd], timeout=15 * ENV.slow)
            if want_rc is None:  # the no-route example: closed, no certificate
                check(rc != 0 and "BEGIN CERTIFICATE" not in out, f"{cmd}: status {rc}\n{out}")
                demo.access(sni="c.demo.test", end="no_route")
                log(f"ran: {cmd}\n    -> closed (status {rc}), demo's log: end=no_route")
                continue
            check(rc == want_rc, f"{cmd}: status {rc}\n{out}{err}")
            if want_out == "gort_proxy_":
                for rx in counted:
                    check(re.search(rx, out, re.M), f"{cmd}: no line like {rx}:\n{out}")
                lines = out.count("\n")
                log(f"ran: {cmd}\n    -> {lines} gort_proxy_ metric lines; each conn above counted")
            else:
                check(out == want_out, f"{cmd}: {out!r}")
                log(f"ran: {cmd}\n    -> {out.strip()!r}")
        t0 = time.monotonic()
        demo.p.send_signal(signal.SIGINT)
        rc = demo.wait_exit(10 * ENV.slow)
        check(rc == 0, f"the demo exited with {rc} after SIGINT; stderr:\n{demo.text(last=20)}")
        demo.check_sanitizers()
        log(f"SIGINT: exit 0 after {time.monotonic() - t0:.2f} s")
    finally:
        demo.kill()


# ---------------------------------------------------------------- 12. --check-config


def test_check_config():
    """--check-config: a good file exits 0 with a summary; bad ones exit 1 naming file:line:col."""
    cert, key = make_cert("site", "site.test")
    _, other_key = make_cert("other", "other.test")
    good = f'''# a good file
grace_period = "5s"
access_log = ""

[timeouts]
client_hello = "2s"

[[listener]]
name = "https"
address = "127.0.0.1:{free_port()}"

[[listener.route]]
name = "site"
mode = "terminate"
sni = ["site.test"]
cert = "{cert}"
key = "{key}"
upstreams = ["127.0.0.1:8080"]

[[listener.route]]
name = "rest"
mode = "passthrough"
default = true
upstreams = ["127.0.0.1:9443", "127.0.0.1:9444"]

[[listener]]
name = "db"
address = "127.0.0.1:{free_port()}"

[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:5432"]
'''
    path = ENV.path("good.toml")
    with open(path, "w") as f:
        f.write(good)
    rc, out, err = run([ENV.proxy, "--config", path, "--check-config"], timeout=10 * ENV.slow)
    check(rc == 0, f"good file: status {rc}\n{out}{err}")
    check(out.strip() == f"{path}: OK: 2 listener(s), 3 route(s)", f"good file: {out!r}")
    check(not any(m in err for m in SANITIZER_MARKS), f"sanitizer report:\n{err}")
    log(f"good file: status 0, {out.strip()!r}")

    lines = good.splitlines()

    def line_of(s, start=0):
        return next(i for i in range(start, len(lines)) if lines[i].startswith(s)) + 1

    bad = [
        ("grace_period", good.replace('grace_period = "5s"', 'grace_period = "5"'), line_of("grace_period"),
         'grace_period: invalid duration "5"'),
        ("typo", good.replace("upstreams = [\"127.0.0.1:8080\"]", "upstream = [\"127.0.0.1:8080\"]"),
         line_of("upstreams"), 'unknown key (did you mean "upstreams"?)'),
        ("no port", good.replace('"127.0.0.1:9444"', '"10.0.0.1"'), line_of("upstreams", line_of('name = "rest"')),
         '"10.0.0.1" has no port'),
        ("mode", good.replace('mode = "passthrough"', 'mode = "passthru"'), line_of('mode = "passthrough"'), "mode"),
        ("syntax", good.replace('name = "db"', 'name = "db'), line_of('name = "db"'), ""),
        ("cert/key pair", good.replace(f'key = "{key}"', f'key = "{other_key}"'), line_of("key = "),
         f'route "site": key: "{other_key}" is not the key of "{cert}"'),
        ("two defaults", good + '\n[[listener]]\naddress = "127.0.0.1:1"\n[[listener.route]]\nmode = "passthrough"\n'
         'default = true\nupstreams = ["127.0.0.1:1"]\n[[listener.route]]\nmode = "passthrough"\ndefault = true\n'
         'upstreams = ["127.0.0.1:2"]\n', len(lines) + 10, 'is the default already'),  # the second default = true
    ]
    for name, text, line, what in bad:
        p = ENV.path(f"bad-{name.replace(' ', '-').replace('/', '-')}.toml")
        with open(p, "w") as f:
            f.write(text)
        for args in (["--check-config"], []):  # and serving it is refused the same way, before listening
            rc, out, err = run([ENV.proxy, "--config", p, *args], timeout=10 * ENV.slow)
            check(rc == 1, f"{name} {args}: status {rc}, want 1\n{out}{err}")
            first = err.splitlines()[0] if err else ""
            m = re.match(rf"^gort-proxy: {re.escape(p)}:(\d+):(\d+): (.*)$", first)
            check(m, f"{name}: the message does not start with gort-proxy: FILE:LINE:COL: {err!r}")
            check(int(m.group(1)) == line, f"{name}: line {m.group(1)}, want {line}: {first}")
            check(what in m.group(3), f"{name}: the message does not say {what!r}: {first}")
            check("listener" not in out and " on 127.0.0.1:" not in err, f"{name}: it listened:\n{err}")
            check(not any(s in err for s in SANITIZER_MARKS), f"sanitizer report:\n{err}")
        log(f"bad ({name}): status 1: {first}")
    rc, out, err = run([ENV.proxy, "--config", ENV.path("missing.toml"), "--check-config"])
    check(rc == 1 and "missing.toml" in err, f"a missing file: status {rc}: {err}")
    log(f"a missing file: status 1: {err.strip()}")


# ---------------------------------------------------------------- a repeated stop


def test_stop_repeat():
    """Started, used and stopped with SIGTERM many times ($GORT_E2E_STOPS, 500): exit 0 every time.

    It guards a bug it found: serve() (proxy/run.cpp) returned while its
    second-signal fiber could still use `sigs` and `srv`, locals of serve():
    a data race and use after free that TSan reported in about one stop of
    15, and that killed a normal or ASan build (SIGSEGV) in one of 100 to 300.
    CTest runs 60 stops."""
    n = int(os.environ.get("GORT_E2E_STOPS", "500"))
    # More Ps than cores make the race likelier (measured on 2 cores, with the rates above).
    env = dict(os.environ, GORT_MAXPROCS=os.environ.get("GORT_MAXPROCS", "4"))
    be = Backend(echo_handler(), "echo")
    bad = []
    t0 = time.monotonic()
    for i in range(n):
        proxy = Proxy(forward_config(be.addr), name=f"gort-proxy-{i}", env=env)
        c = proxy.connect()
        echo_roundtrip(c, random.Random(i), 100)
        c.close()
        proxy.p.send_signal(signal.SIGTERM)
        rc = proxy.wait_exit(10 * ENV.slow)
        if rc == 0:
            proxy.check_sanitizers()
        else:
            bad.append(i)
            log(f"stop {i}: exit status {rc}; stderr:\n{proxy.text()}")
        PROCS.remove(proxy)
    log(f"{n} stops in {time.monotonic() - t0:.1f} s; {len(bad)} did not exit 0: {bad}")
    check(not bad, f"{len(bad)} of {n} stops did not exit 0 (stops {bad})")
