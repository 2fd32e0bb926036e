#!/usr/bin/env python3
"""capture-client-hellos.py: real TLS ClientHellos, for the parser's tests and fuzz corpus.

    python3 tools/capture-client-hellos.py [OUTDIR]                 # default tests/fuzz/corpus/client_hello
    python3 tools/capture-client-hellos.py --derive-only [OUTDIR]   # remake the synthetic-* files only

A listener on 127.0.0.1 saves the records holding the first ClientHello each
client sends (exactly those bytes: it reads record by record and stops at the
end of the hello), then closes the connection, so every client fails its
handshake, as intended. The clients, each run as its own process:

    openssl-tls13.bin   openssl s_client -servername example.com -alpn h2,http/1.1
    openssl-tls12.bin   the same with -tls1_2
    curl.bin            curl --resolve a.example.test:PORT:127.0.0.1 https://a.example.test:PORT/
    python-tls13.bin    python ssl, server_hostname="python.example.org", ALPN http/1.1
    python-tls12.bin    python ssl capped at TLS 1.2, server_hostname="python.example.org"
    python-nosni.bin    python ssl without server_hostname: no server_name extension

and, derived from those with a small codec below (a client that sends them is
named in each description):

    synthetic-grease.bin        openssl-tls13 with GREASE as Chrome sends it: a
                                cipher suite, two extensions, a version
    synthetic-pq.bin            openssl-tls13 with an X25519MLKEM768 key share
                                (1,216 bytes) as Chrome 131+ sends: 1.5 KB, over
                                one TCP segment (Chrome's whole hello: ~1.8 KB)
    synthetic-5500.bin          curl's hello with a padding extension to 5,500
                                bytes (the largest hellos seen in the field)
    synthetic-max.bin           a hello body of exactly 16,384 bytes (the cap),
                                over two records
    synthetic-too-large.bin     one byte over the cap (too_large)
    synthetic-fragmented.bin    python-tls13 re-cut into records of 50 bytes
                                (record-layer fragmentation, as DPI-evading
                                clients send)
    synthetic-ccs-after.bin     openssl-tls13 followed by a ChangeCipherSpec record
    synthetic-many-exts.bin     python-tls13 with 40 more (empty, unknown) extensions
    synthetic-long-name.bin     python-tls13 asking for a 253-byte name of 63-byte labels
    synthetic-sslv2.bin         an SSLv2-compatible hello (not_tls)
    synthetic-http.bin          "GET / HTTP/1.1 ..." (not_tls)

The derived files are deterministic given the captured ones. Captured hellos
hold random values (random, key shares), so a new capture differs from the
committed one in those bytes only; tests/net/client_hello_test.cpp checks
names, ALPN and versions, not bytes. Needs openssl, curl and python3's ssl.
"""
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import threading

TIMEOUT = 10.0


def read_exact(conn, n):
    b = b""
    while len(b) < n:
        chunk = conn.recv(n - len(b))
        if not chunk:
            raise EOFError(f"EOF after {len(b)} of {n} bytes")
        b += chunk
    return b


def read_hello(conn):
    """Reads record by record until the handshake message is whole; returns the records."""
    raw, msg = b"", b""
    while len(msg) < 4 or len(msg) < 4 + int.from_bytes(msg[1:4], "big"):
        header = read_exact(conn, 5)
        if header[0] != 22:
            raise ValueError(f"record type {header[0]}, not handshake")
        body = read_exact(conn, int.from_bytes(header[3:5], "big"))
        raw += header + body
        msg += body
    return raw


class Listener:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]

    def capture(self, client_argv=None, client_fn=None):
        """Runs the client (a command or a function in a thread) and returns its hello."""
        proc = thread = None
        if client_argv:
            proc = subprocess.Popen(client_argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        else:
            thread = threading.Thread(target=client_fn, daemon=True)
            thread.start()
        conn, _ = self.sock.accept()
        try:
            conn.settimeout(TIMEOUT)
            return read_hello(conn)
        finally:
            conn.close()
            if proc:
                try:
                    proc.communicate(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if thread:
                thread.join(TIMEOUT)


def python_client(port, server_hostname, max_version=None, alpn=None):
    def run():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if max_version:
            ctx.maximum_version = max_version
        if alpn:
            ctx.set_alpn_protocols(alpn)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
                with ctx.wrap_socket(s, server_hostname=server_hostname):
                    pass
        except (OSError, ssl.SSLError):
            pass  # the listener hangs up after the hello: expected

    return run


# ------------------------------------------------- a ClientHello codec (for the synthetic ones)


def unframe(raw):
    """The handshake message inside records."""
    msg, pos = b"", 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos + 3:pos + 5], "big")
        msg += raw[pos + 5:pos + 5 + n]
        pos += 5 + n
    return msg


def frame(msg, size=16384, version=0x0301):
    """msg as handshake records of at most size bytes each."""
    return b"".join(struct.pack(">BHH", 22, version, len(msg[i:i + size])) + msg[i:i + size]
                    for i in range(0, len(msg), size))


def decode(msg):
    body = msg[4:]
    h = {"version": body[0:2], "random": body[2:34]}
    p = 34
    n = body[p]
    h["sid"] = body[p + 1:p + 1 + n]
    p += 1 + n
    n = int.from_bytes(body[p:p + 2], "big")
    h["ciphers"] = [int.from_bytes(body[i:i + 2], "big") for i in range(p + 2, p + 2 + n, 2)]
    p += 2 + n
    n = body[p]
    h["comp"] = body[p + 1:p + 1 + n]
    p += 1 + n
    exts, end = [], p + 2 + int.from_bytes(body[p:p + 2], "big")
    p += 2
    while p < end:
        t, n = struct.unpack(">HH", body[p:p + 4])
        exts.append([t, body[p + 4:p + 4 + n]])
        p += 4 + n
    h["exts"] = exts
    return h


