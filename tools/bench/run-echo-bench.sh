#!/usr/bin/env bash
# run-echo-bench.sh -- the gort echo server side by side with Go's, on loopback.
#
# Servers: tools/examples/echo-server (gort, built RelWithDebInfo in
# $BUILD_DIR) and the Go backend of the proxy harness,
# /work/shared/bench/echo/main.go (goroutine per connection, read/write
# loop), built with Debian's `go` from a copy in a temp directory. Load: the
# harness's load generator, /work/shared/bench/loadgen/main.go, as its
# run_proxy_bench.sh runs it:
#   rr        loadgen -mode rr -c C -d ${DUR}s -size 64, C in $RR_CONCS (1 64 1000):
#             C persistent connections, 64-byte ping-pong in a closed loop
#   connrate  loadgen -mode connrate -c 64 -d ${DUR}s -size 64: connect,
#             one 64-byte exchange, close, in a loop
#   idle      tools/bench/echo_idle.py: $IDLE_CONNS (10000) connections, one
#             exchange each, then held open and silent for $IDLE_SECS (5) s
# with -proxy-pids <server pid>, so that loadgen reports the server's CPU
# time over its measured window (exact schedstat runtime of its threads).
# Every (test, repetition) starts a fresh server, gort and Go alternating
# (gort first on odd repetitions, Go first on even ones), after waiting for a
# quiet machine (loadgen -mode quiet). Then, once per server, a syscall count:
# strace -f -c on the server during a ${STRACE_DUR}s rr run at 64 connections
# (epoll_ctl, epoll_wait/epoll_pwait, read/write, send/recv and futex calls
# per request; strace slows the server a lot, so only the counts mean
# anything). Prints a markdown report (tools/bench/summarize_echo.py):
# req/s (conns/s), server CPU-seconds, requests per server CPU-second, the
# gort/Go ratio of both, medians with min-max; idle CPU; syscalls/request.
#
#   tools/bench/run-echo-bench.sh                      # REPS=3, ~10 min on 2 idle cores
#   REPS=5 OUT=/tmp/echo.md tools/bench/run-echo-bench.sh
#   ONLY="rr" RR_CONCS=64 REPS=1 NO_BUILD=1 tools/bench/run-echo-bench.sh
#
# Env knobs:
#   REPS=3               repetitions per (test, server)
#   DUR=5                seconds per loadgen window
#   RR_CONCS="1 64 1000" connection counts of the rr test
#   CR_CONC=64           workers of the connrate test
#   IDLE_CONNS=10000 IDLE_SECS=5   the idle test (needs ulimit -n > IDLE_CONNS)
#   STRACE_DUR=3         seconds of the rr run under strace (STRACE=0: skip)
#   ONLY="rr connrate idle strace"   subset of tests
#   PROCS=               GORT_MAXPROCS and GOMAXPROCS for both servers (default: all CPUs)
#   BUILD_DIR=<repo>/build-echo-bench   gort build (RelWithDebInfo; never build/)
#   NO_BUILD=1           use the binaries already built (gort and Go)
#   BENCH_SRC=/work/shared/bench   where echo/ and loadgen/ come from
#   QUIET_MAX=15 QUIET_WAIT=20     before each run, wait up to QUIET_WAIT s until
#                        other processes use < QUIET_MAX % of one core
#   LOUD_MAX=10 RETRY_LOUD=2       a loadgen run during which other processes used
#                        > LOUD_MAX % of one core is repeated, at most RETRY_LOUD times
#   OUT=file.md          also write the report there
#   JSONL=file.jsonl     keep the raw JSON lines (default: a temp file, deleted)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=${REPS:-3}
DUR=${DUR:-5}
RR_CONCS=${RR_CONCS:-"1 64 1000"}
CR_CONC=${CR_CONC:-64}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_SECS=${IDLE_SECS:-5}
STRACE_DUR=${STRACE_DUR:-3}
STRACE=${STRACE:-1}
ONLY=${ONLY:-"rr connrate idle strace"}
PROCS=${PROCS:-}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-echo-bench}
BENCH_SRC=${BENCH_SRC:-/work/shared/bench}
QUIET_MAX=${QUIET_MAX:-15}
QUIET_WAIT=${QUIET_WAIT:-20}
OUT=${OUT:-}
LOG=$BUILD_DIR/echo-bench-build.log
RETRY_LOUD=${RETRY_LOUD:-2}
LOUD_MAX=${LOUD_MAX:-10}
SERVER_LIFE=$((DUR + STRACE_DUR + IDLE_SECS + 240))  # hard bound on each server process

