"""common.py: what the reliability scenarios share, on top of the end-to-end
harness (tests/proxy/e2e/harness.py, imported, not copied: its Proxy, Proc,
ENV, check, make_cert, parse_logfmt):

  - SIZES: each scenario's size, SHORT (CI, a few minutes), FULL (FULL=1),
    smaller again under ASan; FUZZ_SECONDS and SOAK_SECONDS override;
  - Peer: peer.py as a child process (a backend that can be SIGKILLed);
  - ProxyProc: what /proc says about gort-proxy (fds by kind, RSS, CPU);
  - proxy_config(): listeners and routes in TOML, the access log to a file;
  - xfer(): one connection of the transfer protocol (streams.py), checked
    byte for byte both ways, on asyncio;
  - Result: the figures and checks a scenario reports (docs/reliability.md).
"""
import asyncio
import contextlib
import json
import os
import resource
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "proxy"))

from e2e.harness import (  # noqa: E402,F401
    IO_TIMEOUT, ENV, Proc, Proxy, Skipped, TestFailure, check, log, make_cert, parse_logfmt, SANITIZER_MARKS,
)
from .streams import up_chunks, down_chunks, digest, header  # noqa: E402,F401

FULL = os.environ.get("FULL", "") == "1"


class Sizes:
    """Every scenario's size; set by setup() from FULL and the sanitizer."""

    def setup(self):
        asan = ENV.sanitizer == "address"
        full = FULL
        self.mode = ("FULL" if full else "SHORT") + (" (ASan+UBSan sizes)" if asan and full else "")
        def pick(short, fullv, asanv=None):  # asanv: ASan's FULL size (its SHORT one is short's)
            if asan and asanv is not None:
                return asanv if full else short
            return fullv if full else short

        # A proxy holds 2 fds per connection: at most (hard RLIMIT_NOFILE - 128) / 2 of them.
        # Past that, scenario 1 runs several gort-proxy processes on one port
        # (SO_REUSEPORT, as a deployment that outgrows one process would).
        self.fd_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.conns = int(os.environ.get("CONNS", pick(1000, 10000, 2000)))
        per_proxy = (self.fd_hard - 128) // 2
        # 3/4 of a proxy's room each: the kernel spreads conns by a hash, not evenly.
        self.proxies = max(1, -(-self.conns // max(1, per_proxy * 3 // 4))) if self.conns > per_proxy else 1
        self.conn_bytes = pick(8192, 16384, 8192)
        self.kill_transfers = pick(8, 32, 16)
        self.faulty = pick(60, 400, 200)
        self.slowloris = int(os.environ.get("SLOWLORIS", pick(500, 5000, 1000)))
        self.normal_requests = pick(200, 1000, 500)
        self.exhaust_conns = pick(400, 800, 600)
        self.malformed = pick(1500, 12000, 6000)
        self.fuzz_seconds = int(os.environ.get("FUZZ_SECONDS", pick(20, 600)))
        self.soak_seconds = int(os.environ.get("SOAK_SECONDS", pick(30, 600)))
        self.soak_clients = pick(16, 32, 16)


SIZES = Sizes()


def raise_nofile(want=1 << 17):
    """Raises this process's RLIMIT_NOFILE (children inherit it): to want
    when allowed (root), else to the hard limit. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextlib.contextmanager
def nofile(n):
    """Children started inside inherit RLIMIT_NOFILE n (as `ulimit -n n; exec ...`)."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


# ---------------------------------------------------------------- peers and the proxy


class Peer(Proc):
    """peer.py MODE as a child process: port, status() and, after stop(), records."""

    def __init__(self, mode, name, port=0, cert=None):
        self.status_path = ENV.path(f"{name}.status.json")
        argv = [sys.executable, os.path.join(HERE, "peer.py"), mode, str(port), self.status_path]
        if cert:
            argv += list(cert)
        super().__init__(argv, name)
        _, m = self.wait_line(r"^listening (\d+)$", key="out")
        self.port = int(m.group(1))
        self.addr = f"127.0.0.1:{self.port}"

    def status(self):
        for _ in range(50):
            try:
                with open(self.status_path) as f:
                    return json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                time.sleep(0.05)
        raise TestFailure(f"{self.name}: no status file")

    def stop(self):
        """SIGTERM; its final status with the per-connection records."""
        self.p.terminate()
        self.wait_exit(30)
        return self.status()


class ProxyProc:
    """What /proc says about a running process."""

    def __init__(self, pid):
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def fds(self):
        """{'socket': n, 'pipe': n, 'other': n, 'total': n}."""
        out = {"socket": 0, "pipe": 0, "other": 0}
        d = f"/proc/{self.pid}/fd"
        for name in os.listdir(d):
            try:
                target = os.readlink(f"{d}/{name}")
            except OSError:
                continue
            kind = "socket" if target.startswith("socket:") else "pipe" if target.startswith("pipe:") else "other"
            out[kind] += 1
        out["total"] = sum(out.values())
        return out

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime

    def threads(self):
        return len(os.listdir(f"/proc/{self.pid}/task"))


def proxy_config(listeners, timeouts=None, access_log=None, max_connections=20000, extra="",
                 address="127.0.0.1:0", reuse_port=False):
    """A config: listeners is [(name, [route dicts], listener timeouts or None)];
    a route dict's values are written as TOML (str quoted, list of str).
    Every listener binds address, with SO_REUSEPORT if reuse_port."""

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return f'"{v}"'

    out = [f"max_connections = {max_connections}", f'access_log = "{access_log or "-"}"', 'grace_period = "5s"']
    out.append(extra)
    if timeouts:
        out.append("[timeouts]")
        out += [f'{k} = "{v}"' for k, v in timeouts.items()]
    for name, routes, lt in listeners:
        out += ["", "[[listener]]", f'name = "{name}"', f'address = "{address}"']
        if reuse_port:
            out.append("reuse_port = true")
        if lt:
            out.append("[listener.timeouts]")
            out += [f'{k} = "{v}"' for k, v in lt.items()]
        for r in routes:
            out.append("[[listener.route]]")
            out += [f"{k} = {val(v)}" for k, v in r.items()]
    return "\n".join(out) + "\n"


def start_proxy(listeners, name="gort-proxy", env=None, **kw):
    """A Proxy (harness) with its access log in a file: (proxy, ProxyProc, access log path)."""
    path = ENV.path(f"{name}.access.log")
    proxy = Proxy(proxy_config(listeners, access_log=path, **kw), listeners=tuple(n for n, _, _ in listeners),
                  name=name, env=env)
    return proxy, ProxyProc(proxy.p.pid), path


def access_records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [parse_logfmt(line) for line in f if " listener=" in line]


def count_ends(records):
    ends = {}
    for r in records:
        ends[r.get("end", "?")] = ends.get(r.get("end", "?"), 0) + 1
    return dict(sorted(ends.items()))


def stop_proxy(proxy):
    """SIGTERM, exit status 0, no sanitizer report (the harness's stop())."""
    proxy.stop(timeout=30 * ENV.slow)


def wait_for(pred, what, timeout):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        check(time.monotonic() < deadline, f"{what} within {timeout:.0f} s")
        time.sleep(0.1)


def settle_fds(pp, baseline, timeout, what):
    """Waits until the proxy's sockets are back to the baseline; returns its fds."""
    last = {}

    def back():
        last.update(pp.fds())
        return last["socket"] <= baseline["socket"]

    deadline = time.monotonic() + timeout
    while not back():
        if time.monotonic() > deadline:
            raise TestFailure(f"{what}: proxy sockets {last['socket']}, baseline {baseline['socket']}, "
                              f"after {timeout:.0f} s ({last})")
        time.sleep(0.2)
    return dict(last)


def pipe_bound(pp):
    """The most pipe fds the splice pool may keep idle (net/splice.cpp: 256 pipes, one per 16 fds)."""
    with open(f"/proc/{pp.pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft = int(line.split()[3])
                return 2 * min(256, soft // 16)
    return 512


def settle_pipes(pp, base, timeout):
    """Waits until the proxy's pipes are within the baseline's (the runtime's own) plus the splice
    pool's bound (a copy that has just closed its sockets gives its pipe back a moment later)."""
    bound = base["pipe"] + pipe_bound(pp)
    deadline = time.monotonic() + timeout
    while True:
        f = pp.fds()
        if f["pipe"] <= bound:
            return f
        check(time.monotonic() < deadline, f"proxy pipes {f['pipe']} over the splice pool's bound {bound} "
                                           f"after {timeout:.0f} s: pipes leak")
        time.sleep(0.1)


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


# ---------------------------------------------------------------- the transfer protocol on asyncio


async def open_conn(port, retries=0):
    for i in range(retries + 1):
        try:
            return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, limit=1 << 20), IO_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            if i == retries:
                raise
            await asyncio.sleep(0.05 * (i + 1))


async def xfer_send(writer, cid, up, down, pace=None):
    writer.write(header(cid, down))
    for chunk in up_chunks(cid, up, size=pace[0] if pace else 1 << 16):
        writer.write(chunk)
        await writer.drain()
        if pace:
            await asyncio.sleep(pace[1])
    await writer.drain()
    writer.write_eof()


async def xfer_recv(reader, timeout):
    """(bytes, sha256) read to EOF."""
    import hashlib
    h, n = hashlib.sha256(), 0
    while True:
        data = await asyncio.wait_for(reader.read(1 << 18), timeout)
        if not data:
            return n, h.hexdigest()
        h.update(data)
        n += len(data)


async def xfer_finish(reader, writer, cid, up, down, timeout=IO_TIMEOUT, pace=None):
    """Sends up bytes of cid's stream, reads the answer; checks the answer. Returns bytes moved."""
    sender = asyncio.ensure_future(xfer_send(writer, cid, up, down, pace))
    try:
        n, h = await xfer_recv(reader, timeout)
        await asyncio.wait_for(sender, timeout)
    finally:
        sender.cancel()
        writer.close()
    check(n == down, f"conn {cid}: got {n} bytes back of {down}")
    check(h == digest(down_chunks(cid, down)), f"conn {cid}: the {down} bytes back differ (sha256)")
    return up + 16 + down


def check_backend_records(records, expect):
    """expect: {cid: up bytes}; every one arrived byte-exact at the backend."""
    got = {r[0]: (r[1], r[2]) for r in records}
    for cid, up in expect.items():
        check(cid in got, f"conn {cid}: the backend has no record of it")
        n, h = got[cid]
        check(n == up, f"conn {cid}: the backend got {n} bytes of {up}")
        check(h == digest(up_chunks(cid, up)), f"conn {cid}: the bytes the backend got differ (sha256)")


def client_hello(server_name, alpn=None):
    """The bytes of a real ClientHello (Python's ssl, TLS 1.2 and 1.3 offered) for server_name."""
    import ssl
    ctx = ssl.create_default_context()
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


# ---------------------------------------------------------------- results


class Result:
    """A scenario's report: figures (name -> value, in order) and what was checked."""

    def __init__(self, key, title):
        self.key, self.title = key, title
        self.figures = {}
        self.checks = []
        self.notes = []
        self.passed = None
        self.skipped = None
        self.error = None
        self.seconds = 0.0

    def fig(self, name, value):
        self.figures[name] = value
        log(f"  {name}: {value}")

    def ok(self, what):
        self.checks.append(what)
