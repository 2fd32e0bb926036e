"""s5_fds.py: scenario 5, gort-proxy out of file descriptors.

gort-proxy runs under RLIMIT_NOFILE 256 (as `ulimit -n 256; exec
gort-proxy`), one forward listener to an echo backend. More clients connect
than it has fds for, each sending a request; the ones it serves then move
1 MiB each way while the table is full (no pipe for splice: the small
path). Checked: the proxy keeps running; its CPU, sampled while it is
saturated, shows no busy loop; it says what happened (the access log's
end=dial lines name EMFILE; its stderr); every client is either served
byte-exact, closed, or still queued, never given wrong bytes; and once the
clients go away, new connections succeed and its sockets return to the
baseline.
"""
import asyncio
import random
import re
import time

from .common import (
    SIZES, ENV, Peer, Skipped, TestFailure, check, log, start_proxy, stop_proxy, access_records,
    count_ends, settle_fds, nofile,
)

TITLE = "5. Out of file descriptors (ulimit -n 256)"

LIMIT = 256
HELLO = 3  # seconds: the sni listener's client_hello timeout


def has_vptr_check(binary):
    """Whether UBSan's vptr check is compiled into binary (its handler is linked)."""
    import mmap
    with open(binary, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(b"__ubsan_handle_dynamic_type_cache_miss") >= 0


def run(r):
    m = SIZES.exhaust_conns
    be = Peer("echo", "s5-backend")
    if ENV.sanitizer == "address" and has_vptr_check(ENV.proxy):
        # UBSan's vptr check reads an object's memory through a pipe before it trusts the object's
        # type; a process with no fd left cannot make one, so UBSan reports "invalid vptr" at the
        # first virtual call it has not cached, and gort builds UBSan unrecoverable. Seen here at
        # std::error_code::message() and in proxy/metrics_proxy.cpp: false reports, and a dead
        # proxy. (tests/net/listen_test.cpp frees its fds before anything virtual likewise.)
        raise Skipped("not run with UBSan's vptr check: it needs a pipe, which a process out of fds cannot "
                      "make (a false 'invalid vptr' report, fatal in gort's sanitizer builds); run it with an "
                      "ASan+UBSan build compiled with -fno-sanitize=vptr")
    with nofile(LIMIT):
        proxy, pp, alog = start_proxy([
            ("main", [{"name": "fwd", "mode": "forward", "upstreams": [be.addr]}], None),
            ("sni", [{"name": "any", "mode": "passthrough", "default": True, "upstreams": [be.addr]}],
             {"client_hello": f"{HELLO}s"}),
        ], name="s5-proxy")
    try:
        base = pp.fds()
        r.fig("proxy RLIMIT_NOFILE", f"{LIMIT} (baseline {base['total']} fds in use)")
        rng = random.Random(5)

        async def main():
            conns = []
            for i in range(m):
                rd, wr = await asyncio.open_connection("127.0.0.1", proxy.port)
                conns.append((rd, wr))
            reqs = [rng.randbytes(100) for _ in range(m)]
            for (rd, wr), q in zip(conns, reqs):
                wr.write(q)

            async def answer(rd, q):
                try:
                    got = await asyncio.wait_for(rd.readexactly(100), 3 * ENV.slow)
                    check(got == q, "an echo differs")
                    return "served"
                except asyncio.IncompleteReadError as e:
                    check(e.partial == q[:len(e.partial)], "a partial echo differs")
                    return "closed"
                except asyncio.TimeoutError:  # first: it is an OSError too
                    return "queued"
                except (ConnectionError, OSError):
                    return "closed"

            verdicts = await asyncio.gather(*(answer(rd, q) for (rd, _), q in zip(conns, reqs)))
            full = pp.fds()
            # Saturated: CPU over 3 s, and bulk on the served conns (no pipes left).
            c0, t0 = pp.cpu_seconds(), time.monotonic()
            served = [c for c, v in zip(conns, verdicts) if v == "served"]

            async def bulk(rd, wr, i):
                data = random.Random(i).randbytes(1 << 20)
                wr.write(data)
                back = await asyncio.wait_for(rd.readexactly(len(data)), 60)
                check(back == data, "1 MiB echo differs under fd exhaustion")

            await asyncio.gather(*(bulk(rd, wr, i) for i, (rd, wr) in enumerate(served)))
            t_bulk = time.monotonic() - t0
            await asyncio.sleep(max(0.0, 3.0 - t_bulk))
            c_bulk = pp.cpu_seconds() - c0
            c1, t1 = pp.cpu_seconds(), time.monotonic()
            await asyncio.sleep(3.0)  # saturated and idle: a spin would show here
            idle_cpu = (pp.cpu_seconds() - c1) / (time.monotonic() - t1)
            alive = proxy.running()
            for _, wr in conns:
                wr.close()
            return verdicts, full, len(served), t_bulk, c_bulk, idle_cpu, alive

        verdicts, full, n_served, t_bulk, c_bulk, idle_cpu, alive = asyncio.run(main())
        counts = {v: verdicts.count(v) for v in ("served", "closed", "queued")}
        r.fig("clients", f"{m}: {counts}")
        r.fig("proxy fds while saturated", full)
        check(alive, "gort-proxy died while out of fds")
        check(counts["served"] > 0, "no client served at all")
        r.ok(f"{m} clients on a proxy with {LIMIT} fds: each served byte-exact, closed, or queued; none got wrong bytes")
        r.fig("bulk while saturated", f"{n_served} x 1 MiB echoed byte-exact in {t_bulk:.1f} s")
        r.fig("proxy CPU while saturated and idle", f"{idle_cpu * 100:.1f} % of a core (3 s sample)")
        check(idle_cpu < 0.3, f"gort-proxy used {idle_cpu * 100:.0f} % CPU while saturated and idle: a busy loop?")
        r.ok("no busy loop: CPU below 30 % of a core while saturated and idle")
        after = settle_fds(pp, base, 30 * ENV.slow, "after the clients left")

        async def fresh():
            ok = 0
            for i in range(50):
                rd, wr = await asyncio.open_connection("127.0.0.1", proxy.port)
                q = rng.randbytes(1000)
                wr.write(q)
                check(await asyncio.wait_for(rd.readexactly(1000), 10 * ENV.slow) == q, "echo differs")
                wr.close()
                ok += 1
            return ok

        ok = asyncio.run(fresh())
        r.fig("after the clients left", f"{ok} of 50 new connections served byte-exact; proxy fds {after['total']}")
        check(ok == 50, "new connections failed after recovery")
        r.ok("recovered: new connections succeed once fds are free, sockets back to the baseline")

        # The accept side: silent conns to the sni listener hold one fd each until their hello
        # timeout, so the table fills at accept (EMFILE there: the listener backs off, the rest
        # wait in the kernel's queue) and frees itself every HELLO seconds.
        async def accept_side():
            conns = [await asyncio.open_connection("127.0.0.1", proxy.ports["sni"]) for _ in range(m)]
            await asyncio.sleep(1.0)
            c0, t0 = pp.cpu_seconds(), time.monotonic()
            full = pp.fds()
            await asyncio.sleep(1.5)
            cpu = (pp.cpu_seconds() - c0) / (time.monotonic() - t0)
            closed, t_start = [], time.monotonic()

            async def wait_close(rd):
                try:
                    check(await asyncio.wait_for(rd.read(1), (m // 200 + 3) * HELLO * 3 * ENV.slow) == b"",
                          "a silent conn got bytes")
                except asyncio.TimeoutError:  # first: it is an OSError too
                    raise TestFailure("a silent conn to the sni listener was never closed")
                except (ConnectionError, OSError):
                    pass
                closed.append(time.monotonic() - t_start)

            await asyncio.gather(*(wait_close(rd) for rd, _ in conns))
            for _, wr in conns:
                wr.close()
            return full, cpu, max(closed)

        full2, cpu2, last = asyncio.run(accept_side())
        r.fig("accept side", f"{m} silent conns to the sni listener (client_hello {HELLO} s): proxy fds "
                             f"{full2['total']} of {LIMIT}, CPU {cpu2 * 100:.1f} % of a core while full; "
                             f"all closed by the proxy within {last:.1f} s")
        check(cpu2 < 0.3, f"gort-proxy used {cpu2 * 100:.0f} % CPU with its fd table full at accept: a busy loop?")
        r.ok("fd table full at accept: no busy loop (the listener backs off), every queued conn accepted "
             "and timed out in turn")
        after = settle_fds(pp, base, 30 * ENV.slow, "after the accept side")
        ok = asyncio.run(fresh())
        check(ok == 50, "new connections failed after the accept side")
        r.ok("recovered again: 50 new connections served byte-exact")
        err_text = proxy.text()
        stop_proxy(proxy)
        r.ok("gort-proxy exited 0 on SIGTERM, no sanitizer report")
        recs = access_records(alog)
        ends = count_ends(recs)
        r.fig("access log", ends)
        emfile = [x for x in recs if "Too many open files" in x.get("detail", "")]
        r.fig("access log lines naming EMFILE", f"{len(emfile)}" + (f", e.g. detail=\"{emfile[0]['detail']}\""
                                                                   if emfile else ""))
        backoff = [ln for ln in err_text.splitlines() if re.match(r'^gort-proxy: listener "\w+": accept: ', ln)]
        r.fig("proxy stderr: accept back-off lines", f"{len(backoff)}" + (f", e.g. {backoff[0]!r}" if backoff else ""))
        check(emfile, "the access log does not say why dials failed")
        check(backoff and all("Too many open files; retrying in" in ln for ln in backoff),
              "gort-proxy's stderr does not say that accept ran out of fds")
        r.ok("the logs say it: the dials that failed for want of an fd as end=dial detail=\"Too many open files\" "
             "in the access log, accept's back-off on stderr (\"accept: Too many open files; retrying in N ms\")")
    finally:
        proxy.kill()
        from e2e.harness import kill_all
        kill_all()
