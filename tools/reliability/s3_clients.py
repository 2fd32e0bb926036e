"""s3_clients.py: scenario 3, clients that go away badly, mid-transfer
(the backend streams to them, peer.py xfer) through a forward listener with
an idle timeout of 3 s:

  reset       SO_LINGER 0 then close (an RST) after some bytes each way
  reset-early the same right after connecting
  half-open   shutdown(SHUT_WR), then never read again and never close
  killed      a client process SIGKILLed (the kernel closes its sockets)
  stopped     a client process SIGSTOPped: it vanishes without a FIN or
              an RST, its window full; only the idle timeout can end these

Checked: the proxy stays up; its sockets return to the baseline (counted
in /proc/PID/fd) while the half-open and stopped clients still hold theirs;
the pipes it keeps are within the splice pool's bound; the backend sees
every connection end; a normal transfer still works afterwards; the access
log has a line for every connection.
"""
import os
import signal
import socket
import struct
import subprocess
import sys
import time

from .common import (
    SIZES, ENV, Peer, Proc, check, log, start_proxy, stop_proxy, access_records, count_ends, settle_fds,
    wait_for, header, up_chunks, pipe_bound, open_conn, xfer_finish,
)

TITLE = "3. Clients that reset, half-close or vanish"

IDLE = 3  # seconds

CHILD = r"""
import socket, sys, time
port, k, base = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from reliability.streams import header, up_chunks
conns = []
for i in range(k):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(header(base + i, 1 << 30))
    for c in up_chunks(base + i, 256 << 10):
        s.sendall(c)
    got = 0
    while got < 65536:
        got += len(s.recv(65536))
    conns.append(s)
print("ready", flush=True)
time.sleep(3600)
"""


def start_mid_transfer(port, cid):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(header(cid, 1 << 30))
    for c in up_chunks(cid, 64 << 10):
        s.sendall(c)
    got = 0
    while got < 65536:
        got += len(s.recv(65536))
    return s


def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def run(r):
    k = SIZES.faulty
    be = Peer("xfer", "s3-backend")
    proxy, pp, alog = start_proxy([("main", [{"name": "fwd", "mode": "forward", "upstreams": [be.addr]}],
                                    {"idle": f"{IDLE}s"})], name="s3-proxy")
    held = []
    try:
        base = pp.fds()
        r.fig("idle timeout", f"{IDLE} s")
        faults = {}

        # reset after bytes both ways, and right after connecting
        for i in range(k):
            rst(start_mid_transfer(proxy.port, i))
        for i in range(k):
            s = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
            rst(s)
        faults["reset mid-transfer"] = k
        faults["reset at once"] = k
        a = settle_fds(pp, base, 10 * ENV.slow, "after the resets")
        r.ok(f"{2 * k} resets: the proxy's sockets back to the baseline ({a['socket']})")

        # half-open: SHUT_WR, then nothing (the socket stays open here)
        for i in range(k):
            s = start_mid_transfer(proxy.port, 10000 + i)
            s.shutdown(socket.SHUT_WR)
            held.append(s)
        faults["half-open (shutdown write, then silent)"] = k

        # client processes: one SIGKILLed, one SIGSTOPped
        kids = {}
        for name, cid in (("killed", 20000), ("stopped", 30000)):
            script = ENV.path("s3-client.py")
            with open(script, "w") as f:
                f.write(CHILD)
            kids[name] = Proc([sys.executable, script, str(proxy.port), str(k), str(cid),
                               os.path.dirname(os.path.dirname(os.path.abspath(__file__)))], f"s3-{name}")
            kids[name].wait_line("^ready$", key="out", timeout=60)
        t_fault = time.monotonic()
        os.kill(kids["killed"].p.pid, signal.SIGKILL)
        os.kill(kids["stopped"].p.pid, signal.SIGSTOP)
        faults["client process SIGKILLed"] = k
        faults["client process SIGSTOPped (no FIN, no RST)"] = k
        r.fig("faults injected", faults)
        peak = pp.fds()
        a = settle_fds(pp, base, (IDLE + 10) * ENV.slow, "after the half-open, killed and stopped clients")
        took = time.monotonic() - t_fault
        r.fig("proxy sockets", f"baseline {base['socket']}, with the faulty clients {peak['socket']}, "
                               f"after {a['socket']} ({took:.1f} s after the kills, idle timeout {IDLE} s)")
        r.fig("proxy pipes kept", f"{a['pipe']} (the splice pool's bound here: {pipe_bound(pp)})")
        check(a["pipe"] <= pipe_bound(pp), f"pipes {a['pipe']} over the pool's bound")
        r.ok("half-open, killed and stopped clients: the proxy's sockets back to the baseline while the "
             "half-open and stopped clients still hold theirs; pipes within the pool's bound")
        wait_for(lambda: be.status()["active"] == 0, "the backend's conns all ended", 10 * ENV.slow)
        r.ok("the backend saw every connection end")
        kids["stopped"].kill()
        for s in held:
            s.close()

        import asyncio

        async def normal():
            rd, wr = await open_conn(proxy.port)
            await xfer_finish(rd, wr, 99999, 1 << 20, 1 << 20)

        asyncio.run(normal())
        r.ok("a normal transfer afterwards: byte-exact")
        stop_proxy(proxy)
        r.ok("gort-proxy exited 0 on SIGTERM, no sanitizer report")
        recs = access_records(alog)
        ends = count_ends(recs)
        r.fig("access log", ends)
        total = 5 * k + 1
        check(len(recs) == total, f"{len(recs)} access log lines, {total} connections")
        check(ends.get("idle_timeout", 0) >= k, f"the stopped clients' conns did not end by idle timeout: {ends}")
        r.ok(f"{total} access log lines, one per connection; the stopped clients' by idle_timeout")
    finally:
        for s in held:
            s.close()
        proxy.kill()
        from e2e.harness import kill_all
        kill_all()
