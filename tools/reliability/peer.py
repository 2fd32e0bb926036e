"""peer.py: a backend in a process of its own (so that a scenario can
SIGKILL it, and so that its sockets do not count against the driver's), on
asyncio, serving every connection with one of these modes:

  xfer   the reliability protocol (see common.py, "the transfer protocol"):
         reads a 16-byte header (conn id, bytes wanted back), then hashes
         everything up to EOF while it sends the wanted bytes of
         down_stream(id); closes when both are done. Records (id, bytes
         received, their sha256) per connection.
  echo   echoes until EOF, then closes.
  tls    a TLS server (CERT, KEY) that echoes until EOF.
  sink   reads to EOF, records the sha256 of everything received, closes.

    python3 peer.py MODE PORT STATUS_FILE [CERT KEY]

It prints "listening PORT" once it listens (PORT 0: the kernel's choice),
writes {"accepted", "active", "done", "errors"} to STATUS_FILE every 0.2 s,
and on SIGTERM writes the per-connection records there ("records") and
exits 0.
"""
import asyncio
import hashlib
import json
import os
import resource
import signal
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from reliability.streams import down_chunks  # noqa: E402

state = {"accepted": 0, "active": 0, "done": 0, "errors": 0}
records = []


def write_status(path, final=False):
    doc = dict(state)
    if final:
        doc["records"] = records
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


async def read_to_eof(reader, h):
    n = 0
    while True:
        data = await reader.read(1 << 16)
        if not data:
            return n
        h.update(data)
        n += len(data)


async def serve(mode, reader, writer):
    state["accepted"] += 1
    state["active"] += 1
    try:
        if mode == "xfer":
            head = await reader.readexactly(16)
            cid, want = int.from_bytes(head[:8], "big"), int.from_bytes(head[8:], "big")
            h = hashlib.sha256()

            async def send():
                for chunk in down_chunks(cid, want):
                    writer.write(chunk)
                    await writer.drain()

            sender = asyncio.ensure_future(send())
            n = await read_to_eof(reader, h)
            await sender
            records.append([cid, n, h.hexdigest()])
        elif mode == "sink":
            h = hashlib.sha256()
            n = await read_to_eof(reader, h)
            records.append([0, n, h.hexdigest()])
        else:  # echo, tls
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
        state["errors"] += 1
    finally:
        state["active"] -= 1
        state["done"] += 1
        try:
            writer.close()
        except Exception:
            pass


async def main():
    mode, port, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = None
    if mode == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    server = await asyncio.start_server(lambda r, w: serve(mode, r, w), "127.0.0.1", port, backlog=8192,
                                        ssl=ctx, reuse_address=True)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        write_status(status)
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass
    write_status(status, final=True)
    os._exit(0)  # connections still open are the driver's business


if __name__ == "__main__":
    asyncio.run(main())