die() { echo "run-echo-bench: $*" >&2; exit 1; }
note() { echo "run-echo-bench: $*" >&2; }
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 && $REPS -le 50 ]] || die "REPS must be 1..50"
[[ $DUR =~ ^[0-9]+$ && $DUR -ge 1 ]] || die "DUR must be whole seconds"
command -v python3 >/dev/null || die "python3 is needed"
command -v go >/dev/null || die "go is needed for the Go server and the load generator (apt-get install golang-go)"
[[ -f $BENCH_SRC/echo/main.go && -f $BENCH_SRC/loadgen/main.go ]] || die "no echo/ and loadgen/ under $BENCH_SRC"
mkdir -p "$BUILD_DIR" || die "cannot create $BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
LOG=$BUILD_DIR/echo-bench-build.log

# ---------------------------------------------------------------- build
GORT_ECHO=$BUILD_DIR/tools/examples/echo-server
GO_DIR=$BUILD_DIR/go-echo  # bin/echo, bin/loadgen
GO_ECHO=$GO_DIR/bin/echo
LOADGEN=$GO_DIR/bin/loadgen
[[ -n ${HOME:-} ]] || export GOCACHE=${GOCACHE:-$BUILD_DIR/go-cache}
if [[ -z ${NO_BUILD:-} ]]; then
  note "building the gort echo server in $BUILD_DIR (log: $LOG)"
  : >"$LOG"
  GEN=()
  command -v ninja >/dev/null && GEN=(-G Ninja)
  if ! { timeout 600 cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
           -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_BENCHMARKS=OFF >>"$LOG" 2>&1 &&
         timeout 1800 cmake --build "$BUILD_DIR" --target echo-server >>"$LOG" 2>&1; }; then
    tail -n 30 "$LOG" >&2
    die "could not build echo-server (full log: $LOG)"
  fi
  note "building the Go echo server and loadgen from a copy of $BENCH_SRC"
  rm -rf "$GO_DIR/src"
  mkdir -p "$GO_DIR/src" "$GO_DIR/bin" || die "cannot create $GO_DIR"
  cp -r "$BENCH_SRC/go.mod" "$BENCH_SRC/echo" "$BENCH_SRC/loadgen" "$GO_DIR/src/" || die "cannot copy $BENCH_SRC"
  if ! (cd "$GO_DIR/src" && export GOTOOLCHAIN=local GOPROXY=off GOFLAGS='' &&
        timeout 600 go build -o "$GO_ECHO" ./echo && timeout 600 go build -o "$LOADGEN" ./loadgen) >>"$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    die "the Go build failed (full log: $LOG)"
  fi
fi
for b in "$GORT_ECHO" "$GO_ECHO" "$LOADGEN"; do [[ -x $b ]] || die "missing $b (run without NO_BUILD)"; done

# The idle test holds IDLE_CONNS descriptors in each server: raise the limit
# this shell passes on (Go 1.19 raises its own soft limit; gort does not).
if [[ " $ONLY " == *" idle "* ]]; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null
  if [[ $(ulimit -n) != unlimited ]] && (($(ulimit -n) < IDLE_CONNS + 100)); then
    note "ulimit -n is $(ulimit -n): the idle test uses $((($(ulimit -n) - 100) / 1000 * 1000)) connections"
    IDLE_CONNS=$((($(ulimit -n) - 100) / 1000 * 1000))
  fi
