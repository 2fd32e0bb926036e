"""s3_clients.py: scenario 3, clients that go away badly, mid-transfer
(the backend streams to them, peer.py xfer) through a forward listener with
an idle timeout of IDLE seconds, in three rounds, each measured on its own:

  1. reset       SO_LINGER 0 then close (an RST) after some bytes each way;
     reset-early the same right after connecting
  2. killed      a client process SIGKILLed holding K conns (the kernel
                 resets them): released well before the idle timeout
  3. half-open   shutdown(SHUT_WR), then never read again and never close;
     stopped     a client process SIGSTOPped: it vanishes without a FIN or
                 an RST; only the idle timeout can end these

Checked after each round: the proxy's sockets return to the baseline
(counted in /proc/PID/fd), in round 3 while the half-open and stopped
clients still hold theirs; the pipes it keeps are within the splice pool's
bound; the backend sees every connection end; the access log has a line
per connection, the idle timeouts exactly round 3's; a normal transfer
still works afterwards.
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
    wait_for, header, up_chunks, pipe_bound, settle_pipes, open_conn, xfer_finish,
)

TITLE = "3. Clients that reset, half-close or vanish"

IDLE = 8  # seconds

CHILD = r"""
import socket, sys, time
port, k, base = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from reliability.streams import header, up_chunks
conns = []
for i in range(k):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(header(base + i, 1 << 20))
    for c in up_chunks(base + i, 64 << 10):
        s.sendall(c)
    got = 0
    while got < 16384:
        got += len(s.recv(16384 - got))
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

        script = ENV.path("s3-client.py")
        with open(script, "w") as f:
            f.write(CHILD)
        repo_tools = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

        def kid(name, cid):
            p = Proc([sys.executable, script, str(proxy.port), str(k), str(cid), repo_tools], f"s3-{name}")
            p.wait_line("^ready$", key="out", timeout=60 * ENV.slow)
            return p

        # round 2: a client process SIGKILLed with k conns mid-transfer
        killed = kid("killed", 20000)
        held_k = pp.fds()
        t_kill = time.monotonic()
        os.kill(killed.p.pid, signal.SIGKILL)
        faults["client process SIGKILLed"] = k
        a = settle_fds(pp, base, IDLE / 2, f"after the SIGKILL (well before the {IDLE} s idle timeout)")
        r.fig("SIGKILLed client", f"{k} conns ({held_k['socket'] - base['socket']} proxy sockets) released "
                                  f"{time.monotonic() - t_kill:.1f} s after the kill")
        r.ok(f"a SIGKILLed client's {k} conns: released in under {IDLE / 2:.0f} s (its kernel's resets), "
             f"not by the {IDLE} s idle timeout")

        # round 3: half-open (SHUT_WR, then nothing; the socket stays open here) and SIGSTOPped
        for i in range(k):
            s = start_mid_transfer(proxy.port, 10000 + i)
            s.shutdown(socket.SHUT_WR)
            held.append(s)
        faults["half-open (shutdown write, then silent)"] = k
        stopped = kid("stopped", 30000)
        t_fault = time.monotonic()
        os.kill(stopped.p.pid, signal.SIGSTOP)
        faults["client process SIGSTOPped (no FIN, no RST)"] = k
        r.fig("faults injected", faults)
        peak = pp.fds()
        settle_fds(pp, base, (IDLE + 10) * ENV.slow, "after the half-open and stopped clients")
        took = time.monotonic() - t_fault
        a = settle_pipes(pp, base, 10 * ENV.slow)
        r.fig("proxy sockets", f"baseline {base['socket']}, with the half-open and stopped clients {peak['socket']}, "
                               f"after {a['socket']} ({took:.1f} s after the SIGSTOP, idle timeout {IDLE} s)")
        r.fig("proxy pipe fds", f"{a['pipe']}: {base['pipe']} the runtime's own at the baseline, the rest the "
                                f"splice pool's (its bound here: {pipe_bound(pp)} fds)")
        r.ok("half-open and stopped clients: the proxy's sockets back to the baseline by the idle timeout, while "
             "those clients still hold theirs; pipes within the pool's bound")
        wait_for(lambda: be.status()["active"] == 0, "the backend's conns all ended", 10 * ENV.slow)
        r.ok("the backend saw every connection end")
        stopped.kill()
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
        check(ends.get("idle_timeout", 0) == 2 * k, f"idle timeouts: {ends}, want exactly round 3's {2 * k}")
        r.ok(f"{total} access log lines, one per connection; exactly the {2 * k} half-open and stopped ones "
             "ended by idle_timeout")
    finally:
        for s in held:
            s.close()
        proxy.kill()
        from e2e.harness import kill_all
        kill_all()
