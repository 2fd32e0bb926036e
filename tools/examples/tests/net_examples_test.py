#!/usr/bin/env python3
"""net_examples_test.py: black-box tests of the network examples in tools/examples.

    net_examples_test.py talk-accept   BIN
    net_examples_test.py talk-timeouts BIN
    net_examples_test.py proxy         BIN   (talk-proxy, in front of a python upstream)
    net_examples_test.py sni           BIN   (talk-sni, routing to python upstreams by SNI)
    net_examples_test.py tls           BIN   (talk-tls, with python ssl as the client)
    net_examples_test.py echo          BIN
    net_examples_test.py chat          BIN

Each test starts the example on port 0, waits for its "listening on ADDR"
line, talks to it with real sockets, checks what comes back byte for byte,
then stops it with SIGTERM. It fails (exit 1) on a wrong byte, a missing
line, a server that died early, or a sanitizer report on the server's
stderr; every socket operation has a timeout and a watchdog (alarm) bounds
the whole test. CTest registers one test per example
(tools/examples/CMakeLists.txt).
"""
import hashlib
import os
import queue
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

IO_TIMEOUT = 20.0  # seconds, for any one socket operation
WATCHDOG = 150  # seconds, the whole test
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer")


class TestFailure(Exception):
    pass


def check(ok, what):
    if not ok:
        raise TestFailure(what)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- the server


RUNNING = []  # servers started, for the watchdog to kill