fi

TMP=$(mktemp -d /tmp/gort-echo-bench.XXXXXX)
JSONL=${JSONL:-}
KEEP_JSONL=1
if [[ -z $JSONL ]]; then
  JSONL=$TMP/results.jsonl
  KEEP_JSONL=0
fi
: >"$JSONL"

# ---------------------------------------------------------------- servers
SRV_WRAP="" SRV_PID="" SRV_ADDR="" SRV_LOG=""
# start_server IMPL: a fresh server on 127.0.0.1:0 under `timeout`; sets
# SRV_WRAP (timeout's pid), SRV_PID (the server's) and SRV_ADDR.
SRV_N=0
start_server() {
  SRV_N=$((SRV_N + 1))
  # A fresh log per server: the redirection happens in the background child,
  # so a reused file could still show the previous server's address.
  local impl=$1 log=$TMP/server.$SRV_N.log i
  SRV_LOG=$log
  : >"$log"
  local envs=()
  [[ -n $PROCS ]] && envs=(GORT_MAXPROCS="$PROCS" GOMAXPROCS="$PROCS")
  if [[ $impl == gort ]]; then
    env "${envs[@]}" timeout -k 5 "$SERVER_LIFE" "$GORT_ECHO" --listen 127.0.0.1:0 >"$log" 2>&1 &
  else
    env "${envs[@]}" timeout -k 5 "$SERVER_LIFE" "$GO_ECHO" -listen 127.0.0.1:0 >"$log" 2>&1 &
  fi
  SRV_WRAP=$!
  SRV_ADDR="" SRV_PID=""
  for ((i = 0; i < 200; i++)); do  # gort prints "listening on A" on stdout, Go logs "echo listening on A"
    SRV_ADDR=$(grep -o -m1 'listening on [^ ]*' "$log" | cut -d' ' -f3)
    [[ -n $SRV_ADDR ]] && break
    kill -0 "$SRV_WRAP" 2>/dev/null || break
    sleep 0.05
  done
  SRV_PID=$(pgrep -P "$SRV_WRAP" | head -n 1)
  if [[ -z $SRV_ADDR || -z $SRV_PID ]]; then
    cat "$log" >&2
    stop_server
    return 1
  fi
  return 0
}
stop_server() {
  [[ -n $SRV_WRAP ]] || return 0
  kill -TERM "$SRV_WRAP" 2>/dev/null  # timeout passes it on to the server
  wait "$SRV_WRAP" 2>/dev/null
  SRV_WRAP="" SRV_PID=""
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  stop_server
  [[ $KEEP_JSONL == 1 ]] && note "raw JSON lines: $JSONL"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# quiet: wait (at most QUIET_WAIT s) until processes outside this script use
# < QUIET_MAX % of one core; prints loadgen's {"waited_s","foreign_pct"}.
quiet() {
  timeout $((QUIET_WAIT + 10)) "$LOADGEN" -mode quiet -d "${QUIET_WAIT}s" -quiet-max "$QUIET_MAX" -mine $$ \
    -proxy-pids "${SRV_PID:-0}" 2>/dev/null | tail -n 1
}

# record IMPL TEST REP QUIET_JSON RC OUTFILE ATTEMPT: one JSON line into $JSONL.
record() {
  python3 - "$@" >>"$JSONL" <<'PY'
import json, sys
impl, test, rep, q, rc, outf, attempt = sys.argv[1:]
raw = open(outf, errors="replace").read().strip().splitlines()
try:
    r = json.loads(raw[-1]) if raw else None
except ValueError:
    r = None
if r is None or rc != "0":
    why = {124: "timed out", 137: "killed after timeout"}.get(int(rc)) or f"exit {rc}"
    r = dict(r or {}, failed=True, why="; ".join([why] + raw[-3:])[:300])
    print(f"FAILED ({impl}, {test}, rep {rep}): {r['why']}", file=sys.stderr)
try:
    r["quiet"] = json.loads(q)
except ValueError:
    pass
r.update(impl=impl, test=test, rep=int(rep), attempt=int(attempt))
print(json.dumps(r))
PY
}

# run_test IMPL TEST REP: fresh server, quiet machine, one measurement.
run_test() {
  local impl=$1 test=$2 rep=$3 attempt q rc outf=$TMP/out.json
  for ((attempt = 1; ; attempt++)); do
    q=$(quiet)  # before the server starts: it only waits for the others
    if ! start_server "$impl"; then
      echo '{}' >"$outf"
      record "$impl" "$test" "$rep" '{}' 1 "$outf" "$attempt"
      return
    fi
    sleep 0.3
    case $test in
      rr-c*)
        timeout $((DUR + 45)) "$LOADGEN" -mode rr -addr "$SRV_ADDR" -c "${test#rr-c}" -d "${DUR}s" -size 64 \
          -proxy-pids "$SRV_PID" -mine $$ -label "$impl" >"$outf" 2>"$TMP/err"
        rc=$? ;;
      connrate-c*)
        timeout $((DUR + 45)) "$LOADGEN" -mode connrate -addr "$SRV_ADDR" -c "${test#connrate-c}" -d "${DUR}s" \
          -size 64 -proxy-pids "$SRV_PID" -mine $$ -label "$impl" >"$outf" 2>"$TMP/err"
        rc=$? ;;
      idle)
        timeout $((IDLE_SECS + 150)) python3 "$HERE/echo_idle.py" --addr "$SRV_ADDR" --pid "$SRV_PID" \
          --conns "$IDLE_CONNS" --secs "$IDLE_SECS" >"$outf" 2>"$TMP/err"
        rc=$? ;;
    esac
    if [[ $rc != 0 ]]; then
      cat "$TMP/err" >>"$outf"
      tail -n 2 "$SRV_LOG" | sed 's/^/server: /' >>"$outf"
    fi
    kill -0 "$SRV_PID" 2>/dev/null || { rc=99; echo "the server died" >>"$outf"; }
    stop_server
    # Other processes took more than LOUD_MAX % of a core during the window:
    # measure again (at most RETRY_LOUD times), keep the last.
    if [[ $rc == 0 ]] && ((attempt <= RETRY_LOUD)) && [[ $(loud_pct "$outf") -gt $LOUD_MAX ]]; then
      note "$impl $test rep $rep: other processes used $(loud_pct "$outf") % of a core; measuring again"
      continue
    fi
    record "$impl" "$test" "$rep" "$q" "$rc" "$outf" "$attempt"
    return
  done
}

