"""streams.py: the deterministic byte streams of the transfer protocol, shared
by the clients (common.py) and peer.py, the backend process.

A connection `cid` sends a 16-byte header (cid, bytes wanted back, both
big-endian u64), then up_stream(cid) until it shuts down writing; the
backend answers with the wanted bytes of down_stream(cid). Both streams
are slices of one 1 MiB random block at an offset that depends on cid and
the direction, each starting with cid itself, so a byte lost, repeated,
reordered or delivered to the wrong connection changes the sha256.
"""
import hashlib
import random

BLOCK = random.Random(20261129).randbytes(1 << 20)
BLOCK2 = BLOCK + BLOCK  # any 1 MiB window is one slice


def _chunks(cid, n, salt, size=1 << 16):
    off = (cid * 7919 + salt) % len(BLOCK)
    first = cid.to_bytes(8, "big")[:n]
    if first:
        yield first
    left = n - len(first)
    while left > 0:
        k = min(size, left)
        yield BLOCK2[off:off + k]
        off = (off + k) % len(BLOCK)
        left -= k


def up_chunks(cid, n, size=1 << 16):
    return _chunks(cid, n, 1, size)


def down_chunks(cid, n, size=1 << 16):
    return _chunks(cid, n, 2, size)


def digest(chunks):
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def header(cid, want):
    return cid.to_bytes(8, "big") + want.to_bytes(8, "big")
