"""s6_malformed.py: scenario 6, malformed ClientHellos, two ways:

  - libFuzzer on the parser (tools/fuzz-client-hello.sh FUZZ_SECONDS, run by
    run-reliability.sh before this driver; its log is --fuzz-log): the
    figures are read from its final stats;
  - a malformed-input corpus through the LIVE proxy: an SNI listener
    (client_hello timeout 2 s, idle 2 s) with a route for fuzz.test and a
    default route, both to a sink backend (peer.py sink). The inputs, from
    a seeded generator: real hellos (Python's ssl), the committed corpus
    (tests/fuzz/corpus/client_hello), each truncated, oversized (> 16 KiB),
    garbage, SSLv2, HTTP, sent in 1-byte writes, and the corpus mutated at
    random. Each is sent (whole, in 1-byte writes or random pieces), then
    the client either shuts down writing or waits.

Checked: the proxy closes every connection (EOF or reset) within its
timeouts, never answers with a byte, never crashes; every input it routed
reached the backend byte-exact (sha256 among the inputs'); real hellos are
routed; an access log line per input, each end one of the expected kinds;
its sockets return to the baseline.
"""
import asyncio
import hashlib
import os
import random
import re
import time

from .common import (
    SIZES, ENV, REPO, Peer, check, log, start_proxy, stop_proxy, access_records, count_ends, settle_fds,
    client_hello,
)

TITLE = "6. Malformed ClientHellos: libFuzzer, and the live proxy"
FUZZ_LOG = ""  # set by main.py
T = 2  # seconds: client_hello and idle timeouts
ENDS = {"ok", "no_route", "not_tls", "malformed_hello", "client_closed", "hello_timeout", "client_reset",
        "idle_timeout", "upstream_closed"}


def record(body, typ=22, version=b"\x03\x01"):
    return bytes([typ]) + version + len(body).to_bytes(2, "big") + body


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(7)
        if not b:
            b += rng.randbytes(rng.randint(1, 64))
        i = rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice([0, 1, 0x7f, 0x80, 0xfe, 0xff])
        elif op == 2:
            b[i:i] = rng.randbytes(rng.randint(1, 32))
        elif op == 3:
            del b[i:i + rng.randint(1, 32)]
        elif op == 4:
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + rng.randint(1, 64)]
        elif op == 5 and len(b) > 5:  # a length field: the record's, or any 2 bytes
            k = rng.choice([3, i])
            v = rng.choice([0, 1, 0xffff, 0x4000, 0x4001, int.from_bytes(b[k:k + 2], "big") + rng.randint(-3, 3)])
            b[k:k + 2] = (v & 0xffff).to_bytes(2, "big")
        else:
            del b[i:]
    return bytes(b)


def oversized(rng):
    """A handshake message over 16 KiB (the parser's cap), in records of at most 16 KiB."""
    n = rng.randint(16385, 30000)
    msg = b"\x01" + n.to_bytes(3, "big") + rng.randbytes(n)
    out = b""
    while msg:
        k = rng.randint(1000, 16384)
        out += record(msg[:k])
        msg = msg[k:]
    return out


