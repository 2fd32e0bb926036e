#!/usr/bin/env bash
# run-proxy-bench.sh -- gort-proxy side by side with nginx stream, HAProxy
# and the Go talk proxy, on loopback, with "direct" (no proxy) as the limit.
#
# Proxies ($IMPLS; each listens on PORT -> the Go echo backend of the harness
# and BULK_PORT -> an iperf3 server):
#   gort        proxy/gort-proxy (RelWithDebInfo in $BUILD_DIR), one process,
#               a generated TOML config with two forward listeners and no
#               access log (the peers' configs log nothing per conn either)
#   talk        tools/examples/talk-proxy: the talk's stage-3 code in gort,
#               two processes (--listen, --upstream), as the Go one
#   go          the harness's Go talk proxy, /work/shared/bench/goproxy/main.go
#               (goroutine per conn, io.Copy both ways, which splices), two processes
#   nginx-wN    nginx stream, N worker processes (the harness's config template)
#   haproxy-tN  HAProxy mode tcp, nbthread N (the harness's config template)
# Measurements are the harness's own run_proxy_bench.sh, one test at a time:
#   bulk      iperf3 -c 127.0.0.1 -p BULK_PORT -t $DUR -P P, P in $STREAMS (1 8):
#             receiver Gbit/s, and the proxy's CPU time over the window
#             (schedstat of its threads, loadgen -mode snap) -> GB per proxy CPU-second
#   rr        loadgen -mode rr -c C -d ${DUR}s -size 64, C in $RR_CONCS (1 64 1000)
#   connrate  loadgen -mode connrate -c $CR_CONC -d ${DUR}s -size 64
# Every (test, repetition) starts fresh proxies: direct first, then the
# proxies in an order rotated by one place each repetition, so that drift
# and warm caches hit them alike; run_proxy_bench.sh waits for a quiet
# machine before each measurement. Then, once per proxy, a syscall count: a
# fresh proxy under `perf stat` (syscall tracepoints; strace -f -c without
# perf) for its whole life, one ${SYSCALL_DUR}s iperf3 -P 1 run: splice,
# epoll, futex, read/write calls and context switches per MB moved.
# Prints a markdown report (tools/bench/summarize_proxy.py): medians with
# min-max, the work per proxy CPU-second, the main proxy's ratios to each
# peer, CPU-seconds per GB and per 100k requests, the CPU split and the
# syscall table.
#
#   tools/bench/run-proxy-bench.sh                          # REPS=3, ~35 min on 2 idle cores
#   REPS=5 OUT=/tmp/proxy.md tools/bench/run-proxy-bench.sh
#   IMPLS="gort talk go" ONLY="rr" RR_CONCS=64 REPS=1 NO_BUILD=1 tools/bench/run-proxy-bench.sh
#
# Needs go, python3, iperf3, nginx with the stream module, haproxy (each
# installed with apt-get if missing and root; a peer that cannot be had is
# left out with a note), ss (iproute2); perf (linux-perf) or strace for the
# syscall table.
#
# Env knobs:
#   IMPLS="gort go nginx-w1 nginx-w2 haproxy-t1 haproxy-t2"   the proxies (see above);
#                        the first is the one the ratios are of
#   REPS=3               repetitions per (test, proxy)
#   DUR=5                seconds per measured window
#   STREAMS="1 8"        iperf3 parallel streams of the bulk tests
#   RR_CONCS="1 64 1000" connection counts of the rr test
#   CR_CONC=64           workers of the connrate test
#   ONLY="bulk rr connrate syscalls"   subset of tests
#   DIRECT=1             also measure without a proxy (DIRECT=0: skip)
#   SYSCALL_DUR=5        seconds of the bulk run whose syscalls are counted
#   PROCS=               GORT_MAXPROCS and GOMAXPROCS (default: all CPUs)
#   PORT_BASE=19000      echo backend on PORT_BASE, iperf3 on +1; proxy k of the list
#                        above on +100k/+100k+1 (all on 127.0.0.1)
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
IMPLS=${IMPLS:-"gort go nginx-w1 nginx-w2 haproxy-t1 haproxy-t2"}
REPS=${REPS:-3}
DUR=${DUR:-5}
STREAMS=${STREAMS:-"1 8"}
RR_CONCS=${RR_CONCS:-"1 64 1000"}
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

