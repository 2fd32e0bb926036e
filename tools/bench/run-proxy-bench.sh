#!/usr/bin/env bash
# run-proxy-bench.sh -- the talk's proxy in gort side by side with the Go
# talk proxy, on loopback.
#
# Proxies: tools/examples/talk-proxy (gort, built RelWithDebInfo in
# $BUILD_DIR) and the Go proxy of the harness, /work/shared/bench/goproxy/
# main.go (goroutine per connection, io.Copy both ways, which splices), built
# with Debian's `go` from a copy of the harness in $BUILD_DIR/harness. Both
# take the same flags (--listen, --upstream; --timeout left at 10m). Each
# runs as two processes, as the harness wants: PORT -> the Go echo backend
# (harness echo/main.go) and BULK_PORT -> an iperf3 server. Measurements are
# the harness's own run_proxy_bench.sh, one test at a time:
#   bulk      iperf3 -c 127.0.0.1 -p BULK_PORT -t $DUR -P P, P in $STREAMS (1 8):
#             receiver Gbit/s, and the proxy's CPU time over the window
#             (schedstat of its threads, loadgen -mode snap) -> GB per proxy CPU-second
#   rr        loadgen -mode rr -c C -d ${DUR}s -size 64, C in $RR_CONCS (64)
#   connrate  loadgen -mode connrate -c $CR_CONC -d ${DUR}s -size 64
# plus "direct" (the same test against the backends, no proxy): the
# physical limit. Every (test, repetition) starts fresh proxies, gort and Go
# alternating (gort first on odd repetitions, Go first on even ones), direct
# before both; run_proxy_bench.sh waits for a quiet machine before each
# measurement. Then, once per proxy, a syscall count: a fresh bulk proxy
# under `perf stat` (syscall tracepoints; strace -f -c without perf) for its
# whole life, one ${SYSCALL_DUR}s iperf3 -P 1 run: splice, epoll, futex,
# signal-mask calls and context switches per MB moved, and CPU-s per GB
# outside the harness. Prints a markdown report (tools/bench/summarize_proxy.py):
# medians with min-max, gort/Go ratios of Gbit/s (req/s, conns/s) and of
# work per proxy CPU-second, the CPU split (proxy, backend, load generator)
# and the syscall table.
#
#   tools/bench/run-proxy-bench.sh                      # REPS=3, ~12 min on 2 idle cores
#   REPS=5 OUT=/tmp/proxy.md tools/bench/run-proxy-bench.sh
#   ONLY="bulk" STREAMS=1 REPS=1 NO_BUILD=1 tools/bench/run-proxy-bench.sh
#
# Needs go, python3, iperf3 (installed with apt-get if missing and root),
# ss (iproute2); perf (linux-perf) or strace for the syscall table.
#
# Env knobs:
#   REPS=3               repetitions per (test, proxy)
#   DUR=5                seconds per measured window
#   STREAMS="1 8"        iperf3 parallel streams of the bulk tests
#   RR_CONCS=64          connection counts of the rr test
#   CR_CONC=64           workers of the connrate test
#   ONLY="bulk rr connrate syscalls"   subset of tests
#   DIRECT=1             also measure without a proxy (DIRECT=0: skip)
#   SYSCALL_DUR=5        seconds of the bulk run whose syscalls are counted
#   PROCS=               GORT_MAXPROCS and GOMAXPROCS for both proxies (default: all CPUs)
#   PORT_BASE=19000      echo backend on PORT_BASE, iperf3 on +1, Go proxy on +100/+101,
#                        gort proxy on +200/+201 (all on 127.0.0.1)
#   BUILD_DIR=<repo>/build-proxy-bench   gort build (RelWithDebInfo, tests off; never build/)
#   NO_BUILD=1           use the binaries already built (gort and Go)
#   BENCH_SRC=/work/shared/bench   the harness (copied, never written)
#   QUIET_MAX=15 QUIET_WAIT=20     before each measurement, wait up to QUIET_WAIT s until
#                        other processes use < QUIET_MAX % of one core (run_proxy_bench.sh)
#   LOUD_MAX=10 RETRY_LOUD=2       a measurement during which other processes used
#                        > LOUD_MAX % of one core is repeated, at most RETRY_LOUD times
#   OUT=file.md          also write the report there
#   JSONL=file.jsonl     keep the raw JSON lines (default: a temp file, deleted)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=${REPS:-3}
DUR=${DUR:-5}
STREAMS=${STREAMS:-"1 8"}
RR_CONCS=${RR_CONCS:-64}
CR_CONC=${CR_CONC:-64}
ONLY=${ONLY:-"bulk rr connrate syscalls"}
DIRECT=${DIRECT:-1}
SYSCALL_DUR=${SYSCALL_DUR:-5}
PROCS=${PROCS:-}
PORT_BASE=${PORT_BASE:-19000}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-proxy-bench}
BENCH_SRC=${BENCH_SRC:-/work/shared/bench}
QUIET_MAX=${QUIET_MAX:-15}
QUIET_WAIT=${QUIET_WAIT:-20}
LOUD_MAX=${LOUD_MAX:-10}
RETRY_LOUD=${RETRY_LOUD:-2}
OUT=${OUT:-}
PROXY_LIFE=$((DUR + QUIET_WAIT + SYSCALL_DUR + 300))  # hard bound on each proxy process