# loud_pct FILE: % of one core that processes outside the benchmark used
# during loadgen's window (0 when the line has no such field).
loud_pct() {
  python3 -c 'import json, sys
try:
    r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
    print(int(100 * r.get("foreign_cpu_s", 0) / max(r.get("wall_s", 1), 1e-9)))
except (ValueError, IndexError):
    print(0)' "$1"
}

# strace_test IMPL: syscall counts of the server during a short rr run.
strace_test() {
  local impl=$1 outf=$TMP/out.json sf=$TMP/strace.txt spid rc
  quiet >/dev/null
  start_server "$impl" || return
  sleep 0.3
  timeout -s INT $((STRACE_DUR + 20)) strace -f -c -S calls -o "$sf" \
    -e trace=epoll_ctl,epoll_wait,epoll_pwait,read,write,sendto,recvfrom,futex -p "$SRV_PID" 2>"$TMP/strace.err" &
  spid=$!
  sleep 1  # strace attaches to every thread
  timeout $((STRACE_DUR + 45)) "$LOADGEN" -mode rr -addr "$SRV_ADDR" -c 64 -d "${STRACE_DUR}s" -size 64 \
    -proxy-pids "$SRV_PID" -mine $$ -label "$impl-strace" >"$outf" 2>"$TMP/err"
  rc=$?
  kill -INT "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  python3 - "$impl" "$outf" "$sf" "$rc" >>"$JSONL" <<'PY'
import json, sys
impl, outf, sf, rc = sys.argv[1:]
try:
    r = json.loads(open(outf).read().strip().splitlines()[-1])
except (ValueError, IndexError, OSError):
    r = {"failed": True, "why": f"loadgen exit {rc}"}
calls = {}
try:
    for line in open(sf):
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
except OSError:
    pass
if not calls:
    r.update(failed=True, why=(r.get("why", "") + " no strace summary").strip())
r.update(mode="strace", impl=impl, test="strace-rr-c64", rep=1, syscalls=calls)
print(json.dumps(r))
PY
  stop_server
}