die() { echo "run-proxy-bench: $*" >&2; exit 1; }
note() { echo "run-proxy-bench: $*" >&2; }
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 && $REPS -le 50 ]] || die "REPS must be 1..50"
[[ $DUR =~ ^[0-9]+$ && $DUR -ge 1 ]] || die "DUR must be whole seconds"
[[ $PORT_BASE =~ ^[0-9]+$ && $PORT_BASE -ge 1024 && $PORT_BASE -le 64000 ]] || die "PORT_BASE must be 1024..64000"
command -v python3 >/dev/null || die "python3 is needed"
command -v go >/dev/null || die "go is needed for the Go proxy, backend and load generator (apt-get install golang-go)"
command -v ss >/dev/null || die "ss is needed to find the proxies' processes (apt-get install iproute2)"

# The ports: proxy k of KNOWN on PORT_BASE + 100 k (+1 for bulk), whatever IMPLS holds.
KNOWN=(go gort talk nginx-w1 nginx-w2 haproxy-t1 haproxy-t2)
ECHO_PORT=$PORT_BASE
IPERF_PORT=$((PORT_BASE + 1))
declare -A PORT=([direct]=$ECHO_PORT) BULK_PORT=([direct]=$IPERF_PORT)
for k in "${!KNOWN[@]}"; do
  PORT[${KNOWN[$k]}]=$((PORT_BASE + 100 * (k + 1)))
  BULK_PORT[${KNOWN[$k]}]=$((PORT_BASE + 100 * (k + 1) + 1))
done
for i in $IMPLS; do [[ -n ${PORT[$i]:-} && $i != direct ]] || die "unknown proxy in IMPLS: $i (known: ${KNOWN[*]})"; done

# apt_install PKG...: install missing Debian packages (root only); false if it cannot.
apt_install() {
  ((EUID == 0)) || return 1
  note "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get install -y -q "$@" >/dev/null 2>&1 ||
    { timeout 600 apt-get update -q >/dev/null 2>&1 && timeout 600 apt-get install -y -q "$@" >/dev/null 2>&1; }
}
command -v iperf3 >/dev/null || apt_install iperf3 || die "iperf3 is missing; install it as root: apt-get install -y iperf3"
NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
have() {  # have IMPL: its peer software is here (or was just installed)
  case $1 in
    nginx-*) [[ -x $(command -v nginx) && -e $NGINX_STREAM ]] || apt_install nginx libnginx-mod-stream ;;
    haproxy-*) command -v haproxy >/dev/null || apt_install haproxy ;;
    *) true ;;
  esac
}
LEFT_OUT=""
KEEP=()
for i in $IMPLS; do
  if have "$i"; then KEEP+=("$i"); else LEFT_OUT+=" $i"; note "left out $i: its software is missing (not root, or apt-get failed)"; fi
done
IMPLS="${KEEP[*]}"
[[ -n $IMPLS ]] || die "no proxy to measure"
for f in goproxy/main.go echo/main.go loadgen/main.go go.mod run_proxy_bench.sh lib/rec.py \
  conf/nginx-stream.conf.tmpl conf/haproxy-tcp.cfg.tmpl; do
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
GORT_PROXY=$BUILD_DIR/proxy/gort-proxy
TALK_PROXY=$BUILD_DIR/tools/examples/talk-proxy
HARNESS=$BUILD_DIR/harness  # a writable copy of $BENCH_SRC; its bin/ holds the Go programs
GO_PROXY=$HARNESS/bin/goproxy
GO_ECHO=$HARNESS/bin/echo
LOADGEN=$HARNESS/bin/loadgen
[[ -n ${HOME:-} ]] || export GOCACHE=${GOCACHE:-$BUILD_DIR/go-cache}
if [[ -z ${NO_BUILD:-} ]]; then
  note "building gort-proxy and talk-proxy in $BUILD_DIR (log: $LOG)"
  : >"$LOG"
  GEN=()
  command -v ninja >/dev/null && GEN=(-G Ninja)
  if ! { timeout 600 cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
           -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_BENCHMARKS=OFF >>"$LOG" 2>&1 &&
         timeout 1800 cmake --build "$BUILD_DIR" --target gort-proxy talk-proxy >>"$LOG" 2>&1; }; then
    tail -n 30 "$LOG" >&2
    die "could not build gort-proxy and talk-proxy (full log: $LOG)"
  fi
  note "building the Go proxy, echo backend and loadgen in a copy of $BENCH_SRC"
  rm -rf "$HARNESS"
  mkdir -p "$HARNESS/bin" || die "cannot create $HARNESS"
  cp -r "$BENCH_SRC/go.mod" "$BENCH_SRC/goproxy" "$BENCH_SRC/echo" "$BENCH_SRC/loadgen" "$BENCH_SRC/lib" \
    "$BENCH_SRC/conf" "$BENCH_SRC/run_proxy_bench.sh" "$HARNESS/" || die "cannot copy $BENCH_SRC"
  chmod -R u+w "$HARNESS"
  if ! (cd "$HARNESS" && export GOTOOLCHAIN=local GOPROXY=off GOFLAGS='' &&
        timeout 600 go build -o "$GO_PROXY" ./goproxy && timeout 600 go build -o "$GO_ECHO" ./echo &&
        timeout 600 go build -o "$LOADGEN" ./loadgen) >>"$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    die "the Go build failed (full log: $LOG)"
  fi
