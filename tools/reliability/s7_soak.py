"""s7_soak.py: scenario 7, a soak: mixed load for SOAK_SECONDS with the
proxy's RSS and open fds sampled every second.

Client loops (asyncio) run at once, each picking at random: a small
transfer (up to 64 KiB each way), a bulk one (1 to 4 MiB each way), both
through a forward listener to peer.py xfer and checked by sha256 at both
ends; a TLS handshake and echo through an SNI passthrough listener to
peer.py tls; a transfer reset mid-way (SO_LINGER 0); a garbage "hello".
Checked: every transfer byte-exact; the RSS at the end within 10 % or
8 MiB (whichever is larger) of the RSS after the warm-up (the first fifth,
at least 10 s); the sockets back to the baseline once the load stops, the
pipes within the splice pool's bound; the proxy's threads bounded.
"""
import asyncio
import os
import random
import socket
import ssl
import struct
import time

from .common import (
    SIZES, ENV, Peer, check, log, start_proxy, stop_proxy, access_records, count_ends, settle_fds, make_cert,
    open_conn, xfer_finish, check_backend_records, pipe_bound, settle_pipes, header, up_chunks,
)

TITLE = "7. Soak under mixed load: RSS and fds flat"


def run(r):
    secs, k = SIZES.soak_seconds, SIZES.soak_clients
    warm = max(10.0, secs / 5)
    cert = make_cert("soak", "soak.test")
    xb = Peer("xfer", "s7-xfer-backend")
    tb = Peer("tls", "s7-tls-backend", cert=cert)
    env = None
    if ENV.sanitizer == "address":
        # ASan keeps freed memory in a quarantine (256 MiB by default) to catch use after free;
        # filling it looks like growth. A 16 MiB one still catches recent frees and leaves RSS
        # meaningful; leaks are also LeakSanitizer's to find, at exit (stop_proxy checks).
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "detect_leaks=1")
                   + ":quarantine_size_mb=16")
        r.notes.append("Under ASan the proxy runs with `quarantine_size_mb=16` here: the default 256 MiB "
                       "quarantine of freed memory fills over the soak and reads as growth; LeakSanitizer "
                       "checks for leaks at exit.")
    proxy, pp, alog = start_proxy([
        ("fwd", [{"name": "fwd", "mode": "forward", "upstreams": [xb.addr]}], None),
        ("sni", [{"name": "soak", "mode": "passthrough", "sni": ["soak.test"], "upstreams": [tb.addr]}],
         {"client_hello": "2s"}),
    ], name="s7-proxy", env=env)
    try:
        base = pp.fds()
        ctx = ssl.create_default_context(cafile=ENV.ca)
        samples = []  # (t, rss KiB, fds total, sockets, pipes, threads)
        counts = {"small": 0, "bulk": 0, "tls": 0, "reset": 0, "garbage": 0}
        expect = {}
        moved = [0]

        async def sampler(t0, stop):
            while not stop.is_set():
                f = pp.fds()
                samples.append((time.monotonic() - t0, pp.rss_kib(), f["total"], f["socket"], f["pipe"], pp.threads()))
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass

        async def loop(i, t_end):
            rng = random.Random(700 + i)
            cid = i * 10_000_000
            while time.monotonic() < t_end:
                cid += 1
                x = rng.random()
                if x < 0.5 or x < 0.65:
                    bulk = x >= 0.5
                    up = rng.randint(1 << 20, 4 << 20) if bulk else rng.randint(0, 64 << 10)
                    down = rng.randint(1 << 20, 4 << 20) if bulk else rng.randint(0, 64 << 10)
                    rd, wr = await open_conn(proxy.ports["fwd"], retries=3)
                    moved[0] += await xfer_finish(rd, wr, cid, up, down, timeout=60)
                    expect[cid] = up
                    counts["bulk" if bulk else "small"] += 1
                elif x < 0.85:
                    data = rng.randbytes(rng.randint(1, 8192))
                    rd, wr = await asyncio.wait_for(asyncio.open_connection(
                        "127.0.0.1", proxy.ports["sni"], ssl=ctx, server_hostname="soak.test"), 60)
                    wr.write(data)
                    back = await asyncio.wait_for(rd.readexactly(len(data)), 60)
                    wr.close()
                    check(back == data, "a TLS echo differs")
                    counts["tls"] += 1
                elif x < 0.95:
                    # mid-transfer: 256 MiB asked for, never read; the client never half-closes
                    rd, wr = await open_conn(proxy.ports["fwd"], retries=3)
                    wr.write(header(cid, 256 << 20))
                    wr.write(b"".join(up_chunks(cid, rng.randint(0, 256 << 10))))
                    await asyncio.wait_for(rd.read(rng.randint(1, 65536)), 60)
                    await asyncio.sleep(rng.random() * 0.05)
                    sock = wr.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    wr.transport.abort()
                    counts["reset"] += 1
                else:
                    rd, wr = await open_conn(proxy.ports["sni"], retries=3)
                    wr.write(rng.randbytes(rng.randint(1, 600)))
                    wr.write_eof()
                    try:
                        check(await asyncio.wait_for(rd.read(1), 30) == b"", "garbage got an answer")
                    except ConnectionError:
                        pass
                    wr.close()
                    counts["garbage"] += 1

        async def main():
            t0 = time.monotonic()
            stop = asyncio.Event()
            s = asyncio.ensure_future(sampler(t0, stop))
            await asyncio.gather(*(loop(i, t0 + secs) for i in range(k)))
            # a little after the load: let the sampler see the settled state
            await asyncio.sleep(2)
            stop.set()
            await s

        asyncio.run(main())
        total = sum(counts.values())
        r.fig("load", f"{secs} s, {k} client loops: {total} connections {counts}, "
                      f"{moved[0] / 2**20:.0f} MiB transferred and checked")
        warm_rss = [s[1] for s in samples if s[0] >= warm]
        check(warm_rss, "no sample after the warm-up")
        at_warm = warm_rss[0]
        end_load = [s for s in samples if s[0] <= secs][-1]
        peak = max(s[1] for s in samples)
        growth = end_load[1] - at_warm
        r.fig("RSS", f"after the warm-up ({warm:.0f} s) {at_warm / 1024:.1f} MiB, at the end of the load "
                     f"{end_load[1] / 1024:.1f} MiB ({growth / 1024:+.1f} MiB), peak {peak / 1024:.1f} MiB, "
                     f"at start {samples[0][1] / 1024:.1f} MiB")
        check(growth < max(0.10 * at_warm, 8 * 1024),
              f"RSS grew {growth / 1024:.1f} MiB from {at_warm / 1024:.1f} MiB over the soak")
        r.ok("RSS flat: the end of the load within 10 % or 8 MiB of after the warm-up")
        fmax = max(s[2] for s in samples)
        tmax = max(s[5] for s in samples)
        r.fig("fds", f"baseline {base['total']} (sockets {base['socket']}), peak {fmax}, "
                     f"sampled: " + ", ".join(f"{s[0]:.0f}s={s[2]}" for s in samples[::max(1, len(samples) // 8)]))
        r.fig("threads", f"at most {tmax}")
        settle_fds(pp, base, 20 * ENV.slow, "after the soak")
        after = settle_pipes(pp, base, 10 * ENV.slow)
        r.fig("fds after the load", f"{after['total']} (sockets {after['socket']}, pipes {after['pipe']}, "
                                    f"pool bound {pipe_bound(pp)})")
        r.ok("fds back to the baseline after the load (sockets exactly; pooled pipes within the bound)")
        st = xb.stop()
        check_backend_records(st["records"], expect)
        r.ok(f"{counts['small'] + counts['bulk']} transfers byte-exact at both ends, {counts['tls']} TLS echoes exact")
        stop_proxy(proxy)
        r.ok("gort-proxy exited 0 on SIGTERM, no sanitizer report")
        ends = count_ends(access_records(alog))
        r.fig("access log", ends)
        check(ends.get("client_reset", 0) + ends.get("upstream_closed", 0) >= counts["reset"],
              f"{counts['reset']} resets mid-transfer, the access log has fewer errors: {ends}")
        check(sum(ends.values()) == total, f"{sum(ends.values())} access log lines for {total} connections")
        r.notes.append("RSS samples (s: MiB): " + ", ".join(
            f"{s[0]:.0f}: {s[1] / 1024:.1f}" for s in samples[::max(1, len(samples) // 20)]))
    finally:
        proxy.kill()
        from e2e.harness import kill_all
        kill_all()
