"""s1_concurrent.py: scenario 1, many connections at once (10,000 in the
full run) through one forward listener to peer.py's xfer backend. Where
one process may not open enough fds for them (2 per connection under the
hard RLIMIT_NOFILE), several gort-proxy processes share the port with
SO_REUSEPORT and the figures add theirs up.

All connections are opened first and held; the scenario counts what is
really held at once (the client's sockets, the backend's open conns, the
proxy's sockets from /proc/PID/fd). Then every connection transfers at
once: its stream up (checked by sha256 at the backend), the backend's
stream down (checked by sha256 at the client), half-closed both ways.
Afterwards the proxy's sockets are back to the baseline.
"""
import asyncio
import time

from .common import (
    SIZES, ENV, Peer, check, log, start_proxy, stop_proxy, open_conn, xfer_finish, access_records,
    count_ends, check_backend_records, settle_fds, wait_for,
)


TITLE = "1. Many connections at once, every byte checked"


def run(r):
    n, size = SIZES.conns, SIZES.conn_bytes
    be = Peer("xfer", "s1-backend")
    routes = [("main", [{"name": "fwd", "mode": "forward", "upstreams": [be.addr]}], None)]
    many = SIZES.proxies > 1
    first = start_proxy(routes, name="s1-proxy", max_connections=n + 1000, reuse_port=many)
    instances = [first] + [
        start_proxy(routes, name=f"s1-proxy{k}", max_connections=n + 1000, address=f"127.0.0.1:{first[0].port}",
                    reuse_port=True) for k in range(1, SIZES.proxies)]
    proxy = first[0]

    class Sum:  # the instances' fds, added up
        def fds(self):
            tot = {}
            for _, p, _ in instances:
                for k, v in p.fds().items():
                    tot[k] = tot.get(k, 0) + v
            return tot

    pp = Sum()
    try:
        base = pp.fds()
        r.fig("connections", n)
        if many:
            r.fig("proxies", f"{SIZES.proxies} gort-proxy processes on one port (SO_REUSEPORT): one may open "
                             f"{SIZES.fd_hard} fds here (hard RLIMIT_NOFILE) and needs 2 per connection")
        r.fig("bytes per connection", f"{size} up + {size} down (+16 header)")

        async def main():
            sem = asyncio.Semaphore(200)

            async def opener(i):
                async with sem:
                    return await open_conn(proxy.port, retries=3)

            t0 = time.monotonic()
            conns = await asyncio.gather(*(opener(i) for i in range(n)))
            t_open = time.monotonic() - t0
            # Held at once: wait until the backend has every conn (the proxy dials on accept).
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: wait_for(lambda: be.status()["active"] >= n, f"the backend holding {n} conns",
                                       60 * ENV.slow))
            held_proxy = pp.fds()
            held_backend = be.status()["active"]
            t1 = time.monotonic()
            moved = await asyncio.gather(*(xfer_finish(rd, wr, i, size, size, timeout=300)
                                           for i, (rd, wr) in enumerate(conns)))
            return t_open, held_proxy, held_backend, time.monotonic() - t1, sum(moved)

        t_open, held_proxy, held_backend, t_xfer, moved = asyncio.run(main())
        r.fig("opened in", f"{t_open:.1f} s")
        r.fig("held at once", f"{n} client sockets, {held_backend} backend conns, "
                              f"{held_proxy['socket'] - base['socket']} proxy sockets (2 per conn)")
        check(held_backend == n, f"backend held {held_backend} of {n}")
        check(held_proxy["socket"] - base["socket"] >= 2 * n, f"proxy sockets {held_proxy} baseline {base}")
        r.ok(f"all {n} connections open at once: {n} at the client, {n} at the backend, "
             f"{held_proxy['socket'] - base['socket']} proxy sockets")
        r.fig("transfer phase", f"{t_xfer:.1f} s, {moved / 2**20:.1f} MiB through the proxy")
        st = be.stop()
        check(st["errors"] == 0, f"backend errors: {st['errors']}")
        check_backend_records(st["records"], {i: size for i in range(n)})
        r.fig("bytes verified", f"{2 * n * size} ({n} x {size} each way, sha256 at both ends)")
        r.ok("every connection's stream arrived byte-exact at the backend (sha256) and back at the client")
        after = settle_fds(pp, base, 30 * ENV.slow, "after the transfers")
        r.fig("proxy fds", f"baseline {base['total']}, held {held_proxy['total']}, after {after['total']} "
                           f"(sockets {base['socket']} -> {held_proxy['socket']} -> {after['socket']})")
        r.ok("the proxy's sockets back to the baseline")
        for p, _, _ in instances:
            stop_proxy(p)
        r.ok("gort-proxy exited 0 on SIGTERM, no sanitizer report" + (f" (all {len(instances)})" if many else ""))
        recs = [rec for _, _, alog in instances for rec in access_records(alog)]
        ends = count_ends(recs)
        r.fig("access log", ends)
        check(ends == {"ok": n}, f"access log ends: {ends}")
        r.ok(f"{n} access log lines, all end=ok")
    finally:
        for p, _, _ in instances:
            p.kill()
        be.kill()
    return r