fi
for b in "$GORT_PROXY" "$TALK_PROXY" "$GO_PROXY" "$GO_ECHO" "$LOADGEN" "$HARNESS/run_proxy_bench.sh" "$HARNESS/conf"; do
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
# render TEMPLATE OUT KEY=VALUE...: the harness's @KEY@ substitution.
render() {
  local tmpl=$1 out=$2 kv args=()
  shift 2
  for kv in "$@"; do args+=(-e "s#@${kv%%=*}@#${kv#*=}#g"); done
  sed "${args[@]}" "$tmpl" >"$out"
}
# proxy_cmds IMPL: sets CMDS, the commands (one argv per line of words,
# no word holds a space) that together serve PORT[IMPL] -> echo and
# BULK_PORT[IMPL] -> iperf3; BULK_CMD, the index of the one serving bulk.
proxy_cmds() {
  local impl=$1 p=${PORT[$1]} b=${BULK_PORT[$1]} dir=$TMP/$1 n
  mkdir -p "$dir"
  CMDS=() BULK_CMD=0
  case $impl in
    go | talk)
      local bin=$GO_PROXY
      [[ $impl == talk ]] && bin=$TALK_PROXY
      CMDS=("$bin --listen 127.0.0.1:$p --upstream 127.0.0.1:$ECHO_PORT"
            "$bin --listen 127.0.0.1:$b --upstream 127.0.0.1:$IPERF_PORT")
      BULK_CMD=1 ;;
    gort)
      cat >"$dir/gort-proxy.toml" <<TOML
