"""s4_slowloris.py: scenario 4, slowloris against both kinds of listener
while normal clients are served.

  tls    an SNI passthrough listener (client_hello timeout T) to a TLS echo
         backend (peer.py tls, certificate from gort-certs)
  plain  a forward listener (idle timeout T) to an echo backend

Half the slow connections go to each; of each half, half stay silent and
half send one byte a second (on tls: a real ClientHello, byte by byte, which
never completes in time). Meanwhile normal clients make requests (tls: a
full TLS handshake through the proxy and a 1 KiB echo; plain: a 1 KiB
echo), their latencies measured (p50, p99). Checked: every normal request
completed with the right bytes; every tls slow conn and every silent plain
one was closed by the proxy, not before T, within generous bounds after;
the trickling plain conns, which are traffic, stayed open with every byte
echoed; the proxy's sockets return to the baseline.
"""
import asyncio
import random
import ssl
import time

from .common import (
    SIZES, ENV, Peer, check, log, start_proxy, stop_proxy, access_records, count_ends, settle_fds, make_cert,
    client_hello, percentile,
)

TITLE = "4. Slowloris against a TLS (SNI) and a plain listener"

T = 5  # seconds: the client_hello and idle timeouts


async def slow(port, trickle, hello, out, stop):
    """One slow conn: {'closed': seconds after connecting or None, 'echo_ok'}."""
    t0 = time.monotonic()
    rd, wr = await asyncio.open_connection("127.0.0.1", port)
    sent = bytearray()
    got = bytearray()
    res = {"closed": None, "echo_ok": True}

    async def reader():
        while True:
            try:
                data = await rd.read(4096)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                res["closed"] = time.monotonic() - t0
                return
            got.extend(data)

    rt = asyncio.ensure_future(reader())
    i = 0
    while not stop.is_set() and not rt.done():
        if trickle:
            b = hello[i % len(hello):i % len(hello) + 1] if hello else bytes([65 + i % 26])
            try:
                wr.write(b)
                sent.extend(b)
            except (ConnectionError, OSError):
                break
            i += 1
        try:
            await asyncio.wait_for(asyncio.shield(stop.wait()), 1.0)
        except asyncio.TimeoutError:
            pass
    if not hello and trickle:  # plain trickle: echoed byte for byte
        await asyncio.sleep(0.5)
        res["echo_ok"] = bytes(got) == bytes(sent)
    rt.cancel()
    wr.close()
    out.append(res)


async def normal_plain(port, rng):
    data = rng.randbytes(1024)
    t0 = time.monotonic()
    rd, wr = await asyncio.open_connection("127.0.0.1", port)
    wr.write(data)
    back = await asyncio.wait_for(rd.readexactly(1024), 60)
    wr.close()
    check(back == data, "a plain echo differs")
    return time.monotonic() - t0


async def normal_tls(port, rng, ctx):
    data = rng.randbytes(1024)
    t0 = time.monotonic()
    rd, wr = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="slow.test",
                                          ssl_handshake_timeout=60)
    wr.write(data)
    back = await asyncio.wait_for(rd.readexactly(1024), 60)
    wr.close()
    check(back == data, "a TLS echo differs")
    return time.monotonic() - t0