class Server:
    """The example under test: started on port 0, stderr collected line by line."""

    def __init__(self, argv):
        log("starting " + " ".join(argv))
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        RUNNING.append(self.p)
        self.err_lines = []
        self.err_cv = threading.Condition()
        self.out = queue.Queue()
        threading.Thread(target=self._drain, args=(self.p.stderr, True), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.p.stdout, False), daemon=True).start()
        try:
            line = self.out.get(timeout=IO_TIMEOUT)
        except queue.Empty:
            line = None
        if line is None:
            self.stop(expect_running=False)
            raise TestFailure(f"no 'listening on' line; stderr:\n{self.stderr()}")
        m = re.fullmatch(r"listening on (\[(.*)\]|([^:]*)):(\d+)", line.strip())
        check(m is not None, f"first stdout line is not 'listening on HOST:PORT': {line!r}")
        self.host = m.group(2) or m.group(3)
        self.port = int(m.group(4))
        check(self.port != 0, "the server printed port 0, not the port it got")
        log(f"server listening on {self.host} port {self.port}")

    def _drain(self, f, is_err):
        for raw in iter(f.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            if is_err:
                with self.err_cv:
                    self.err_lines.append(line)
                    self.err_cv.notify_all()
            else:
                self.out.put(line)
        if not is_err:
            self.out.put(None)

    def stderr(self):
        with self.err_cv:
            return "\n".join(self.err_lines)

    def wait_stderr(self, pattern, timeout=IO_TIMEOUT):
        """The first stderr line matching the regex pattern, waiting for it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.err_cv:
            while True:
                for line in self.err_lines:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"no stderr line matching {pattern!r} within {timeout} s; stderr:\n"
                                      + "\n".join(self.err_lines[-30:]))
                self.err_cv.wait(left)

    def connect(self, rcvbuf=None):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: a small window
        s.settimeout(IO_TIMEOUT)
        s.connect((self.host, self.port))
        return s

    def stop(self, expect_running=True):
        rc = self.p.poll()
        if rc is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)
                raise TestFailure("the server ignored SIGTERM for 10 s")
        elif expect_running:
            raise TestFailure(f"the server exited early with status {rc}; stderr:\n{self.stderr()}")
        time.sleep(0.1)  # let the drain threads see the end of stderr
        bad = [m for m in SANITIZER_MARKS if m in self.stderr()]
        check(not bad, f"sanitizer report on the server's stderr:\n{self.stderr()}")


def addr_str(sockname):
    """Go's form of a socket address, as gort's Addr::to_string prints it."""
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(n - len(buf), 1 << 20))
        check(chunk, f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_line(s, pending):
    """One line (with its newline) from s; pending is a bytearray kept between calls."""
    while b"\n" not in pending:
        chunk = s.recv(65536)
        check(chunk, f"EOF before a full line; got {bytes(pending)!r}")
        pending += chunk
    i = pending.index(b"\n") + 1
    line = bytes(pending[:i])
    del pending[:i]
    return line


def recv_until_eof(s, timeout):
    """Everything until EOF (or a reset); (data, seconds waited). Fails after timeout."""
    t0 = time.monotonic()
    data = bytearray()
    s.settimeout(timeout)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise TestFailure(f"no EOF within {timeout} s (got {len(data)} bytes)")
    return bytes(data), time.monotonic() - t0


def echo_exchange(s, rng, total, max_chunk):
    """Ping-pong random chunks through an echo service; check every byte."""
    sent = 0
    while sent < total:
        n = min(total - sent, rng.randint(1, max_chunk))
        data = rng.randbytes(n)
        s.sendall(data)
        got = recv_exact(s, n)
        check(got == data, f"echo mismatch after {sent} bytes (chunk of {n})")
        sent += n
    return sent


# ---------------------------------------------------------------- talk-accept


def test_talk_accept(binary):
    srv = Server([binary, "localhost:0"])  # the talk's address, but any free port
    try:
        # A client that connects and says nothing: it must not hold the accept loop.
        silent = srv.connect()
        c = srv.connect()
        pending = bytearray()
        greeting = recv_line(c, pending)
        want = f"hello {addr_str(c.getsockname())}\n".encode()
        check(greeting == want, f"greeting {greeting!r}, want {want!r}")
        check(not pending, f"bytes after the greeting: {bytes(pending)!r}")
        log("a second client was greeted while the first one is silent")
        rng = random.Random(1)
        n = echo_exchange(c, rng, 300_000, 70_000)
        c.sendall(b"bye\n")
        check(recv_exact(c, 4) == b"bye\n", "last echo")
        n += 4
        c.shutdown(socket.SHUT_WR)
        rest, _ = recv_until_eof(c, IO_TIMEOUT)
        check(rest == b"", f"bytes after EOF: {rest[:50]!r}")
        name = addr_str(c.getsockname())
        c.close()
        line = srv.wait_stderr(re.escape(f"{name}: Copied {n} bytes and ended with err = <nil>."))
        log(f"echoed {n} bytes byte for byte; server logged: {line}")
        # The silent client got its greeting, and is still connected.
        silent_name = addr_str(silent.getsockname())
        check(recv_line(silent, bytearray()) == f"hello {silent_name}\n".encode(), "silent client's greeting")
        silent.close()
        line = srv.wait_stderr(re.escape(silent_name) + r": Copied 0 bytes and ended with err = <nil>\.")
        log(f"silent client closed; server logged: {line}")
    finally:
        srv.stop()


# ---------------------------------------------------------------- talk-timeouts


def test_talk_timeouts(binary):
    timeout = 0.2
    srv = Server([binary, "--listen", "127.0.0.1:0", "--timeout", "200ms"])
    try:
        silent = srv.connect()
        t_silent = time.monotonic()
        silent_name = addr_str(silent.getsockname())
        dropped = {}

        def watch_silent():
            try:
                data, _ = recv_until_eof(silent, IO_TIMEOUT)
                dropped["data"], dropped["after"] = data, time.monotonic() - t_silent
            except Exception as e:  # reported by the main thread
                dropped["error"] = repr(e)

        w = threading.Thread(target=watch_silent, daemon=True)
        w.start()

        # Served while the silent client holds its connection.
        c = srv.connect()
        pending = bytearray()
        greeting = recv_line(c, pending)
        t_greeted = time.monotonic() - t_silent
        check(greeting == f"hello {addr_str(c.getsockname())}\n".encode(), f"greeting {greeting!r}")
        # A client that keeps talking outlives the timeout many times over:
        # the deadline moves before every read.
        for i in range(8):
            time.sleep(timeout / 2)
            msg = f"ping {i}\n".encode()
            c.sendall(msg)
            check(recv_line(c, pending) == msg, f"echo of ping {i}")
        t_active = time.monotonic() - t_silent
        log(f"active client greeted {t_greeted * 1000:.0f} ms after the silent one connected, "
            f"then talked for {t_active * 1000:.0f} ms")

        w.join(IO_TIMEOUT + 5)
        check("error" not in dropped, f"silent client: {dropped.get('error')}")
        check("after" in dropped, "the silent client was never dropped")
        after = dropped["after"]
        check(dropped["data"] == f"hello {silent_name}\n".encode(), f"silent client got {dropped['data']!r}")
        check(timeout * 0.9 <= after <= timeout + 3.0,
              f"silent client dropped after {after * 1000:.0f} ms, want about {timeout * 1000:.0f} ms")
        check(t_greeted < after, "the second client was greeted only after the silent one was dropped")
        check(t_active > after, "the active client should have outlived the silent one")
        line = srv.wait_stderr(re.escape(silent_name) + r": Copied 0 bytes and ended with err = i/o timeout\.")
        log(f"silent client dropped after {after * 1000:.0f} ms; server logged: {line}")

        # Now the active client goes quiet too, and is dropped in turn.
        t0 = time.monotonic()
        rest, _ = recv_until_eof(c, IO_TIMEOUT)
        quiet = time.monotonic() - t0
        check(rest == b"", f"unexpected bytes {rest!r}")
        check(quiet <= timeout + 3.0, f"active client dropped {quiet * 1000:.0f} ms after going quiet")
        log(f"the active client, once quiet, was dropped after {quiet * 1000:.0f} ms")
        c.close()
        silent.close()
    finally:
        srv.stop()


# ---------------------------------------------------------------- talk-proxy


class Upstream:
    """The proxy's upstream: a thread per connection, told what to do by the
    connection's first line (so that the test knows which client it is,
    although the upstream only ever sees the proxy's address):

        echo ID            echo every byte back until EOF, then close
        sink ID N          read until EOF, then send "SHA256HEX LEN\\n" of what
                           followed the line, then N bytes of Random(ID), close
        give ID N          send N bytes of Random(ID) at once and close,
                           without waiting for the client's EOF
        drop ID            read for 0.2 s, then close with bytes unread (the
                           kernel resets the connection): a backend that dies
                           while the proxy is writing to it
    """

    def __init__(self):
        self.ls = socket.create_server(("127.0.0.1", 0))
        self.port = self.ls.getsockname()[1]
        self.errors = []
        self.seen_eof = set()  # IDs of echo/sink connections whose EOF arrived
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        s.settimeout(IO_TIMEOUT)
        try:
            pending = bytearray()
            line = recv_line(s, pending)
            words = line.decode().split()
            mode, cid = words[0], int(words[1])
            if mode == "echo":
                s.sendall(line)
                if pending:
                    s.sendall(pending)
                while True:
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        break
                    s.sendall(chunk)
            elif mode == "sink":
                h, n = hashlib.sha256(pending), len(pending)
                while True:
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        break
                    h.update(chunk)
                    n += len(chunk)
                s.sendall(f"{h.hexdigest()} {n}\n".encode() + random.Random(cid).randbytes(int(words[2])))
            elif mode == "give":
                s.sendall(random.Random(cid).randbytes(int(words[2])))
            elif mode == "drop":
                t0, buf = time.monotonic(), bytearray(1 << 20)
                while time.monotonic() - t0 < 0.2 and s.recv_into(buf):
                    pass
            else:
                raise TestFailure(f"upstream: unknown mode {mode!r}")
            if mode in ("echo", "sink"):
                with self.lock:
                    self.seen_eof.add(cid)
        except Exception as e:  # reported by the test
            with self.lock:
                self.errors.append(f"upstream: {e!r}")
        finally:
            s.close()

    def close(self):
        self.ls.close()


def pipe_fds(pid):
    """How many of the process's descriptors are pipes (splice's pool keeps some)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return n


