"""traffic.py: gort-proxy's scenarios about the bytes: 256 MiB each way
byte-exact, half-close, the connection limit."""

import random
import socket
import time

from .harness import (
    IO_TIMEOUT, CHUNK, check, log, ENV, Proxy, forward_config, Worker, Backend, Stream, Sink,
    NullSock, stream_handler, echo_handler, recv_exact, recv_line, echo_roundtrip, silent_for,
)


# ---------------------------------------------------------------- 4. 256 MiB byte-exact


def test_bytes():
    """256 MiB ($GORT_E2E_MIB) each way at once through a forward route, sha256-checked at both ends."""
    total = ENV.mib * CHUNK
    results = {}
    be = Backend(stream_handler(results, seed=2, total=total), "sink")
    proxy = Proxy(forward_config(be.addr))
    try:
        t0 = time.monotonic()
        c = proxy.connect()
        up, down = Stream(1, total), Sink()

        def send_all():
            up.send(c)
            c.shutdown(socket.SHUT_WR)

        w = Worker(send_all)
        down.recv(c)
        w.join(timeout=120)
        c.close()
        be.wait(lambda b: 0 in b.done, "the transfer's conn ended")
        check(not be.errors, f"backend: {be.errors}")
        took = time.monotonic() - t0
        rx, tx = results[0]
        check(rx.n == total, f"the backend got {rx.n} bytes of {total}")
        check(rx.digest() == up.digest(), "client -> backend: sha256 differs")
        check(down.n == total, f"the client got {down.n} bytes of {total}")
        check(down.digest() == tx.digest(), "backend -> client: sha256 differs")
        rec = proxy.access(end="ok", upstream=be.addr)
        check(rec["up"] == str(total) and rec["down"] == str(total), f"access log bytes: {rec}")
        log(f"{ENV.mib} MiB each way byte-exact (sha256) in {took:.1f} s "
            f"({2 * total / CHUNK / took:.0f} MiB/s both ways together); access log up={rec['up']} down={rec['down']}")
    finally:
        proxy.stop()


# ---------------------------------------------------------------- 5. half-close


def test_half_close():
    """The client shuts down writing; the backend answers only after EOF; the whole answer arrives."""
    reply_size = 3 * CHUNK + 12345

    def handler(c, i):
        rx = Sink()
        rx.recv(c)  # to EOF: the client's SHUT_WR, passed on by the proxy
        head = f"got {rx.n} bytes, sha256 {rx.digest()}\n".encode()
        c.sendall(head)
        Stream(7, reply_size).send(c)
        # and close: EOF to the client after the whole reply

    be = Backend(handler, "after-eof")
    proxy = Proxy(forward_config(be.addr))
    try:
        for size in (0, 1000, 5 * CHUNK + 7):
            c = proxy.connect()
            up = Stream(3, size)
            up.send(c)
            c.shutdown(socket.SHUT_WR)
            head = recv_line(c)
            check(head == f"got {size} bytes, sha256 {up.digest()}", f"backend's view: {head!r}")
            down = Sink()
            down.recv(c)
            c.close()
            want = Stream(7, reply_size)
            want.send(NullSock())
            check(down.n == reply_size and down.digest() == want.digest(),
                  f"reply after half-close: {down.n} bytes of {reply_size}, sha256 equal: {down.digest() == want.digest()}")
            rec = proxy.access(end="ok", up=size)
            check(rec["down"] == str(len(head) + 1 + reply_size), f"access log: {rec}")
            log(f"sent {size} bytes, SHUT_WR; the backend saw EOF and all {size} bytes; "
                f"its {reply_size}-byte reply arrived whole; access log end=ok")
        check(not be.errors, f"backend: {be.errors}")
    finally:
        proxy.stop()


# ---------------------------------------------------------------- 10. connection limit


def test_limit():
    """max_connections = 3: a 4th and 5th client wait in the backlog until one of the 3 closes; none dropped.

    The three are served and go on being served; the 4th and 5th connect
    (the kernel's backlog) and send, get nothing for a second while the
    backend still has three conns, then each is served, its bytes whole,
    when one of the three closes; all five end ok in the access log."""
    be = Backend(echo_handler(), "echo")
    proxy = Proxy(forward_config(be.addr, max_connections=3))
    try:
        rng = random.Random(4)
        held = []
        for i in range(3):
            c = proxy.connect()
            echo_roundtrip(c, rng, 10_000)
            held.append(c)
        be.wait(lambda b: b.accepted == 3, "3 conns")
        log("3 conns open and served")
        waiting = []
        for i in range(2):
            c = proxy.connect()  # the kernel's backlog takes it
            msg = f"queued client {i}: ".encode() + rng.randbytes(50_000)
            c.sendall(msg)
            waiting.append((c, msg))
        silent_for(waiting[0][0], 1.0)
        check(be.accepted == 3, f"the backend has {be.accepted} conns with a limit of 3")
        for c in held[1:]:
            echo_roundtrip(c, rng, 1000)  # the three go on meanwhile
        log("a 4th and 5th conn connected but get nothing for 1 s; the backend still has 3; the 3 still echo")
        for i, (c, msg) in enumerate(waiting):
            t0 = time.monotonic()
            held[i].close()
            got = recv_exact(c, len(msg))
            check(got == msg, f"queued client {i}: its bytes changed while it waited")
            log(f"closing one of the 3: queued client {i} served after {time.monotonic() - t0:.2f} s, "
                f"its {len(msg)} bytes echoed whole")
            if i == 0:
                silent_for(waiting[1][0], 0.5)
                check(be.accepted == 4, f"the backend has {be.accepted} conns, want 4")
        check(be.accepted == 5, f"the backend saw {be.accepted} conns, want 5")
        for c, _ in waiting:
            c.close()
        held[2].close()
        be.wait(lambda b: len(b.done) == 5, "all 5 conns ended")
        recs = [r for r in proxy.access_lines() if r["listener"] == "main"]
        deadline = time.monotonic() + IO_TIMEOUT
        while len(recs) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
            recs = [r for r in proxy.access_lines() if r["listener"] == "main"]
        check(len(recs) == 5 and all(r["end"] == "ok" for r in recs), f"access log: {recs}")
        log("all 5 conns ended ok in the access log: none dropped")
    finally:
        proxy.stop()