def encode(h):
    body = h["version"] + h["random"] + bytes([len(h["sid"])]) + h["sid"]
    body += struct.pack(">H", 2 * len(h["ciphers"])) + b"".join(struct.pack(">H", c) for c in h["ciphers"])
    body += bytes([len(h["comp"])]) + h["comp"]
    exts = b"".join(struct.pack(">HH", t, len(d)) + d for t, d in h["exts"])
    body += struct.pack(">H", len(exts)) + exts
    return b"\x01" + len(body).to_bytes(3, "big") + body


def ext(h, t):
    return next(e for e in h["exts"] if e[0] == t)


def with_grease(raw):
    h = decode(unframe(raw))
    h["ciphers"].insert(0, 0x5a5a)
    h["exts"].insert(0, [0x1a1a, b""])
    h["exts"].append([0x4a4a, b"\x00"])
    v = ext(h, 43)
    v[1] = bytes([len(v[1]) + 1]) + b"\x7a\x7a" + v[1][1:]
    g = ext(h, 10)  # supported_groups
    g[1] = struct.pack(">H", len(g[1])) + b"\x2a\x2a" + g[1][2:]
    return frame(encode(h))


def with_pq_key_share(raw, rng):
    h = decode(unframe(raw))
    g = ext(h, 10)
    g[1] = struct.pack(">H", len(g[1])) + b"\x11\xec" + g[1][2:]
    ks = ext(h, 51)
    share = struct.pack(">HH", 0x11EC, 1216) + rng.randbytes(1216)
    ks[1] = struct.pack(">H", len(ks[1]) - 2 + len(share)) + share + ks[1][2:]
    return frame(encode(h))


def many_extensions(raw, count):
    h = decode(unframe(raw))
    psk = [e for e in h["exts"] if e[0] == 41]
    h["exts"] = [e for e in h["exts"] if e[0] != 41] + [[0xFF00 + i, b""] for i in range(count)] + psk
    return frame(encode(h))


def with_name(raw, name):
    h = decode(unframe(raw))
    sni = ext(h, 0)
    sni[1] = struct.pack(">HBH", len(name) + 3, 0, len(name)) + name
    return frame(encode(h))


def padded(raw, body_len):
    """raw's hello with a padding extension (21) so that its body is body_len bytes."""
    h = decode(unframe(raw))
    h["exts"] = [e for e in h["exts"] if e[0] != 21]
    psk = [e for e in h["exts"] if e[0] == 41]  # pre_shared_key stays last
    h["exts"] = [e for e in h["exts"] if e[0] != 41]
    base = len(encode(h)) - 4 + 4  # + the padding extension's header
    h["exts"] += [[21, bytes(body_len - base - sum(4 + len(d) for _, d in psk))]] + psk
    msg = encode(h)
    assert len(msg) - 4 == body_len, (len(msg), body_len)
    return frame(msg)


SSLV2_HELLO = bytes.fromhex(
    "802e0103010015000000100700c0050080030080010080080080060040040080020080"
    "4f1a6b7b24e1dd11a5e5d1ebc0a12f26")


CAPTURED = ["openssl-tls13", "openssl-tls12", "curl", "python-tls13", "python-tls12", "python-nosni"]


def capture():
    ln = Listener()
    port = ln.port
    s_client = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "example.com", "-alpn",
                "h2,http/1.1"]
    return {
        "openssl-tls13": ln.capture(s_client),
        "openssl-tls12": ln.capture(s_client + ["-tls1_2"]),
        "curl": ln.capture(["curl", "-sk", "--max-time", "5", "--resolve", f"a.example.test:{port}:127.0.0.1",
                            f"https://a.example.test:{port}/"]),
        "python-tls13": ln.capture(client_fn=python_client(port, "python.example.org", alpn=["http/1.1"])),
        "python-tls12": ln.capture(
            client_fn=python_client(port, "python.example.org", max_version=ssl.TLSVersion.TLSv1_2)),
        "python-nosni": ln.capture(client_fn=python_client(port, None)),
    }


def derive(got):
    rng = random.Random(6)
    label = b"a" * 63
    return {
        "synthetic-grease": with_grease(got["openssl-tls13"]),
        "synthetic-pq": with_pq_key_share(got["openssl-tls13"], rng),
        "synthetic-5500": padded(got["curl"], 5500),
        "synthetic-max": padded(got["curl"], 16384),
        "synthetic-too-large": padded(got["curl"], 16385),
        "synthetic-fragmented": frame(unframe(got["python-tls13"]), 50),
        "synthetic-ccs-after": got["openssl-tls13"] + bytes.fromhex("140303000101"),
        "synthetic-many-exts": many_extensions(got["python-tls13"], 40),
        "synthetic-long-name": with_name(got["python-tls13"], b".".join([label] * 3 + [b"b" * 61])),
        "synthetic-sslv2": SSLV2_HELLO,
        "synthetic-http": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    }


def main():
    args = sys.argv[1:]
    derive_only = "--derive-only" in args
    args = [a for a in args if a != "--derive-only"]
    out = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests", "fuzz", "corpus",
                                            "client_hello")
    os.makedirs(out, exist_ok=True)
    if derive_only:
        got = {name: open(os.path.join(out, name + ".bin"), "rb").read() for name in CAPTURED}
        made = derive(got)
    else:
        got = capture()
        made = dict(got, **derive(got))
    for name, raw in made.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(raw)
        print(f"{name + '.bin':28} {len(raw):6} bytes")


if __name__ == "__main__":
    main()