ECHO_PORT=$PORT_BASE
IPERF_PORT=$((PORT_BASE + 1))
declare -A PORT=([go]=$((PORT_BASE + 100)) [gort]=$((PORT_BASE + 200)) [direct]=$ECHO_PORT)
declare -A BULK_PORT=([go]=$((PORT_BASE + 101)) [gort]=$((PORT_BASE + 201)) [direct]=$IPERF_PORT)

die() { echo "run-proxy-bench: $*" >&2; exit 1; }
note() { echo "run-proxy-bench: $*" >&2; }
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 && $REPS -le 50 ]] || die "REPS must be 1..50"
[[ $DUR =~ ^[0-9]+$ && $DUR -ge 1 ]] || die "DUR must be whole seconds"
[[ $PORT_BASE =~ ^[0-9]+$ && $PORT_BASE -ge 1024 && $PORT_BASE -le 65000 ]] || die "PORT_BASE must be 1024..65000"
command -v python3 >/dev/null || die "python3 is needed"
command -v go >/dev/null || die "go is needed for the Go proxy, backend and load generator (apt-get install golang-go)"
command -v ss >/dev/null || die "ss is needed to find the proxies' processes (apt-get install iproute2)"
if ! command -v iperf3 >/dev/null; then
  ((EUID == 0)) || die "iperf3 is missing; install it as root: apt-get install -y iperf3"
  note "installing iperf3 (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get install -y -q iperf3 >/dev/null 2>&1 ||
    { timeout 600 apt-get update -q >/dev/null 2>&1 && timeout 600 apt-get install -y -q iperf3 >/dev/null 2>&1; } ||
    die "could not install iperf3"
fi
for f in goproxy/main.go echo/main.go loadgen/main.go go.mod run_proxy_bench.sh lib/rec.py; do
  [[ -f $BENCH_SRC/$f ]] || die "no $f under $BENCH_SRC"
done
TESTS=()
for t in $ONLY; do
  case $t in
    bulk) for p in $STREAMS; do TESTS+=("bulk-P$p"); done ;;
    rr) for c in $RR_CONCS; do TESTS+=("rr-c$c"); done ;;
    connrate) TESTS+=("connrate-c$CR_CONC") ;;
    syscalls) ;;
    *) die "unknown test in ONLY: $t" ;;
  esac
done
mkdir -p "$BUILD_DIR" || die "cannot create $BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
LOG=$BUILD_DIR/proxy-bench-build.log