TESTS=()
for t in $ONLY; do
  case $t in
    rr) for c in $RR_CONCS; do TESTS+=("rr-c$c"); done ;;
    connrate) TESTS+=("connrate-c$CR_CONC") ;;
    idle) TESTS+=(idle) ;;
    strace) ;;
    *) die "unknown test in ONLY: $t" ;;
  esac
done

note "gort: $GORT_ECHO; Go: $GO_ECHO; load: $LOADGEN"
note "${#TESTS[@]} tests x 2 servers x $REPS reps, ${DUR}s windows"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
for ((rep = 1; rep <= REPS; rep++)); do
  for test in "${TESTS[@]}"; do
    order=(gort go)
    ((rep % 2 == 0)) && order=(go gort)
    for impl in "${order[@]}"; do run_test "$impl" "$test" "$rep"; done
  done
  note "rep $rep/$REPS done ($(($(date +%s) - T_START)) s)"
done
STRACE_NOTE=""
if [[ " $ONLY " == *" strace "* && $STRACE != 0 ]]; then
  if command -v strace >/dev/null; then
    strace_test gort
    strace_test go
  else
    STRACE_NOTE="strace is not installed (apt-get install -y strace): no syscall counts."
  fi
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
src_hash() { (cd "$ROOT" && find runtime net tools/examples -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z | xargs -0 cat | sha1sum | cut -c1-12); }
{
  echo "## Echo server vs Go ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r);" \
       "load average at start $LOAD_START, at end $LOAD_END; ulimit -n $(ulimit -n)"
  echo "- gort: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no commit')" \
       "(runtime/, net/, tools/examples/ sources sha1 $(src_hash)), tools/examples/echo-server, RelWithDebInfo," \
       "$(${CXX:-c++} --version 2>/dev/null | head -n 1); Go: $(go version | cut -d' ' -f3), $BENCH_SRC/echo/main.go;" \
       "Ps: ${PROCS:-all CPUs (GORT_MAXPROCS / GOMAXPROCS unset)}"
  echo "- load: $BENCH_SRC/loadgen/main.go, \`-mode rr -c C -d ${DUR}s -size 64\` and \`-mode connrate -c $CR_CONC -d ${DUR}s -size 64\`," \
       "\`-proxy-pids <server pid>\`; idle: tools/bench/echo_idle.py, $IDLE_CONNS connections held ${IDLE_SECS} s."
  echo "- $REPS repetitions, a fresh server for each measurement, gort and Go alternating (gort first on odd repetitions);" \
       "cells are median (min–max); server CPU-s = the server's CPU time over the measured window" \
       "(loadgen, schedstat); ratio = gort / Go."
  [[ -n $STRACE_NOTE ]] && echo "- $STRACE_NOTE"
  echo
  python3 "$HERE/summarize_echo.py" "$JSONL"
} >"$TMP/report.md"
cat "$TMP/report.md"
[[ -n $OUT ]] && cp "$TMP/report.md" "$OUT"
exit 0