def run(r):
    n, normal = SIZES.slowloris, SIZES.normal_requests
    cert = make_cert("slow", "slow.test")
    tb = Peer("tls", "s4-tls-backend", cert=cert)
    pb = Peer("echo", "s4-plain-backend")
    proxy, pp, alog = start_proxy([
        ("tls", [{"name": "slow", "mode": "passthrough", "sni": ["slow.test"], "upstreams": [tb.addr]}],
         {"client_hello": f"{T}s"}),
        ("plain", [{"name": "fwd", "mode": "forward", "upstreams": [pb.addr]}], {"idle": f"{T}s"}),
    ], name="s4-proxy")
    try:
        base = pp.fds()
        hello = client_hello("slow.test")
        ctx = ssl.create_default_context(cafile=ENV.ca)
        r.fig("timeouts", f"client_hello {T} s (tls), idle {T} s (plain)")

        async def main():
            stop = asyncio.Event()
            outs = {k: [] for k in ("tls-silent", "tls-trickle", "plain-silent", "plain-trickle")}
            tasks = []
            q = n // 4
            t0 = time.monotonic()
            for i in range(q):
                for key, port, trickle, h in (("tls-silent", proxy.ports["tls"], False, hello),
                                              ("tls-trickle", proxy.ports["tls"], True, hello),
                                              ("plain-silent", proxy.ports["plain"], False, None),
                                              ("plain-trickle", proxy.ports["plain"], True, None)):
                    tasks.append(asyncio.ensure_future(slow(port, trickle, h, outs[key], stop)))
                if i % 100 == 99:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(1.0)
            peak = pp.fds()
            opened = time.monotonic() - t0
            # normal clients while the slow ones are held
            rng = random.Random(4)
            lat = {"tls": [], "plain": []}
            sem = asyncio.Semaphore(8)

            async def one(i):
                async with sem:
                    if i % 2:
                        lat["tls"].append(await normal_tls(proxy.ports["tls"], rng, ctx))
                    else:
                        lat["plain"].append(await normal_plain(proxy.ports["plain"], rng))

            await asyncio.gather(*(one(i) for i in range(normal)))
            # Past the timeouts: every slow conn the proxy should close is closed.
            left = T + 4 * ENV.slow - (time.monotonic() - t0)
            if left > 0:
                await asyncio.sleep(left)
            stop.set()
            await asyncio.gather(*tasks)
            return outs, lat, peak, opened

        outs, lat, peak, opened = asyncio.run(main())
        r.fig("slow connections", f"{n}: " + ", ".join(f"{k} {len(v)}" for k, v in outs.items())
              + f" (opened in {opened:.1f} s)")
        r.fig("held at once", f"{peak['socket'] - base['socket']} proxy sockets")
        for key in ("tls-silent", "tls-trickle", "plain-silent"):
            closed = [o["closed"] for o in outs[key]]
            check(all(c is not None for c in closed), f"{key}: {sum(c is None for c in closed)} conns never closed")
            lo, hi = min(closed), max(closed)
            r.fig(f"{key} closed after", f"{lo:.1f} to {hi:.1f} s")
            check(lo >= T - 0.5, f"{key}: a conn closed after {lo:.2f} s, before the {T} s timeout")
        pt = outs["plain-trickle"]
        check(all(o["closed"] is None for o in pt), "a trickling plain conn was closed (it was sending)")
        check(all(o["echo_ok"] for o in pt), "a trickling plain conn's echo differs")
        r.ok(f"every tls slow conn and silent plain conn closed by the proxy, none before {T} s; "
             "the trickling plain conns (1 byte/s is traffic) stayed open, every byte echoed")
        for k, v in lat.items():
            r.fig(f"normal {k} requests", f"{len(v)}: p50 {percentile(v, 50) * 1000:.1f} ms, "
                                          f"p99 {percentile(v, 99) * 1000:.1f} ms, max {max(v) * 1000:.1f} ms")
        check(len(lat["tls"]) + len(lat["plain"]) == normal, "a normal request did not complete")
        r.ok(f"all {normal} normal requests completed, byte-exact, during the slowloris")
        after = settle_fds(pp, base, 20 * ENV.slow, "after the slowloris")
        r.fig("proxy fds", f"baseline {base['total']}, peak {peak['total']}, after {after['total']}")
        r.ok("the proxy's sockets back to the baseline")
        stop_proxy(proxy)
        r.ok("gort-proxy exited 0 on SIGTERM, no sanitizer report")
        ends = count_ends(access_records(alog))
        r.fig("access log", ends)
        check(ends.get("hello_timeout", 0) == len(outs["tls-silent"]) + len(outs["tls-trickle"]),
              f"hello_timeout count: {ends}")
        check(ends.get("idle_timeout", 0) == len(outs["plain-silent"]), f"idle_timeout count: {ends}")
        r.ok("access log: one hello_timeout per tls slow conn, one idle_timeout per silent plain conn")
    finally:
        proxy.kill()
        from e2e.harness import kill_all
        kill_all()