# ---------------------------------------------------------------- build
GORT_PROXY=$BUILD_DIR/tools/examples/talk-proxy
HARNESS=$BUILD_DIR/harness  # a writable copy of $BENCH_SRC; its bin/ holds the Go programs
GO_PROXY=$HARNESS/bin/goproxy
GO_ECHO=$HARNESS/bin/echo
LOADGEN=$HARNESS/bin/loadgen
[[ -n ${HOME:-} ]] || export GOCACHE=${GOCACHE:-$BUILD_DIR/go-cache}
if [[ -z ${NO_BUILD:-} ]]; then
  note "building the gort proxy in $BUILD_DIR (log: $LOG)"
  : >"$LOG"
  GEN=()
  command -v ninja >/dev/null && GEN=(-G Ninja)
  if ! { timeout 600 cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
           -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_BENCHMARKS=OFF >>"$LOG" 2>&1 &&
         timeout 1800 cmake --build "$BUILD_DIR" --target talk-proxy >>"$LOG" 2>&1; }; then
    tail -n 30 "$LOG" >&2
    die "could not build talk-proxy (full log: $LOG)"
  fi
  note "building the Go proxy, echo backend and loadgen in a copy of $BENCH_SRC"
  rm -rf "$HARNESS"
  mkdir -p "$HARNESS/bin" || die "cannot create $HARNESS"
  cp -r "$BENCH_SRC/go.mod" "$BENCH_SRC/goproxy" "$BENCH_SRC/echo" "$BENCH_SRC/loadgen" "$BENCH_SRC/lib" \
    "$BENCH_SRC/run_proxy_bench.sh" "$HARNESS/" || die "cannot copy $BENCH_SRC"
  chmod -R u+w "$HARNESS"
  if ! (cd "$HARNESS" && export GOTOOLCHAIN=local GOPROXY=off GOFLAGS='' &&
        timeout 600 go build -o "$GO_PROXY" ./goproxy && timeout 600 go build -o "$GO_ECHO" ./echo &&
        timeout 600 go build -o "$LOADGEN" ./loadgen) >>"$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    die "the Go build failed (full log: $LOG)"
  fi
fi
for b in "$GORT_PROXY" "$GO_PROXY" "$GO_ECHO" "$LOADGEN" "$HARNESS/run_proxy_bench.sh"; do
  [[ -e $b ]] || die "missing $b (run without NO_BUILD)"
done

TMP=$(mktemp -d /tmp/gort-proxy-bench.XXXXXX)
JSONL=${JSONL:-}
KEEP_JSONL=1
if [[ -z $JSONL ]]; then
  JSONL=$TMP/results.jsonl
  KEEP_JSONL=0
fi
: >"$JSONL"