def proxy_client(srv, kind, cid, rng, after_shutdown):
    """One client of the proxy; returns the bytes it moved (both ways)."""
    s = srv.connect()
    try:
        if kind == "duplex":
            # Several MB both ways at once; the write side is shut down while
            # most of the echo is still on its way, and must still arrive.
            data = b"echo %d\n" % cid + rng.randbytes((3 << 20) + rng.randint(0, 1 << 20))
            errs, got = [], bytearray()
            lock, at_shutdown = threading.Lock(), []  # bytes received when the write side was shut

            def send():
                try:
                    for k in range(0, len(data), 64 << 10):
                        s.sendall(data[k:k + (64 << 10)])
                    with lock:
                        at_shutdown.append(len(got))
                    s.shutdown(socket.SHUT_WR)
                except Exception as e:
                    errs.append(repr(e))

            t = threading.Thread(target=send, daemon=True)
            t.start()
            s.settimeout(IO_TIMEOUT)
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                with lock:
                    got += chunk
            t.join(IO_TIMEOUT)
            check(not errs, f"client {cid}: sender: {errs}")
            check(bytes(got) == data, f"client {cid}: duplex echo differs ({len(got)} of {len(data)} bytes)")
            after_shutdown.append(len(got) - at_shutdown[0])
            return 2 * len(data)
        if kind == "halfclose":
            # The upstream answers only after our EOF: the client's FIN must
            # reach it, and its answer must come back on the half-closed conn.
            body, n = rng.randbytes(1 << 20), 2 << 20
            s.sendall(b"sink %d %d\n" % (cid, n) + body)
            s.shutdown(socket.SHUT_WR)
            got, _ = recv_until_eof(s, IO_TIMEOUT)
            want = f"{hashlib.sha256(body).hexdigest()} {len(body)}\n".encode() + random.Random(cid).randbytes(n)
            check(got[:80] == want[:80], f"client {cid}: the upstream saw other bytes: {got[:80]!r}")
            check(got == want, f"client {cid}: reply after half-close differs ({len(got)} of {len(want)} bytes)")
            after_shutdown.append(len(got))
            return len(body) + len(want)
        if kind == "download":
            # The upstream sends and closes first; the proxy then ends the
            # connection, though this client never shut down its side.
            n = 3 << 20
            s.sendall(b"give %d %d\n" % (cid, n))
            got, _ = recv_until_eof(s, IO_TIMEOUT)
            check(got == random.Random(cid).randbytes(n), f"client {cid}: download differs ({len(got)} of {n})")
            return n
        # pingpong: small chunks, each echoed before the next
        s.sendall(b"echo %d\n" % cid)
        check(recv_exact(s, len(b"echo %d\n" % cid)) == b"echo %d\n" % cid, f"client {cid}: echo of the header")
        n = echo_exchange(s, rng, 200_000, 40_000)
        s.shutdown(socket.SHUT_WR)
        rest, _ = recv_until_eof(s, IO_TIMEOUT)
        check(rest == b"", f"client {cid}: bytes after EOF")
        return 2 * n
    finally:
        s.close()