# run-proxy-bench.sh: two plain forwards, no access log (as the peers' configs).
access_log = ""
max_connections = 20000
[[listener]]
name = "echo"
address = "127.0.0.1:$p"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:$ECHO_PORT"]
[[listener]]
name = "bulk"
address = "127.0.0.1:$b"
[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:$IPERF_PORT"]
TOML
      CMDS=("$GORT_PROXY --config $dir/gort-proxy.toml") ;;
    nginx-w*)
      n=${impl#nginx-w}
      render "$HARNESS/conf/nginx-stream.conf.tmpl" "$dir/nginx.conf" WORKERS="$n" PORT="$p" BULK_PORT="$b" \
        ECHO="127.0.0.1:$ECHO_PORT" IPERF="127.0.0.1:$IPERF_PORT" RUNDIR="$dir"
      CMDS=("nginx -c $dir/nginx.conf -e $dir/error.log") ;;
    haproxy-t*)
      n=${impl#haproxy-t}
      render "$HARNESS/conf/haproxy-tcp.cfg.tmpl" "$dir/haproxy.cfg" NBTHREAD="$n" PORT="$p" BULK_PORT="$b" \
        ECHO="127.0.0.1:$ECHO_PORT" IPERF="127.0.0.1:$IPERF_PORT"
      CMDS=("haproxy -db -f $dir/haproxy.cfg") ;;
  esac
}
proc_env() {  # the environment of every proxy process
  ENVS=()
  [[ -n $PROCS ]] && ENVS=(GORT_MAXPROCS="$PROCS" GOMAXPROCS="$PROCS")
  return 0
}
# start_proxies IMPL: fresh processes for both ports.
start_proxies() {
  local impl=$1 c argv
  : >"$TMP/$impl.log"
  listening "${PORT[$impl]}" || listening "${BULK_PORT[$impl]}" &&
    { note "port ${PORT[$impl]} or ${BULK_PORT[$impl]} is taken"; return 1; }
  proxy_cmds "$impl"
  proc_env
  for c in "${CMDS[@]}"; do
    read -r -a argv <<<"$c"
    env "${ENVS[@]}" timeout -k 5 "$PROXY_LIFE" "${argv[@]}" >>"$TMP/$impl.log" 2>&1 &
    PROXY_WRAPS+=($!)
  done
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
NIMPL=$(wc -w <<<"$IMPLS")
# a bound on the backends: every measurement retried and waiting its longest
BACKEND_LIFE=$((REPS * (${#TESTS[@]} + 1) * (NIMPL + 1) * (RETRY_LOUD + 1) * (DUR + QUIET_WAIT + 60) + 1200))
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

# syscall_test IMPL KIND: the system calls of a fresh proxy over its whole
# life, which is one load run of SYSCALL_DUR s: KIND bulk, iperf3 -P 1 (per
# MB moved); KIND rr, loadgen -mode rr -c 64 (per request). With perf: exact
# counts from the syscall tracepoints (perf stat follows every thread and
# child; it costs the proxy little), plus its context switches and CPU
# time. Without perf: strace -f -c, which slows the proxy a lot (the chunk
# sizes, and so the counts per MB, are then not the real ones).
SYSCALLS=(splice epoll_wait epoll_pwait epoll_ctl futex rt_sigprocmask rt_sigtimedwait nanosleep clock_nanosleep
          sched_yield read write readv writev sendto recvfrom sendmsg recvmsg accept4 close getpid tgkill)
use_perf() { perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_splice -o /dev/null -- true 2>/dev/null; }
syscall_test() {
  local impl=$1 kind=$2 out=$TMP/sys.$1.txt tool pid spid rc events=() s argv wrap=() port load=$TMP/sys-load.json
  proxy_cmds "$impl"
  proc_env
  if [[ $kind == bulk ]]; then
    port=${BULK_PORT[$impl]}
    read -r -a argv <<<"${CMDS[$BULK_CMD]}"
  else
    port=${PORT[$impl]}
    read -r -a argv <<<"${CMDS[0]}"
  fi
  listening "$port" && return
  if use_perf; then
    tool=perf
    for s in "${SYSCALLS[@]}"; do events+=("syscalls:sys_enter_$s"); done
    events+=(raw_syscalls:sys_enter context-switches task-clock)
    wrap=(perf stat -x, -o "$out" -e "$(IFS=,; echo "${events[*]}")" --)
  else
    tool=strace
    wrap=(strace -f -c -S calls -o "$out" --)
  fi
  env "${ENVS[@]}" timeout -k 5 "$PROXY_LIFE" "${wrap[@]}" "${argv[@]}" >>"$TMP/$impl.log" 2>&1 &
  spid=$!
  wait_listen "$port" || { stop_pids "$spid"; return; }
  # the proxy's first process: timeout's child is perf (strace), whose child it is
  pid=$(pgrep -P "$(pgrep -P "$spid" | head -n 1)" | head -n 1)
  quiet_wait >/dev/null
  if [[ $kind == bulk ]]; then
    timeout $((SYSCALL_DUR + 30)) iperf3 -c 127.0.0.1 -p "$port" -t "$SYSCALL_DUR" -P 1 -J >"$load" 2>&1
  else
    timeout $((SYSCALL_DUR + 60)) "$LOADGEN" -mode rr -addr "127.0.0.1:$port" -c 64 -d "${SYSCALL_DUR}s" -size 64 \
      >"$load" 2>/dev/null
  fi
  rc=$?
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null  # the proxy; perf (strace) then writes its counts
  wait "$spid" 2>/dev/null
  python3 - "$impl" "$tool" "$out" "$load" "$rc" "$kind" >>"$JSONL" <<'PY'
import json, sys
impl, tool, out, load, rc, kind = sys.argv[1:]
r = {"proxy": impl, "test": "syscalls-" + ("bulk-P1" if kind == "bulk" else "rr-c64"), "rep": 1,
     "mode": "syscalls", "kind": kind, "tool": tool}
try:
    if kind == "bulk":
        r["bytes"] = json.load(open(load))["end"]["sum_received"]["bytes"]
    else:
        r["requests"] = json.loads(open(load).read().strip().splitlines()[-1])["requests"]
except (ValueError, KeyError, OSError, IndexError):
    r["error"] = f"the load exited {rc}"
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


note "proxies: $IMPLS; backends: $GO_ECHO on $ECHO_PORT, iperf3 -s on $IPERF_PORT"
note "${#TESTS[@]} tests x $((NIMPL + DIRECT)) (${DIRECT:+direct, }$IMPLS) x $REPS reps, ${DUR}s windows"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
read -r -a ORDER <<<"$IMPLS"
for ((rep = 1; rep <= REPS; rep++)); do
  for test in "${TESTS[@]}"; do
    order=()
    ((DIRECT)) && order=(direct)
    for ((k = 0; k < NIMPL; k++)); do order+=("${ORDER[(k + rep - 1) % NIMPL]}"); done
    for impl in "${order[@]}"; do measure "$impl" "$test" "$rep"; done
  done
  note "rep $rep/$REPS done ($(($(date +%s) - T_START)) s)"
done
SYS_NOTE=""
if [[ " $ONLY " == *" syscalls "* ]]; then
  if use_perf || command -v strace >/dev/null; then
    for impl in $IMPLS; do syscall_test "$impl" bulk; syscall_test "$impl" rr; done
  else
    SYS_NOTE="neither perf (with syscall tracepoints) nor strace is available: no syscall counts."
  fi
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
src_hash() { (cd "$ROOT" && find runtime net proxy tools/examples -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z | xargs -0 cat | sha1sum | cut -c1-12); }
versions() {
  local i v=()
  for i in $IMPLS; do
    case $i in
      gort) v+=("gort-proxy (RelWithDebInfo, $(${CXX:-c++} --version 2>/dev/null | head -n 1))") ;;
      talk) v+=("talk-proxy (tools/examples/talk-proxy.cpp)") ;;
      go) v+=("Go talk proxy ($(go version | cut -d' ' -f3), $BENCH_SRC/goproxy/main.go)") ;;
      nginx-w*) v+=("$i: $(nginx -v 2>&1 | sed 's/^nginx version: //') stream, ${i#nginx-w} worker(s)") ;;
      haproxy-t*) v+=("$i: HAProxy $(haproxy -v 2>/dev/null | head -n 1 | awk '{print $3}') mode tcp, nbthread ${i#haproxy-t}") ;;
    esac
  done
  local IFS=';'
  echo "${v[*]}" | sed 's/;/; /g'
}
{
  echo "## gort-proxy vs nginx stream, HAProxy and the Go talk proxy ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r);" \
       "load average at start $LOAD_START, at end $LOAD_END"
  echo "- gort: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no commit')" \
       "(runtime/, net/, proxy/, tools/examples/ sources sha1 $(src_hash)); Ps / threads: ${PROCS:-all CPUs (GORT_MAXPROCS / GOMAXPROCS unset)}"
  echo "- proxies: $(versions)"
  [[ -n $LEFT_OUT ]] && echo "- left out (software missing):$LEFT_OUT"
  echo "- load: $BENCH_SRC/run_proxy_bench.sh (a copy), one test per run: \`iperf3 -c 127.0.0.1 -p BULK_PORT -t $DUR -P {$STREAMS}\`" \
       "($(iperf3 -v 2>/dev/null | head -n 1 | cut -d' ' -f1-2)) to \`iperf3 -s\`; \`loadgen -mode rr -c {$RR_CONCS} -size 64\`" \
       "and \`-mode connrate -c $CR_CONC\` to the Go echo backend; proxy CPU from schedstat at the window's ends."
  echo "- $REPS repetitions, fresh proxies for each measurement, direct first, then the proxies in an order" \
       "rotated by one each repetition; cells are median (min–max)."
  [[ -n $SYS_NOTE ]] && echo "- $SYS_NOTE"
  echo
  python3 "$HERE/summarize_proxy.py" "$JSONL" $IMPLS
} >"$TMP/report.md"
cat "$TMP/report.md"
[[ -n $OUT ]] && cp "$TMP/report.md" "$OUT"
exit 0
