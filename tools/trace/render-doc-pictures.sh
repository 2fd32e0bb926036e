#!/usr/bin/env bash
# render-doc-pictures.sh -- the execution-trace pictures of docs/design.md
# (5j), made from real runs and drawn with gort-trace-svg:
#   docs/trace/pingpong.svg   trace-demo pingpong: two fibers and an unbuffered
#                             channel, 2 Ps (wake-up arrows, runnext)
#   docs/trace/steal.svg      trace-demo steal: 8 CPU-bound fibers spawned on one
#                             P, the other M steals (steal arrows)
#   docs/trace/proxy.svg      gort-proxy forwarding one connection: a client sends
#                             three messages and 4 MiB through it to an echo
#                             backend (accept, dial, the two copies, netpoll)
#
#   tools/trace/render-doc-pictures.sh            # builds into build/ if needed
#   BUILD_DIR=build-x OUT=/tmp/pics tools/trace/render-doc-pictures.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
OUT=${OUT:-$ROOT/docs/trace}
TMP=$(mktemp -d /tmp/gort-trace-pics.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

cmake --build "$BUILD_DIR" -j2 --target trace-demo gort-proxy >/dev/null
DEMO=$BUILD_DIR/tools/examples/trace-demo
PROXY=$BUILD_DIR/proxy/gort-proxy
SVG=$HERE/gort-trace-svg

GORT_MAXPROCS=2 "$DEMO" pingpong "$TMP/pingpong.json"
"$SVG" "$TMP/pingpong.json" -o "$OUT/pingpong.svg" --width 1400 \
  --title "ping-pong: two fibers, an unbuffered channel, 2 Ps (trace-demo pingpong)"
GORT_MAXPROCS=2 "$DEMO" steal "$TMP/steal.json"
"$SVG" "$TMP/steal.json" -o "$OUT/steal.svg" --width 1400 \
  --title "a burst: 8 CPU-bound fibers spawned on one P, 2 Ps (trace-demo steal)"

# One proxied connection: a python echo backend, gort-proxy traced for its
# whole run (SIGTERM ends it gracefully, and gort::run writes the trace).
python3 - "$TMP/ports" <<'PY' &
import socket, sys, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
def serve(c):
    with c:
        while (b := c.recv(65536)):
            c.sendall(b)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
for _ in $(seq 100); do [[ -s $TMP/ports ]] && break; sleep 0.05; done
ECHO_PORT=$(cat "$TMP/ports")
PROXY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GORT_MAXPROCS=2 GORT_TRACE="$TMP/proxy.json" "$PROXY" --listen "127.0.0.1:$PROXY_PORT" \
  --upstream "127.0.0.1:$ECHO_PORT" --access-log "" &
PROXY_PID=$!
python3 - "$PROXY_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
for _ in range(100):
    try:
        c = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.05)
for msg in (b"hello", b"through", b"gort-proxy"):
    c.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += c.recv(100)
    assert got == msg, got
    time.sleep(0.002)
bulk = bytes(range(256)) * (4 << 12)  # 4 MiB
c.sendall(bulk); c.shutdown(socket.SHUT_WR)
got = b""
while (b := c.recv(1 << 20)):
    got += b
assert got == bulk, len(got)
c.close()
PY
sleep 0.05
kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
# The window: the connection's own burst of slices (start-up and the
# SIGTERM are tens of ms away on either side of it).
read -r FROM TO < <(python3 - "$TMP/proxy.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
xs = sorted((e["ts"], e["ts"] + e.get("dur", 0)) for e in ev if e.get("ph") == "X")
t0 = min(e["ts"] for e in ev if "ts" in e)
clusters, cur = [], [xs[0]]
for a, b in xs[1:]:
    if a - max(e for _, e in cur) > 20_000:  # 20 ms of nothing: a new burst
        clusters.append(cur)
        cur = []
    cur.append((a, b))
clusters.append(cur)
best = max(clusters, key=len)
print(f"{best[0][0] - t0 - 50:.0f} {max(e for _, e in best) - t0 + 50:.0f}")
PY
)
"$SVG" "$TMP/proxy.json" -o "$OUT/proxy.svg" --width 1400 --from-us "$FROM" --to-us "$TO" \
  --title "gort-proxy, one connection: 3 messages, then 4 MiB each way (2 Ps)"
echo "render-doc-pictures: wrote $OUT/pingpong.svg $OUT/steal.svg $OUT/proxy.svg"