def test_proxy(binary):
    up = Upstream()
    upstream = f"127.0.0.1:{up.port}"
    srv = Server([binary, "--listen", "127.0.0.1:0", "--upstream", upstream])
    try:
        srv.wait_stderr(re.escape(f"proxying 127.0.0.1:{srv.port} -> {upstream}"))
        pipes_before = pipe_fds(srv.p.pid)
        kinds = ["duplex", "halfclose", "download", "pingpong"] * 4
        barrier = threading.Barrier(len(kinds), timeout=IO_TIMEOUT)
        results, after_shutdown = [None] * len(kinds), []

        def client(i):
            try:
                barrier.wait()  # all at once
                results[i] = proxy_client(srv, kinds[i], i, random.Random(100 + i), after_shutdown)
            except Exception as e:
                results[i] = e

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(kinds))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WATCHDOG)
        bad = [(i, kinds[i], r) for i, r in enumerate(results) if not isinstance(r, int)]
        check(not bad, f"{len(bad)} of {len(kinds)} clients failed, e.g. {bad[:3]}")
        check(not up.errors, f"{up.errors[:3]}")
        want_eof = {i for i, k in enumerate(kinds) if k != "download"}
        check(want_eof <= up.seen_eof, f"the upstream never saw EOF from clients {sorted(want_eof - up.seen_eof)}")
        log(f"{len(kinds)} concurrent clients moved {sum(results):,} bytes through the proxy byte for byte; "
            f"after shutting down their write side they still received {min(after_shutdown):,} to "
            f"{max(after_shutdown):,} bytes")
        pipes_after = pipe_fds(srv.p.pid)
        check(pipes_after >= pipes_before + 2,
              f"no splice pipes in the proxy ({pipes_before} pipe fds before, {pipes_after} after): "
              "io::copy did not take the splice path")
        log(f"the proxy holds {(pipes_after - pipes_before) // 2} pooled splice pipes: io::copy spliced")
        errs = [ln for ln in srv.stderr().splitlines() if "Proxy connection finished" in ln]
        check(not errs, f"connections ended with errors: {errs[:3]}")

        # Upstreams that die while the proxy writes to them at full speed:
        # the proxy's writes fail (a splice may move part of its bytes and
        # then hit the reset, which raises SIGPIPE), the connections end,
        # and the proxy lives on.
        blob = bytes(1 << 20)

        def flood(i):
            try:
                s = srv.connect()
                s.sendall(b"drop %d\n" % i)
                t0 = time.monotonic()
                while time.monotonic() - t0 < 1.0:
                    s.sendall(blob)
                s.close()
            except OSError:
                pass  # the proxy closed the connection: expected

        for rnd in range(3):
            threads = [threading.Thread(target=flood, args=(2000 + 8 * rnd + i,), daemon=True) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(IO_TIMEOUT)
            time.sleep(0.1)
            rc = srv.p.poll()
            why = f"killed by {signal.Signals(-rc).name}" if rc is not None and rc < 0 else f"status {rc}"
            check(rc is None, f"the proxy died ({why}) when upstreams reset mid-transfer (round {rnd + 1}); "
                  "stderr:\n" + "\n".join(srv.stderr().splitlines()[-5:]))
        c = srv.connect()
        hello = b"echo 3000\nstill here\n"
        c.sendall(hello)
        check(recv_exact(c, len(hello)) == hello, "echo after the resets")
        c.close()
        log("24 upstreams reset mid-transfer: the proxy lives on and still serves")
    finally:
        srv.stop(expect_running=sys.exc_info()[0] is None)  # a failure in flight keeps its own message

    # The deadline is the Go proxy's: an absolute cap on the connection's
    # life, set once, not an idle timeout: a client that keeps talking is
    # cut when it passes.
    timeout = 0.5
    srv = Server([binary, "--listen", "127.0.0.1:0", "--upstream", upstream, "--timeout", "500ms"])
    try:
        c = srv.connect()
        t0 = time.monotonic()
        pending = bytearray()
        c.sendall(b"echo 1000\n")
        check(recv_line(c, pending) == b"echo 1000\n", "echo of the header")
        cut, i = None, 0
        while cut is None and time.monotonic() - t0 < timeout + 5:
            time.sleep(timeout / 10)
            try:
                c.sendall(b"ping %d\n" % i)
                line = recv_line(c, pending)
                check(line == b"ping %d\n" % i, f"echo of ping {i}: {line!r}")
                i += 1
            except (TestFailure, ConnectionError) as e:
                if isinstance(e, TestFailure) and "EOF" not in str(e):
                    raise
                cut = time.monotonic() - t0
        check(cut is not None, "the busy connection outlived its deadline by 5 s")
        check(timeout * 0.9 <= cut <= timeout + 3.0, f"cut after {cut * 1000:.0f} ms, want about {timeout * 1000:.0f}")
        line = srv.wait_stderr(r"Proxy connection finished with err = i/o timeout\.")
        log(f"a busy client ({i} pings) was cut {cut * 1000:.0f} ms after connecting; proxy logged: {line}")
        c.close()
    finally:
        srv.stop(expect_running=sys.exc_info()[0] is None)  # a failure in flight keeps its own message

    # An upstream that refuses: the client's connection is closed at once
    # and the dial error logged.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    dead = f"127.0.0.1:{hole.getsockname()[1]}"
    srv = Server([binary, "--listen", "127.0.0.1:0", "--upstream", dead])
    try:
        c = srv.connect()
        rest, waited = recv_until_eof(c, IO_TIMEOUT)
        check(rest == b"", f"bytes from a proxy without upstream: {rest!r}")
        line = srv.wait_stderr(re.escape(f"dial tcp {dead}: ") + r".*refused")
        log(f"upstream down: the client got EOF after {waited * 1000:.0f} ms; proxy logged: {line}")
        c.close()
    finally:
        srv.stop(expect_running=sys.exc_info()[0] is None)  # a failure in flight keeps its own message
        hole.close()
        up.close()


# ---------------------------------------------------------------- echo


def test_echo(binary):
    nconns = 100
    srv = Server([binary, "--listen", "127.0.0.1:0"])
    try:
        conns = [srv.connect() for _ in range(nconns)]
        log(f"{nconns} connections open")
        barrier = threading.Barrier(nconns, timeout=IO_TIMEOUT)
        results = [None] * nconns

        def client(i):
            s = conns[i]
            rng = random.Random(i)
            try:
                barrier.wait()  # all 100 at once
                total = 0
                if i % 4 == 0:
                    # Full duplex: a sender thread streams while we read, so the
                    # server's writes park on a full socket buffer now and then.
                    data = rng.randbytes(1 << 20)
                    errs = []

                    def send():
                        try:
                            for k in range(0, len(data), 50_000):
                                s.sendall(data[k:k + 50_000])
                            s.shutdown(socket.SHUT_WR)
                        except Exception as e:
                            errs.append(repr(e))

                    t = threading.Thread(target=send, daemon=True)
                    t.start()
                    got, _ = recv_until_eof(s, IO_TIMEOUT)
                    t.join(IO_TIMEOUT)
                    check(not errs, f"sender: {errs}")
                    check(got == data, f"full-duplex echo differs ({len(got)} of {len(data)} bytes)")
                    total = len(data)
                else:
                    total = echo_exchange(s, rng, 20_000 + 2_000 * i, 1 + rng.randint(1, 40_000))
                    s.shutdown(socket.SHUT_WR)
                    rest, _ = recv_until_eof(s, IO_TIMEOUT)
                    check(rest == b"", "bytes after EOF")
                results[i] = total
            except Exception as e:
                results[i] = e
            finally:
                s.close()

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(nconns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WATCHDOG)
        bad = [(i, r) for i, r in enumerate(results) if not isinstance(r, int)]
        check(not bad, f"{len(bad)} of {nconns} connections failed, e.g. {bad[:3]}")
        log(f"{nconns} concurrent connections echoed {sum(results):,} bytes byte for byte")
    finally:
        srv.stop()


# ---------------------------------------------------------------- chat


class ChatClient:
    """A chat connection: lines split, '* ' notices kept apart from chat lines."""

    def __init__(self, srv, rcvbuf=None):
        self.s = srv.connect(rcvbuf=rcvbuf)
        self.name = addr_str(self.s.getsockname())
        self.pending = bytearray()
        self.chat = []  # "name: text" lines received, in order
        self.notices = []
        welcome = self.line()
        want = f"* welcome {self.name}; /nick NAME changes your name"
        check(welcome == want, f"welcome {welcome!r}, want {want!r}")  # the hub knows us now

    def line(self):
        return recv_line(self.s, self.pending).decode().rstrip("\n")

    def send(self, text):
        self.s.sendall(text.encode() + b"\n")

    def wait_chat(self, want):
        """Read until the chat line want arrives; notices are kept aside."""
        while True:
            ln = self.line()
            if ln.startswith("* "):
                self.notices.append(ln)
                continue
            self.chat.append(ln)
            if ln == want:
                return

    def wait_notice(self, want):
        while True:
            ln = self.line()
            if ln.startswith("* "):
                self.notices.append(ln)
                if ln == want:
                    return
            else:
                self.chat.append(ln)

    def drain(self, quiet=0.3):
        """Whatever else arrives within `quiet` seconds."""
        self.s.settimeout(quiet)
        try:
            while True:
                ln = self.line()
                (self.notices if ln.startswith("* ") else self.chat).append(ln)
        except (socket.timeout, TestFailure):
            pass
        self.s.settimeout(IO_TIMEOUT)


def test_chat(binary):
    srv = Server([binary, "--listen", "127.0.0.1:0", "--queue", "16"])
    try:
        a, b, c = ChatClient(srv), ChatClient(srv), ChatClient(srv)
        everyone = [a, b, c]
        addr_a = a.name

        def say(sender, text, shown_as):
            sender.send(text)
            for o in everyone:
                if o is not sender:
                    o.wait_chat(f"{shown_as}: {text}")

        say(a, "hello from A", addr_a)  # the default name is the address
        for cl, nick in ((a, "alice"), (b, "bob"), (c, "carol")):
            cl.send(f"/nick {nick}")
            for o in everyone:
                o.wait_notice(f"* {cl.name} is now {nick}")
            cl.nick = nick
        say(a, "m-alice", "alice")
        say(b, "m-bob", "bob")
        say(c, "m-carol", "carol")
        say(a, "end", "alice")
        say(c, "final", "carol")
        say(b, "last", "bob")
        for o in everyone:
            o.drain()
        want = {
            "alice": ["bob: m-bob", "carol: m-carol", "carol: final", "bob: last"],
            "bob": [f"{addr_a}: hello from A", "alice: m-alice", "carol: m-carol", "alice: end", "carol: final"],
            "carol": [f"{addr_a}: hello from A", "alice: m-alice", "bob: m-bob", "alice: end", "bob: last"],
        }
        for o in everyone:
            check(o.chat == want[o.nick], f"{o.nick} received {o.chat}, want {want[o.nick]}")
        log("three clients: every line reached the two others, in order, and never its sender")
        for o in everyone:
            o.s.close()

        # A client that stops reading is disconnected once its queue (16
        # lines) is full; the others keep getting every line.
        fast, slow = ChatClient(srv), ChatClient(srv, rcvbuf=4096)
        flooder = ChatClient(srv)
        got, reader_err = [], []
        sent_count = [0]
        progress = threading.Condition()

        def read_fast():
            try:
                while True:
                    ln = fast.line()
                    if ln.startswith("* "):
                        fast.notices.append(ln)
                        continue
                    with progress:
                        got.append(ln)
                        progress.notify_all()
                    if ln.endswith(": done"):
                        return
            except Exception as e:
                reader_err.append(repr(e))
                with progress:
                    progress.notify_all()

        rt = threading.Thread(target=read_fast, daemon=True)
        rt.start()
        payload = "x" * 1000
        kicked = None
        t0 = time.monotonic()
        sent = 0
        while kicked is None:
            check(sent < 65536 and time.monotonic() - t0 < 60,
                  f"the slow client was not disconnected after {sent} lines of 1 KB")
            # Bursts of 8 lines, the next one once the fast client has all the
            # lines so far: its queue never holds more than 8 of its 16 (a
            # burst bigger than the queue, arriving at once, can outrun any
            # writer; see chat-server.cpp), while the slow client's fills up.
            batch = "".join(f"flood {sent + k} {payload}\n" for k in range(8))
            flooder.s.sendall(batch.encode())
            sent += 8
            with progress:
                ok = progress.wait_for(lambda: reader_err or len(got) >= sent, timeout=IO_TIMEOUT)
            check(ok and not reader_err, f"the fast client fell behind: {len(got)} of {sent} lines, {reader_err}")
            with srv.err_cv:
                kicked = next((ln for ln in srv.err_lines if "disconnecting" in ln), None)
        check(slow.name in kicked and "queue full" in kicked, f"wrong client disconnected: {kicked!r}")
        log(f"slow client disconnected after {sent} lines: {kicked}")
        flooder.send("done")
        rt.join(IO_TIMEOUT)
        check(not rt.is_alive() and not reader_err, f"fast client: {reader_err or 'no done line'}")
        want_lines = [f"{flooder.name}: flood {k} {payload}" for k in range(sent)] + [f"{flooder.name}: done"]
        check(got == want_lines, f"the fast client missed lines: {len(got)} received, {len(want_lines)} sent")
        check(f"* {slow.name} left (too slow)" in fast.notices, f"fast client's notices: {fast.notices[-5:]}")
        # The slow client reads what reached its socket, then EOF: the server closed it.
        slow.s.settimeout(IO_TIMEOUT)
        data, _ = recv_until_eof(slow.s, IO_TIMEOUT)
        data = bytes(slow.pending) + data
        complete = data[:data.rfind(b"\n") + 1].decode().splitlines()  # the last write may have been cut
        flood = [ln for ln in complete if not ln.startswith("* ")]
        check(flood == want_lines[:len(flood)], "the slow client's lines are not the flood's, in order")
        log(f"the fast client got all {sent + 1} lines in order; the slow one read {len(data)} more bytes, then EOF")
        for cl in (fast, slow, flooder):
            cl.s.close()
    finally:
        srv.stop()


# ---------------------------------------------------------------- talk-sni


def client_hello(server_name, alpn=None):
    """A real ClientHello for server_name, as Python's OpenSSL writes it, made
    in memory (no network): the first bytes a TLS client sends."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    check(len(hello) > 5 and hello[0] == 22, f"python made no ClientHello: {hello[:10]!r}")
    return hello


class SinkUpstream:
    """An upstream that reads until EOF, then answers "NAME SHA256HEX LEN\\n"
    of what it read and `reply` bytes of Random(LEN), and closes: the client
    learns which upstream it reached and what exactly arrived there."""

    def __init__(self, name, reply=100_000):
        self.name, self.reply = name, reply
        self.ls = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.ls.getsockname()[1]}"
        self.conns, self.errors = 0, []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        s.settimeout(IO_TIMEOUT)
        try:
            h, n = hashlib.sha256(), 0
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
            s.sendall(f"{self.name} {h.hexdigest()} {n}\n".encode() + random.Random(n).randbytes(self.reply))
        except Exception as e:  # reported by the test
            with self.lock:
                self.errors.append(f"upstream {self.name}: {e!r}")
        finally:
            s.close()

    def expect(self, sent):
        return f"{self.name} {hashlib.sha256(sent).hexdigest()} {len(sent)}\n".encode() + \
            random.Random(len(sent)).randbytes(self.reply)

    def close(self):
        self.ls.close()


class TLSEchoUpstream:
    """A TLS echo server (python ssl) with a self-signed certificate for
    `name`, made with the openssl command; None if there is no openssl."""

    def __init__(self, name, tmpdir):
        cert, key = os.path.join(tmpdir, "up.pem"), os.path.join(tmpdir, "up-key.pem")
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", f"/CN={name}",
                            "-addext", f"subjectAltName=DNS:{name}"],
                           check=True, capture_output=True, timeout=IO_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as e:
            raise FileNotFoundError(f"openssl: {e!r}")
        self.cert = cert
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ls = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.ls.getsockname()[1]}"
        self.errors = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        s.settimeout(IO_TIMEOUT)
        try:
            with self.ctx.wrap_socket(s, server_side=True) as t:
                while True:
                    chunk = t.recv(1 << 16)
                    if not chunk:
                        break
                    t.sendall(chunk)
        except Exception as e:
            self.errors.append(f"TLS upstream: {e!r}")
        finally:
            s.close()

    def close(self):
        self.ls.close()


def test_talk_sni(binary):
    a, b = SinkUpstream("A"), SinkUpstream("B")
    tmpdir = tempfile.mkdtemp(prefix="talk-sni-")
    try:
        tls_up = TLSEchoUpstream("tls.test", tmpdir)
    except FileNotFoundError as e:
        tls_up = None
        log(f"no openssl command ({e}): the end-to-end TLS check is skipped")
    routes = f"a.test={a.addr},b.test={b.addr}" + (f",tls.test={tls_up.addr}" if tls_up else "")
    srv = Server([binary, "--listen", "127.0.0.1:0", "--routes", routes, "--timeout", "300ms"])
    try:
        # A silent client first: it must hold neither the accept loop nor
        # anyone else, and is dropped when its hello deadline passes.
        silent = srv.connect()
        silent_name = addr_str(silent.getsockname())
        t_silent = time.monotonic()

        # Each name reaches its upstream; the upstream sees the hello and the
        # bytes after it exactly as the client sent them (the replay), and its
        # answer comes back after the client's half-close.
        for name, up, extra in (("a.test", a, 1 << 20), ("b.test", b, 1000)):
            hello = client_hello(name, alpn=["h2", "http/1.1"])
            body = hello + random.Random(name).randbytes(extra)
            s = srv.connect()
            s.sendall(body)
            s.shutdown(socket.SHUT_WR)
            got, _ = recv_until_eof(s, IO_TIMEOUT)
            want = up.expect(body)
            check(got[:80] == want[:80], f"{name}: the upstream saw other bytes: {got[:80]!r}, want {want[:80]!r}")
            check(got == want, f"{name}: the reply differs ({len(got)} of {len(want)} bytes)")
            me = addr_str(s.getsockname())
            s.close()
            srv.wait_stderr(re.escape(f"{me}: Received connection for SNI \"{name}\""))
            line = srv.wait_stderr(re.escape(f"{me}: SNI \"{name}\" -> {up.addr}: Proxy connection finished with "
                                             f"err = <nil>. ({len(body)} bytes up, {len(want)} down)"))
            log(f"{name}: {len(hello)}-byte hello and {extra} more bytes reached upstream {up.name} byte for byte; "
                f"{line}")

        # A hello that trickles in, a few bytes at a time, is reassembled.
        hello = client_hello("b.test")
        s = srv.connect()
        for k in range(0, 12):
            s.sendall(hello[k:k + 1])
            time.sleep(0.005)
        s.sendall(hello[12:])
        s.shutdown(socket.SHUT_WR)
        got, _ = recv_until_eof(s, IO_TIMEOUT)
        check(got == b.expect(hello), f"trickled hello: the reply differs: {got[:80]!r}")
        s.close()
        log("a hello sent a byte at a time was routed to B and replayed whole")

        # The silent client was dropped at its deadline, not before, and the
        # clients above were served meanwhile.
        data, _ = recv_until_eof(silent, IO_TIMEOUT)
        after = time.monotonic() - t_silent
        check(data == b"", f"the silent client got bytes: {data!r}")
        line = srv.wait_stderr(re.escape(f"{silent_name}: no ClientHello: i/o timeout"))
        log(f"the silent client was dropped after {after * 1000:.0f} ms (served others meanwhile): {line}")
        silent.close()

        # No route for the name: closed, nothing dialed.
        before = (a.conns, b.conns)
        s = srv.connect()
        s.sendall(client_hello("c.test"))
        rest, _ = recv_until_eof(s, IO_TIMEOUT)
        check(rest == b"", f"an unrouted client got bytes: {rest!r}")
        me = addr_str(s.getsockname())
        s.close()
        line = srv.wait_stderr(re.escape(f"{me}: no route for SNI \"c.test\""))
        check((a.conns, b.conns) == before, "an unrouted client made the proxy dial an upstream")
        log(f"unknown name: closed, nothing dialed: {line}")

        # Plain text is not a ClientHello.
        s = srv.connect()
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        rest, _ = recv_until_eof(s, IO_TIMEOUT)
        check(rest == b"", f"a plain-text client got bytes: {rest!r}")
        me = addr_str(s.getsockname())
        s.close()
        line = srv.wait_stderr(re.escape(f"{me}: no ClientHello: not a TLS handshake"))
        log(f"plain text refused: {line}")

        # A whole TLS session through the router: the handshake is the
        # upstream's, which talk-sni never decrypts.
        if tls_up:
            ctx = ssl.create_default_context(cafile=tls_up.cert)
            t = ctx.wrap_socket(srv.connect(), server_hostname="tls.test")
            check(t.getpeercert()["subject"] == ((("commonName", "tls.test"),),), "the upstream's certificate")
            n = echo_exchange(t, random.Random(7), 200_000, 30_000)
            version = t.version()
            tls_close(t)
            log(f"python ssl: a TLS session to tls.test through talk-sni echoed {n} bytes ({version})")
            check(not tls_up.errors, f"{tls_up.errors}")
        check(not a.errors and not b.errors, f"{a.errors + b.errors}")
    finally:
        srv.stop(expect_running=sys.exc_info()[0] is None)
        a.close()
        b.close()
        if tls_up:
            tls_up.close()
        shutil.rmtree(tmpdir, ignore_errors=True)


# ---------------------------------------------------------------- talk-tls


def tls_close(t):
    """Send close_notify and wait for the server's (Python's unwrap)."""
    try:
        t.unwrap()
    except (ssl.SSLError, OSError):
        pass
    t.close()


def test_talk_tls(binary):
    certs = tempfile.mkdtemp(prefix="talk-tls-")
    up = Upstream()
    try:
        srv = Server([binary, "--listen", "127.0.0.1:0", "--certs", certs, "--timeout", "2s"])
        try:
            srv.wait_stderr(r"signed by .*ca\.pem \(a new CA\)")
            ca = os.path.join(certs, "ca.pem")
            check(os.path.exists(ca) and os.path.exists(os.path.join(certs, "localhost.pem")),
                  f"no ca.pem or localhost.pem in {certs}: {os.listdir(certs)}")
            ctx = ssl.create_default_context(cafile=ca)  # verifies the chain and the name

            # By name: the certificate is for localhost, the greeting names the
            # version and the SNI, and the echo is byte-exact.
            s = srv.connect()
            me = addr_str(s.getsockname())
            t = ctx.wrap_socket(s, server_hostname="localhost")
            pending = bytearray()
            greeting = recv_line(t, pending).decode()
            want = f'hello {me} over {t.version()}, SNI "localhost"\n'
            check(greeting == want, f"greeting {greeting!r}, want {want!r}")
            n = echo_exchange(t, random.Random(3), 300_000, 40_000)
            tls_close(t)
            srv.wait_stderr(re.escape(f'{me}: Received connection for SNI "localhost"'))
            line = srv.wait_stderr(re.escape(f"{me}: Copied {n} bytes and ended with err = <nil>."))
            log(f"python ssl trusted the dev CA for localhost ({greeting.strip()}); {n} bytes echoed; {line}")

            # By address: the certificate's IP address is checked; no SNI is sent.
            s = srv.connect()
            me = addr_str(s.getsockname())
            t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
            greeting = recv_line(t, bytearray()).decode()
            check(greeting == f'hello {me} over {t.version()}, SNI ""\n', f"greeting by IP {greeting!r}")
            tls_close(t)
            log("by IP address: the certificate's 127.0.0.1 was accepted, no SNI sent")

            # A client that does not trust the CA fails the handshake.
            s = srv.connect()
            try:
                ssl.create_default_context().wrap_socket(s, server_hostname="localhost")
                raise TestFailure("a client without the CA accepted the certificate")
            except ssl.SSLCertVerificationError as e:
                log(f"without the CA the client refuses: {e.verify_message}")
            finally:
                s.close()
            srv.wait_stderr(r": handshake: ")

            # Plain text is no ClientHello.
            s = srv.connect()
            s.sendall(b"hello\n")
            rest, _ = recv_until_eof(s, IO_TIMEOUT)
            check(rest == b"", f"a plain-text client got {rest!r}")
            me = addr_str(s.getsockname())
            s.close()
            line = srv.wait_stderr(re.escape(f"{me}: no ClientHello: not a TLS handshake"))
            log(f"plain text refused: {line}")
        finally:
            srv.stop(expect_running=sys.exc_info()[0] is None)

        # Termination: the same certificates (the CA is reused), plaintext to
        # a plain upstream, both ways.
        upstream = f"127.0.0.1:{up.port}"
        srv = Server([binary, "--listen", "127.0.0.1:0", "--certs", certs, "--upstream", upstream])
        try:
            srv.wait_stderr(r"signed by .*ca\.pem \(the existing CA\)")
            s = srv.connect()
            me = addr_str(s.getsockname())
            t = ctx.wrap_socket(s, server_hostname="localhost")
            head = b"echo 4000\n"
            t.sendall(head)
            check(recv_exact(t, len(head)) == head, "the upstream's echo of the header")
            n = echo_exchange(t, random.Random(4), 500_000, 60_000)
            tls_close(t)  # close_notify: the upstream sees EOF, closes, and so does talk-tls
            total = len(head) + n
            line = srv.wait_stderr(re.escape(f"{me}: Proxy connection finished with err = <nil>. "
                                             f"({total} bytes up, {total} down)"))
            check(4000 in up.seen_eof, "the upstream never saw the client's EOF")
            check(not up.errors, f"{up.errors}")
            log(f"TLS terminated, {total} bytes each way to the plain upstream: {line}")
        finally:
            srv.stop(expect_running=sys.exc_info()[0] is None)
    finally:
        up.close()
        shutil.rmtree(certs, ignore_errors=True)


TESTS = {
    "talk-accept": test_talk_accept,
    "talk-timeouts": test_talk_timeouts,
    "proxy": test_proxy,
    "sni": test_talk_sni,
    "tls": test_talk_tls,
    "echo": test_echo,
    "chat": test_chat,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in TESTS:
        print(__doc__, file=sys.stderr)
        return 2
    def watchdog(*_):
        print(f"FAIL: watchdog: the test took more than {WATCHDOG} s", flush=True)
        for p in RUNNING:
            p.kill()
        os._exit(1)

    signal.signal(signal.SIGALRM, watchdog)
    signal.alarm(WATCHDOG)
    try:
        TESTS[sys.argv[1]](sys.argv[2])
    except (TestFailure, OSError) as e:
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        return 1
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
