"""s2_upkill.py: scenario 2, an upstream SIGKILLed mid-transfer.

Two backends (peer.py xfer, processes of their own) behind two forward
listeners, a and b. N transfers run through each: a's are endless (the
client asks for 1 GiB back and keeps sending), b's are 8 MiB each way,
paced to last about 3 s. One second in, backend A is SIGKILLed. Checked:
every a client sees a close (EOF or reset) within a few seconds, and what
it got before is a byte-exact prefix of its stream; every b transfer
completes byte-exact both ways; the proxy then still serves b, closes new a
conns (nothing to dial, end=dial), and serves a again once A is back on its
port; its sockets return to the baseline.
"""
import asyncio
import hashlib
import os
import signal
import time

from .common import (
    SIZES, ENV, Peer, check, log, start_proxy, stop_proxy, open_conn, xfer_finish, xfer_send, access_records,
    count_ends, check_backend_records, settle_fds, down_chunks, digest, header,
)

TITLE = "2. An upstream killed mid-transfer"


async def endless(port, cid, killed_at, out):
    """An a-side transfer: reads until the close; out[cid] = (bytes, prefix ok, seconds after the kill)."""
    rd, wr = await open_conn(port)
    sender = asyncio.ensure_future(xfer_send(wr, cid, 1 << 30, 1 << 30, pace=(1 << 16, 0.01)))
    h, n = hashlib.sha256(), 0
    how = "eof"
    try:
        while True:
            data = await asyncio.wait_for(rd.read(1 << 18), 60)
            if not data:
                break
            h.update(data)
            n += len(data)
    except (ConnectionResetError, BrokenPipeError):
        how = "reset"
    closed = time.monotonic()
    sender.cancel()
    wr.close()
    ok = h.hexdigest() == digest(down_chunks(cid, n))
    out[cid] = (n, ok, closed - killed_at[0] if killed_at else None, how)


def run(r):
    n = SIZES.kill_transfers
    size = 8 << 20
    a = Peer("xfer", "s2-backend-a")
    b = Peer("xfer", "s2-backend-b")
    proxy, pp, alog = start_proxy([
        ("a", [{"name": "to-a", "mode": "forward", "upstreams": [a.addr]}], None),
        ("b", [{"name": "to-b", "mode": "forward", "upstreams": [b.addr]}], None),
    ], name="s2-proxy")
    try:
        base = pp.fds()
        r.fig("transfers", f"{n} to backend A (endless), {n} to backend B ({size >> 20} MiB each way, ~3 s)")
        killed_at = []
        a_out = {}

        async def main():
            a_tasks = [asyncio.ensure_future(endless(proxy.ports["a"], 1000 + i, killed_at, a_out)) for i in range(n)]

            async def b_one(i):
                rd, wr = await open_conn(proxy.ports["b"])
                return await xfer_finish(rd, wr, i, size, size, timeout=60, pace=(1 << 16, 0.024))

            b_tasks = [asyncio.ensure_future(b_one(i)) for i in range(n)]
            await asyncio.sleep(1.0)
            st = a.status()
            check(st["active"] == n, f"backend A holds {st['active']} of {n} transfers before the kill")
            os.kill(a.p.pid, signal.SIGKILL)
            killed_at.append(time.monotonic())
            log(f"SIGKILLed backend A (pid {a.p.pid}) with {n} transfers under way")
            await asyncio.gather(*a_tasks)
            b_moved = await asyncio.gather(*b_tasks)
            return sum(b_moved)

        b_moved = asyncio.run(main())
        a.p.wait(timeout=10)
        lat = sorted(v[2] for v in a_out.values())
        got = sum(v[0] for v in a_out.values())
        hows = {h: sum(1 for v in a_out.values() if v[3] == h) for h in ("eof", "reset")}
        r.fig("fault injected", f"SIGKILL of backend A 1.0 s in, {n} transfers through it")
        r.fig("A clients: closed after the kill", f"max {lat[-1] * 1000:.0f} ms, median {lat[len(lat) // 2] * 1000:.0f} ms "
                                                  f"({hows['eof']} EOF, {hows['reset']} reset)")
        check(lat[-1] < 5 * ENV.slow, f"an A client saw its close {lat[-1]:.1f} s after the kill")
        check(all(v[1] for v in a_out.values()), "an A client's bytes before the close are not its stream's prefix")
        r.fig("A clients: bytes before the close", f"{got} (each a byte-exact prefix of its stream)")
        r.ok(f"all {n} A clients saw a close (EOF or reset) within {lat[-1]:.2f} s of the kill, "
             "and what they got before was a byte-exact prefix")
        bst = b.status()
        check(bst["errors"] == 0, f"backend B errors: {bst['errors']}")
        r.fig("B transfers", f"{n} completed, {2 * n * size} bytes verified (sha256 both ways)")

        # Still serving: b, a without its backend, a again with it.
        async def after():
            rd, wr = await open_conn(proxy.ports["b"])
            await xfer_finish(rd, wr, 500, 1 << 20, 1 << 20)
            rd, wr = await open_conn(proxy.ports["a"])
            t0 = time.monotonic()
            data = await asyncio.wait_for(rd.read(1), 10 * ENV.slow)
            wr.close()
            return data, time.monotonic() - t0

        data, took = asyncio.run(after())
        check(data == b"", f"an a conn without its backend got {data!r}")
        r.ok(f"with A dead: a new b transfer completes byte-exact; a new a conn is closed in {took * 1000:.0f} ms")
        a2 = Peer("xfer", "s2-backend-a2", port=a.port)

        async def again():
            rd, wr = await open_conn(proxy.ports["a"])
            await xfer_finish(rd, wr, 501, 1 << 20, 1 << 20)

        asyncio.run(again())
        r.ok("backend A restarted on its port: a serves again, byte-exact")
        bst = b.stop()
        check_backend_records(bst["records"], {**{i: size for i in range(n)}, 500: 1 << 20})
        a2st = a2.stop()
        check_backend_records(a2st["records"], {501: 1 << 20})
        r.ok(f"every B transfer ({n} x {size >> 20} MiB each way, and the one after) byte-exact at both ends")
        after_fds = settle_fds(pp, base, 20 * ENV.slow, "after the kill")
        r.fig("proxy fds", f"baseline {base['total']}, after {after_fds['total']} "
                           f"(sockets {base['socket']} -> {after_fds['socket']})")
        r.ok("the proxy's sockets back to the baseline")
        stop_proxy(proxy)
        r.ok("gort-proxy exited 0 on SIGTERM, no sanitizer report")
        ends = {}
        for rec in access_records(alog):
            k = f"{rec.get('route')}:{rec.get('end')}"
            ends[k] = ends.get(k, 0) + 1
        r.fig("access log (route:end)", dict(sorted(ends.items())))
        check(ends.get("to-b:ok") == n + 1, f"b's access log: {ends}")
        check(ends.get("to-a:dial") == 1 and ends.get("to-a:ok") == 1, f"a's access log: {ends}")
        check(sum(v for k, v in ends.items() if k.startswith("to-a:") and not k.endswith((":dial", ":ok"))) == n,
              f"a's killed transfers in the access log: {ends}")
        r.ok("the access log has every connection: A's killed transfers as errors, one end=dial, the rest ok")
    finally:
        proxy.kill()
        from e2e.harness import kill_all
        kill_all()