# ---------------------------------------------------------------- processes
# Everything this script starts is a background child under `timeout`,
# remembered by PID and stopped by PID (timeout passes SIGTERM on).
BACKENDS=() PROXY_WRAPS=()
listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }
wait_listen() {  # PORT...: all listening within 10 s
  local i p ok
  for ((i = 0; i < 200; i++)); do
    ok=1
    for p in "$@"; do listening "$p" || ok=0; done
    ((ok)) && return 0
    sleep 0.05
  done
  return 1
}
stop_pids() {  # PID...
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0
}
stop_proxies() {
  ((${#PROXY_WRAPS[@]})) && stop_pids "${PROXY_WRAPS[@]}"
  PROXY_WRAPS=()
}
# start_proxies IMPL: two fresh processes: PORT[IMPL] -> echo, BULK_PORT[IMPL] -> iperf3.
start_proxies() {
  local impl=$1 envs=() bin
  : >"$TMP/$impl.log"
  [[ -n $PROCS ]] && envs=(GORT_MAXPROCS="$PROCS" GOMAXPROCS="$PROCS")
  bin=$GORT_PROXY
  [[ $impl == go ]] && bin=$GO_PROXY
  listening "${PORT[$impl]}" || listening "${BULK_PORT[$impl]}" &&
    { note "port ${PORT[$impl]} or ${BULK_PORT[$impl]} is taken"; return 1; }
  env "${envs[@]}" timeout -k 5 "$PROXY_LIFE" "$bin" --listen "127.0.0.1:${PORT[$impl]}" \
    --upstream "127.0.0.1:$ECHO_PORT" >>"$TMP/$impl.log" 2>&1 &
  PROXY_WRAPS+=($!)
  env "${envs[@]}" timeout -k 5 "$PROXY_LIFE" "$bin" --listen "127.0.0.1:${BULK_PORT[$impl]}" \
    --upstream "127.0.0.1:$IPERF_PORT" >>"$TMP/$impl.log" 2>&1 &
  PROXY_WRAPS+=($!)
  if ! wait_listen "${PORT[$impl]}" "${BULK_PORT[$impl]}"; then
    tail -n 5 "$TMP/$impl.log" >&2
    stop_proxies
    return 1
  fi
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  stop_proxies
  ((${#BACKENDS[@]})) && stop_pids "${BACKENDS[@]}"
  [[ $KEEP_JSONL == 1 ]] && note "raw JSON lines: $JSONL"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening "$ECHO_PORT" && die "port $ECHO_PORT is taken (set PORT_BASE)"
listening "$IPERF_PORT" && die "port $IPERF_PORT is taken (set PORT_BASE)"
# a bound on the backends: every measurement retried and waiting its longest
BACKEND_LIFE=$((REPS * (${#TESTS[@]} + 1) * 3 * (RETRY_LOUD + 1) * (DUR + QUIET_WAIT + 60) + 1200))
timeout -k 5 "$BACKEND_LIFE" "$GO_ECHO" -listen "127.0.0.1:$ECHO_PORT" >"$TMP/echo.log" 2>&1 &
BACKENDS+=($!)
timeout -k 5 "$BACKEND_LIFE" iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" >"$TMP/iperf3.log" 2>&1 &
BACKENDS+=($!)
wait_listen "$ECHO_PORT" "$IPERF_PORT" || { cat "$TMP/echo.log" "$TMP/iperf3.log" >&2; die "the backends did not start"; }

# ---------------------------------------------------------------- measuring
# measure IMPL TEST REP: one run of the harness's run_proxy_bench.sh for one
# test through fresh proxies; its JSON line, with the proxy name IMPL, goes
# into $JSONL. A window during which other processes used more than LOUD_MAX %
# of a core is measured again (at most RETRY_LOUD times; the last is kept).
measure() {
  local impl=$1 test=$2 rep=$3 attempt envs one=$TMP/one.jsonl rc
  envs=(DUR="$DUR" REP="$rep" RESULTS="$one" ECHO_PORT="$ECHO_PORT" IPERF_PORT="$IPERF_PORT"
        BENCH_ROOT_PID=$$ QUIET_WAIT="$QUIET_WAIT" QUIET_MAX="$QUIET_MAX" CR_CONC="$CR_CONC")
  case $test in
    bulk-P*) envs+=(TESTS=bulk STREAMS="${test#bulk-P}") ;;
    rr-c*) envs+=(TESTS=rr RR_CONCS="${test#rr-c}") ;;
    connrate-c*) envs+=(TESTS=connrate) ;;
  esac
  for ((attempt = 1; ; attempt++)); do
    : >"$one"
    if [[ $impl != direct ]] && ! start_proxies "$impl"; then
      echo "{\"proxy\": \"$impl\", \"test\": \"$test\", \"rep\": $rep, \"error\": \"the proxy did not start\"}" >>"$JSONL"
      return
    fi
    env "${envs[@]}" timeout $((DUR + QUIET_WAIT + 120)) bash "$HARNESS/run_proxy_bench.sh" "$impl" \
      "${PORT[$impl]}" "${BULK_PORT[$impl]}" >>"$TMP/harness.log" 2>&1
    rc=$?
    # A proxy that died during the run: keep its log (the measurement is kept
    # too, marked, so that the report shows it).
    local died=""
    if [[ $impl != direct ]] && ! { listening "${PORT[$impl]}" && listening "${BULK_PORT[$impl]}"; }; then
      died=$BUILD_DIR/$impl-died-$test-rep$rep.log
      cp "$TMP/$impl.log" "$died"
      note "$impl $test rep $rep: a proxy process exited during the run; its log: $died"
      grep -v 'Proxy connection finished' "$died" | tail -n 5 | sed 's/^/  /' >&2
    fi
    stop_proxies
    if [[ $rc != 0 || ! -s $one ]]; then
      tail -n 3 "$TMP/harness.log" | sed 's/^/  harness: /' >&2
      echo "{\"proxy\": \"$impl\", \"test\": \"$test\", \"rep\": $rep, \"error\": \"run_proxy_bench.sh exit $rc\"}" >>"$JSONL"
      return
    fi
    local loud
    loud=$(python3 -c 'import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(int(100 * r.get("foreign_cpu_s", 0) / max(r.get("wall_s") or 1, 1e-9)))' "$one" 2>/dev/null || echo 0)
    if ((attempt <= RETRY_LOUD && loud > LOUD_MAX)); then
      note "$impl $test rep $rep: other processes used $loud % of a core; measuring again"
      continue
    fi
    tail -n 1 "$one" | python3 -c 'import json, sys
r = json.loads(sys.stdin.read())
if sys.argv[1]:
    r["error"] = "the proxy died during the run (log: %s); %s" % (sys.argv[1], r.get("error", ""))
print(json.dumps(r))' "$died" >>"$JSONL"
    return
  done
}

# syscall_test IMPL: the system calls of a fresh bulk proxy over its whole
# life, which is one iperf3 -P 1 run of SYSCALL_DUR s. With perf: exact counts
# from the syscall tracepoints (perf stat follows every thread; it costs
# the proxy little), plus its context switches and CPU time. Without perf:
# strace -f -c, which slows the proxy a lot (the chunk sizes, and so the
# counts per MB, are then not the real ones).
SYSCALLS=(splice epoll_wait epoll_pwait futex rt_sigprocmask rt_sigtimedwait nanosleep clock_nanosleep
          sched_yield read write sendto recvfrom getpid tgkill)
use_perf() { perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_splice -o /dev/null -- true 2>/dev/null; }
syscall_test() {
  local impl=$1 out=$TMP/sys.$1.txt bin=$GORT_PROXY tool pid spid rc events=() s envs=()
  [[ $impl == go ]] && bin=$GO_PROXY
  [[ -n $PROCS ]] && envs=(GORT_MAXPROCS="$PROCS" GOMAXPROCS="$PROCS")
  listening "${BULK_PORT[$impl]}" && return
  if use_perf; then
    tool=perf
    for s in "${SYSCALLS[@]}"; do events+=("syscalls:sys_enter_$s"); done
    events+=(raw_syscalls:sys_enter context-switches task-clock)
    env "${envs[@]}" timeout -k 5 "$PROXY_LIFE" perf stat -x, -o "$out" -e "$(IFS=,; echo "${events[*]}")" -- \
      "$bin" --listen "127.0.0.1:${BULK_PORT[$impl]}" --upstream "127.0.0.1:$IPERF_PORT" >>"$TMP/$impl.log" 2>&1 &
  else
    tool=strace
    env "${envs[@]}" timeout -k 5 "$PROXY_LIFE" strace -f -c -S calls -o "$out" -- \
      "$bin" --listen "127.0.0.1:${BULK_PORT[$impl]}" --upstream "127.0.0.1:$IPERF_PORT" >>"$TMP/$impl.log" 2>&1 &
  fi
  spid=$!
  wait_listen "${BULK_PORT[$impl]}" || { stop_pids "$spid"; return; }
  pid=$(ss -Hltnp "sport = :${BULK_PORT[$impl]}" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
  quiet_wait >/dev/null
  timeout $((SYSCALL_DUR + 30)) iperf3 -c 127.0.0.1 -p "${BULK_PORT[$impl]}" -t "$SYSCALL_DUR" -P 1 -J \
    >"$TMP/sys-iperf.json" 2>&1
  rc=$?
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null  # the proxy; perf (strace) then writes its counts
  wait "$spid" 2>/dev/null
  python3 - "$impl" "$tool" "$out" "$TMP/sys-iperf.json" "$rc" >>"$JSONL" <<'PY'
import json, sys
impl, tool, out, iperf, rc = sys.argv[1:]
r = {"proxy": impl, "test": "syscalls-bulk-P1", "rep": 1, "mode": "syscalls", "tool": tool}
try:
    r["bytes"] = json.load(open(iperf))["end"]["sum_received"]["bytes"]
except (ValueError, KeyError, OSError):
    r["error"] = f"iperf3 exit {rc}"
calls = {}
try:
    for line in open(out):
        f = line.strip().split(",") if tool == "perf" else line.split()
        if tool == "perf" and len(f) >= 3 and f[0].replace(".", "").isdigit():
            ev = f[2]
            if ev.startswith("syscalls:sys_enter_"):
                calls[ev[len("syscalls:sys_enter_"):]] = int(f[0])
            elif ev == "raw_syscalls:sys_enter":
                r["total_syscalls"] = int(f[0])
            elif ev == "context-switches":
                r["context_switches"] = int(f[0])
            elif ev == "task-clock":
                r["cpu_s"] = float(f[0]) / 1e3  # msec
        # strace -c: % time, seconds, usecs/call, calls, [errors], syscall
        elif tool == "strace" and len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
except OSError:
    pass
if not calls:
    r["error"] = (r.get("error", "") + f" no {tool} counts").strip()
if tool == "strace":
    r["total_syscalls"] = sum(calls.values())
r["syscalls"] = calls
print(json.dumps(r))
PY
}
# quiet_wait: the harness's wait for a quiet machine, for the syscall runs.
quiet_wait() {
  timeout $((QUIET_WAIT + 10)) "$LOADGEN" -mode quiet -d "${QUIET_WAIT}s" -quiet-max "$QUIET_MAX" -mine $$ 2>/dev/null | tail -n 1
}


note "gort: $GORT_PROXY; Go: $GO_PROXY; backends: $GO_ECHO on $ECHO_PORT, iperf3 -s on $IPERF_PORT"
note "${#TESTS[@]} tests x $((DIRECT ? 3 : 2)) (direct, gort, Go) x $REPS reps, ${DUR}s windows"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
for ((rep = 1; rep <= REPS; rep++)); do
  for test in "${TESTS[@]}"; do
    order=(gort go)
    ((rep % 2 == 0)) && order=(go gort)
    ((DIRECT)) && order=(direct "${order[@]}")
    for impl in "${order[@]}"; do measure "$impl" "$test" "$rep"; done
  done
  note "rep $rep/$REPS done ($(($(date +%s) - T_START)) s)"
done
SYS_NOTE=""
if [[ " $ONLY " == *" syscalls "* ]]; then
  if use_perf || command -v strace >/dev/null; then
    syscall_test gort
    syscall_test go
  else
    SYS_NOTE="neither perf (with syscall tracepoints) nor strace is available: no syscall counts."
  fi
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
src_hash() { (cd "$ROOT" && find runtime net tools/examples -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z | xargs -0 cat | sha1sum | cut -c1-12); }
{
  echo "## Proxy (talk stage 3) vs the Go talk proxy ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r);" \
       "load average at start $LOAD_START, at end $LOAD_END"
  echo "- gort: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no commit')" \
       "(runtime/, net/, tools/examples/ sources sha1 $(src_hash)), tools/examples/talk-proxy, RelWithDebInfo," \
       "$(${CXX:-c++} --version 2>/dev/null | head -n 1); Go: $(go version | cut -d' ' -f3), $BENCH_SRC/goproxy/main.go;" \
       "Ps: ${PROCS:-all CPUs (GORT_MAXPROCS / GOMAXPROCS unset)}"
  echo "- load: $BENCH_SRC/run_proxy_bench.sh (a copy), one test per run: \`iperf3 -c 127.0.0.1 -p BULK_PORT -t $DUR -P {$STREAMS}\`" \
       "($(iperf3 -v 2>/dev/null | head -n 1 | cut -d' ' -f1-2)) to \`iperf3 -s\`; \`loadgen -mode rr -c {$RR_CONCS} -size 64\`" \
       "and \`-mode connrate -c $CR_CONC\` to the Go echo backend; proxy CPU from schedstat at the window's ends."
  echo "- $REPS repetitions, fresh proxies for each measurement, direct first, then gort and Go alternating" \
       "(gort first on odd repetitions); cells are median (min–max); ratio = gort / Go."
  [[ -n $SYS_NOTE ]] && echo "- $SYS_NOTE"
  echo
  python3 "$HERE/summarize_proxy.py" "$JSONL"
} >"$TMP/report.md"
cat "$TMP/report.md"
[[ -n $OUT ]] && cp "$TMP/report.md" "$OUT"
exit 0