def inputs(n, rng):
    """[(class, bytes, how, shut)]: how is 'whole', 'bytewise' or 'pieces'; shut: SHUT_WR after."""
    cdir = os.path.join(REPO, "tests", "fuzz", "corpus", "client_hello")
    corpus = [open(os.path.join(cdir, f), "rb").read() for f in sorted(os.listdir(cdir))]
    real = [client_hello("fuzz.test"), client_hello("other.test", ["h2", "http/1.1"]), client_hello(".".join(["a" * 60] * 4))]
    hellos = real + corpus
    out = []
    for h in real:
        out.append(("valid", h, "whole", True))
        out.append(("valid, 1-byte writes", h, "bytewise", True))
    for h in corpus:
        out.append(("corpus", h, "whole", True))
    fixed = [
        ("sslv2", b"\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10" + bytes(range(21)) + rng.randbytes(16)),
        ("http", b"GET / HTTP/1.1\r\nHost: fuzz.test\r\n\r\n"),
        ("http", b"CONNECT fuzz.test:443 HTTP/1.1\r\n\r\n"),
        ("oversized", record(b"\x01" + (20000).to_bytes(3, "big") + bytes(16380))
         + record(bytes(3620))),  # a 20000-byte hello over two records
        ("oversized", record(bytes(16385))),  # a record over 2^14
        ("oversized", b"\x16\x03\x01\xff\xff" + bytes(65535)),
        ("oversized", b"".join(record(b"\x01\x00\xff\xff" + bytes(16000)[:16000] if i == 0 else bytes(16000))
                               for i in range(5))),
        ("empty record", record(b"")),
        ("alert", record(b"\x02\x28", typ=21)),
        ("ccs only", record(b"\x01", typ=20)),
    ]
    for c, d in fixed:
        out.append((c, d, "whole", True))
        out.append((c, d, "whole", False))
    while len(out) < n:
        k = rng.random()
        h = rng.choice(hellos)
        how = rng.choice(["whole", "whole", "whole", "pieces", "bytewise"]) if len(h) < 4000 else "whole"
        shut = rng.random() < 0.8
        if k < 0.15:
            out.append(("truncated", h[:rng.randrange(len(h))], how, shut))
        elif k < 0.25:
            out.append(("garbage", rng.randbytes(rng.choice([1, 5, 6, 100, 1000, 17000])), "whole", shut))
        elif k < 0.30:
            out.append(("oversized", oversized(rng), "whole", shut))
        else:
            out.append(("mutated", mutate(rng, h), how, shut))
    return out


def source(i):
    """Input i's own source address in 127/8, so that its access log line is its own."""
    return f"127.{1 + i // 62500}.{i // 250 % 250 + 1}.{i % 250 + 1}"


async def send_one(port, i, cls, data, how, shut, rng, res):
    t0 = time.monotonic()
    rd, wr = await asyncio.open_connection("127.0.0.1", port, local_addr=(source(i), 0))
    local = source(i)
    answered = 0
    how_closed = "eof"
    try:
        if how == "whole":
            wr.write(data)
        else:
            i = 0
            while i < len(data):
                k = 1 if how == "bytewise" else rng.randint(1, 64)
                wr.write(data[i:i + k])
                await wr.drain()
                i += k
                if how == "bytewise":
                    await asyncio.sleep(0)
        await wr.drain()
        if shut:
            wr.write_eof()
    except (ConnectionError, OSError):
        how_closed = "reset while sending"
    try:
        while True:
            b = await asyncio.wait_for(rd.read(4096), T + 15 * ENV.slow)
            if not b:
                break
            answered += len(b)
    except asyncio.TimeoutError:  # first: it is an OSError too
        how_closed = "never closed"
    except (ConnectionError, OSError):
        how_closed = "reset"
    wr.close()
    res.append({"class": cls, "port": local, "sha": hashlib.sha256(data).hexdigest(), "answered": answered,
                "closed": how_closed, "seconds": time.monotonic() - t0, "len": len(data)})


def fuzz_figures(r):
    if not FUZZ_LOG or not os.path.exists(FUZZ_LOG):
        r.fig("libFuzzer", "not run (FUZZ_SECONDS=0)")
        return
    text = open(FUZZ_LOG, errors="replace").read()
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    secs = re.search(r"no crash in (\d+) s", text)
    last = [ln for ln in text.splitlines() if re.match(r"#\d+\s+(DONE|pulse|NEW|REDUCE)", ln)]
    check(runs and secs, f"libFuzzer did not finish cleanly; see {FUZZ_LOG}")
    r.fig("libFuzzer (client_hello_fuzz, ASan+UBSan)", f"{int(runs.group(1)):,} inputs in {secs.group(1)} s, no crash")
    if last:
        r.fig("libFuzzer final line", last[-1].strip())
    r.ok(f"libFuzzer: {int(runs.group(1)):,} inputs through the ClientHello parser, no crash or sanitizer report")


def run(r):
    fuzz_figures(r)
    n = SIZES.malformed
    rng = random.Random(66)
    ins = inputs(n, rng)
    sink = Peer("sink", "s6-sink")
    proxy, pp, alog = start_proxy([("sni", [
        {"name": "fuzz", "mode": "passthrough", "sni": ["fuzz.test"], "upstreams": [sink.addr]},
        {"name": "default", "mode": "passthrough", "default": True, "upstreams": [sink.addr]},
    ], {"client_hello": f"{T}s", "idle": f"{T}s"})], name="s6-proxy")
    try:
        base = pp.fds()
        res = []

        async def main():
            sem = asyncio.Semaphore(64)

            async def one(i, x):
                async with sem:
                    await send_one(proxy.port, i, *x, random.Random(x[1]), res)

            await asyncio.gather(*(one(i, x) for i, x in enumerate(ins)))

        t0 = time.monotonic()
        asyncio.run(main())
        took = time.monotonic() - t0
        classes = {}
        for x in res:
            classes[x["class"]] = classes.get(x["class"], 0) + 1
        r.fig("inputs through the live proxy", f"{len(res)} in {took:.0f} s: {dict(sorted(classes.items()))}")
        never = [x for x in res if x["closed"] == "never closed"]
        check(not never, f"{len(never)} inputs never closed, e.g. {never[:3]}")
        answered = [x for x in res if x["answered"]]
        check(not answered, f"the proxy answered {len(answered)} inputs with bytes")
        check(proxy.running(), "gort-proxy died")
        r.ok(f"every one of {len(res)} inputs closed (EOF or reset) within the timeouts, no byte answered, "
             "the proxy never crashed")
        after = settle_fds(pp, base, 20 * ENV.slow, "after the malformed inputs")
        r.ok(f"the proxy's sockets back to the baseline ({after['socket']})")
        st = sink.stop()
        shas = {x["sha"] for x in res}
        routed = [rec for rec in st["records"]]
        bad = [rec for rec in routed if rec[2] not in shas]
        check(not bad, f"{len(bad)} routed inputs reached the backend changed")
        r.fig("routed to the backend", f"{len(routed)}, each byte-exact (its sha256 is an input's)")
        stop_proxy(proxy)
        r.ok("gort-proxy exited 0 on SIGTERM, no sanitizer report")
        recs = access_records(alog)
        check(len(recs) == len(res), f"{len(recs)} access log lines for {len(res)} inputs")
        ends = count_ends(recs)
        r.fig("access log", ends)
        check(set(ends) <= ENDS, f"unexpected ends: {ends}")
        check(ends.get("ok", 0) + ends.get("idle_timeout", 0) + ends.get("client_reset", 0)
              + ends.get("upstream_closed", 0) >= len(routed) - 0, "routed inputs and the log disagree")
        by_src = {}
        for rec in recs:
            by_src.setdefault(rec["client"].rsplit(":", 1)[0], []).append(rec)
        table = {}
        for x in res:
            got = by_src.get(x["port"], [])
            check(len(got) == 1, f"input from {x['port']} ({x['class']}): {len(got)} access log lines")
            end = got[0]["end"]
            table.setdefault(x["class"], {}).setdefault(end, 0)
            table[x["class"]][end] += 1
        for cls in sorted(table):
            r.fig(f"{cls}: end=", dict(sorted(table[cls].items())))
        for cls in ("valid", "valid, 1-byte writes"):
            check(set(table.get(cls, {})) == {"ok"}, f"real hellos not routed: {table.get(cls)}")
        check(set(table.get("oversized", {})) <= {"malformed_hello"}, f"oversized: {table.get('oversized')}")
        r.ok("each input's own access log line (a source address per input): real ClientHellos, whole or in "
             "1-byte writes, routed (end=ok); every oversized one refused as malformed_hello")
    finally:
        proxy.kill()
        from e2e.harness import kill_all
        kill_all()
