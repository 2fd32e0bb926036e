#!/usr/bin/env bash
# run-runtime-bench.sh -- gort runtime microbenchmarks side by side with Go.
#
# Builds the gort benchmarks (Release, in $BUILD_DIR, default <repo>/build-bench)
# and the Go programs in tools/bench/go, then runs every gort/Go pair REPS times
# in the same run, alternating which goes first, each in its own process, and
# prints a markdown table: median (min–max) over processes, the gort/Go ratio
# and the target from the issue. Each process itself reports the median of
# ITERS timed iterations after one warm-up (mem: one measurement per process).
#
# Env knobs:
#   REPS=3            processes per (test, procs, implementation)
#   ITERS=3           timed iterations per process (all but mem)
#   N_SPAWN=1000000   fibers per spawn iteration
#   N_YIELD=1000000   round trips per yield iteration
#   MEM_NS="100000 1000000"   parked-fiber counts for the mem test
#   N_PINGPONG=1000000  round trips per pingpong iteration (unbuffered channel)
#   N_BUFCHAN=4000000   items per bufchan iteration (cap 128, 1 producer 1 consumer)
#   N_SELECT4=1000000   round trips per select4 iteration
#   N_MUTEX=4000000     lock/unlock pairs per mutex iteration (4 fibers, N/4 each)
#   ONLY="spawn yield mem pingpong bufchan select4 mutex"   subset of tests
#   BUILD_DIR=<repo>/build-bench   build directory (never use build/)
#   NO_BUILD=1        use binaries already in BUILD_DIR
#   SKIP_GO=1         gort only (also automatic when `go` is missing)
#   TIMEOUT=150       seconds per benchmark process
#   QUIET_MAX=15 QUIET_WAIT=30   before each process, wait up to QUIET_WAIT s
#                     until the machine is < QUIET_MAX % busy (other builds)
#   OUT=file.md       also write the report there
#   JSONL=file.jsonl  keep the raw JSON lines (default: a temp file, deleted)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=${REPS:-3}
ITERS=${ITERS:-3}
N_SPAWN=${N_SPAWN:-1000000}
N_YIELD=${N_YIELD:-1000000}
MEM_NS=${MEM_NS:-"100000 1000000"}
N_PINGPONG=${N_PINGPONG:-1000000}
N_BUFCHAN=${N_BUFCHAN:-4000000}
N_SELECT4=${N_SELECT4:-1000000}
N_MUTEX=${N_MUTEX:-4000000}
ONLY=${ONLY:-"spawn yield mem pingpong bufchan select4 mutex"}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
TIMEOUT=${TIMEOUT:-150}
OUT=${OUT:-}
LOG=$BUILD_DIR/bench-build.log

commas() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }
die() { echo "run-runtime-bench: $*" >&2; exit 1; }
note() { echo "run-runtime-bench: $*" >&2; }
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 && $REPS -le 50 ]] || die "REPS must be 1..50"
command -v python3 >/dev/null || die "python3 is needed for the summary"
mkdir -p "$BUILD_DIR" || die "cannot create $BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)

# ---------------------------------------------------------------- build gort
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
BENCHES=(bench_spawn bench_yield bench_mem bench_chan_sync bench_chan_prod_cons bench_select4 bench_mutex)

find_gort_bins() {  # sets GORT_BIN_DIR to the directory holding all the benches
  local d b ok
  for d in "$BUILD_DIR/tools/bench" "$BUILD_DIR/standalone"; do
    ok=1
    for b in "${BENCHES[@]}"; do [[ -x $d/$b ]] || ok=0; done
    if [[ $ok == 1 ]]; then
      GORT_BIN_DIR=$d
      return 0
    fi
  done
  return 1
}

if [[ -z ${NO_BUILD:-} ]]; then
  note "building gort benchmarks in $BUILD_DIR (log: $LOG)"
  : >"$LOG"
  built=0
  # 1. the real tree: tools/CMakeLists.txt includes bench/ under GORT_BUILD_BENCHMARKS.
  if timeout 600 cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_BENCHMARKS=ON >>"$LOG" 2>&1 &&
     timeout 1800 cmake --build "$BUILD_DIR" --target "${BENCHES[@]}" >>"$LOG" 2>&1; then
    built=1
  else
    # 2. tools/bench on its own (builds ../../runtime itself), in case the parent
    #    tree does not include tools/bench.
    note "top-level build of the benchmarks failed; trying tools/bench standalone"
    if timeout 600 cmake -S "$HERE" -B "$BUILD_DIR/standalone" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 &&
       timeout 1800 cmake --build "$BUILD_DIR/standalone" --target "${BENCHES[@]}" >>"$LOG" 2>&1; then
      built=1
      for b in "${BENCHES[@]}"; do rm -f "$BUILD_DIR/tools/bench/$b"; done  # never pick up stale top-level binaries
    fi
  fi
  if [[ $built != 1 ]]; then
    tail -n 40 "$LOG" >&2
    die "could not build the gort benchmarks (full log: $LOG)"
  fi
fi
find_gort_bins || die "no gort benchmark binaries in $BUILD_DIR"
# Identifies the runtime measured when it is not committed yet.
src_hash() { (cd "$ROOT" && find runtime -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z | xargs -0 cat | sha1sum | cut -c1-12); }
RT_HASH=$(src_hash)
GIT_DESC=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no commit')  # now, not at report time
RT_NOTE=""
[[ -n ${NO_BUILD:-} ]] && RT_NOTE=" at start; NO_BUILD: the binaries may be older"

# ---------------------------------------------------------------- build Go
GO_BIN=""
GO_NOTE=""
if [[ -n ${SKIP_GO:-} ]]; then
  GO_NOTE="Go columns skipped (SKIP_GO set)."
elif ! command -v go >/dev/null; then
  GO_NOTE="Go columns skipped: \`go\` is not installed (Debian: apt-get install golang-go)."
else
  GO_BIN=$BUILD_DIR/go-bench/gortbench-go
  [[ -n ${HOME:-} ]] || export GOCACHE=${GOCACHE:-$BUILD_DIR/go-cache}
  if [[ -z ${NO_BUILD:-} || ! -x $GO_BIN ]]; then
    mkdir -p "$BUILD_DIR/go-bench"
    if ! (cd "$HERE/go" && GOTOOLCHAIN=local GOPROXY=off GOFLAGS='' timeout 600 go build -o "$GO_BIN" .) >>"$LOG" 2>&1; then
      tail -n 20 "$LOG" >&2
      note "Go build failed; Go columns skipped"
      GO_BIN=""
      GO_NOTE="Go columns skipped: the Go build failed (see $LOG)."
    fi
  fi
fi

# ---------------------------------------------------------------- configs
# label | procs | gort program + args | Go args (empty: no Go counterpart)
CONFIGS=()
for t in $ONLY; do
  case $t in
    spawn)
      for p in 1 2; do
        CONFIGS+=("spawn $(commas "$N_SPAWN") fibers, each wg.done(); wait (ns/fiber)|$p|bench_spawn -n $N_SPAWN -iters $ITERS|-test spawn -n $N_SPAWN -iters $ITERS")
      done ;;
    yield)
      for p in 1 2; do
        CONFIGS+=("yield vs Gosched, 2 fibers: round trip = 2 yields (ns)|$p|bench_yield -n $N_YIELD -iters $ITERS|-test gosched -n $N_YIELD -iters $ITERS")
      done ;;
    mem)
      for m in $MEM_NS; do
        CONFIGS+=("RSS per parked fiber, $(commas "$m") parked (B)|2|bench_mem -n $m|-test mem -n $m")
      done ;;
    pingpong)
      for p in 1 2; do
        CONFIGS+=("unbuffered chan ping-pong round trip (ns)|$p|bench_chan_sync -n $N_PINGPONG -iters $ITERS|-test pingpong -n $N_PINGPONG -iters $ITERS")
      done ;;
    bufchan)
      for p in 1 2; do
        CONFIGS+=("buffered chan cap 128, 1 producer 1 consumer (ns/item)|$p|bench_chan_prod_cons -n $N_BUFCHAN -iters $ITERS|-test bufchan -n $N_BUFCHAN -iters $ITERS")
      done ;;
    select4)
      for p in 1 2; do
        CONFIGS+=("select over 4 chans + quit, ping-pong round trip (ns)|$p|bench_select4 -n $N_SELECT4 -iters $ITERS|-test select4 -n $N_SELECT4 -iters $ITERS")
      done ;;
    mutex)
      for p in 1 2; do
        CONFIGS+=("contended Mutex, 4 fibers: lock; counter++; unlock (ns/pair)|$p|bench_mutex -n $N_MUTEX -iters $ITERS|-test mutex -n $N_MUTEX -iters $ITERS")
      done ;;
    *) die "unknown test in ONLY: $t" ;;
  esac
done

JSONL=${JSONL:-}
KEEP_JSONL=1
if [[ -z $JSONL ]]; then
  JSONL=$(mktemp /tmp/gort-runtime-bench.XXXXXX.jsonl)
  KEEP_JSONL=0
fi
: >"$JSONL"

# busy_pct: machine-wide CPU busy % over 1 s (nothing of ours runs meanwhile).
busy_pct() {
  local a b
  read -r -a a < <(head -n 1 /proc/stat)
  sleep 1
  read -r -a b < <(head -n 1 /proc/stat)
  local i tot=0 idle
  for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  ((tot > 0)) && echo $((100 * (tot - idle) / tot)) || echo 0
}

# wait_quiet: wait (at most QUIET_WAIT s) until other processes use less than
# QUIET_MAX % of the machine; sets BUSY to the last reading.
QUIET_WAIT=${QUIET_WAIT:-30}
QUIET_MAX=${QUIET_MAX:-15}
wait_quiet() {
  local t0=$SECONDS
  BUSY=$(busy_pct)
  while ((BUSY > QUIET_MAX && SECONDS - t0 < QUIET_WAIT)); do
    sleep 2
    BUSY=$(busy_pct)
  done
}
BUSY=0

# record IMPL LABEL PROCS REP CMD...: runs one process, appends one JSON line.
record() {
  local impl=$1 label=$2 procs=$3 rep=$4
  shift 4
  local errf outf load line rc
  errf=$(mktemp)
  outf=$(mktemp)
  load=$(cut -d' ' -f1 /proc/loadavg)
  GOMAXPROCS=$procs timeout -k 5 "$TIMEOUT" "$@" >"$outf" 2>"$errf"
  rc=$?
  line=$(tail -n 1 "$outf")
  python3 - "$impl" "$label" "$procs" "$rep" "$rc" "$load" "$line" "$errf" "$BUSY" >>"$JSONL" <<'PY'
import json, sys
impl, label, procs, rep, rc, load, line, errf, busy = sys.argv[1:]
try:
    r = json.loads(line) if rc == "0" else None
except ValueError:
    r = None
if r is None:
    err = open(errf, errors="replace").read().strip().splitlines()[-3:]
    rc = int(rc)
    why = {124: "timed out", 137: "killed after timeout"}.get(rc) or (f"signal {rc - 128}" if rc > 128 else f"exit {rc}")
    r = {"failed": True, "rc": rc, "stderr": "; ".join([why] + err)[:300]}
    print(f"FAILED ({impl}, {label}, procs {procs}, rc {rc}): {r['stderr']}", file=sys.stderr)
r.update(impl=impl, label=label, want_procs=int(procs), rep=int(rep), load1=float(load), busy_before=int(busy))
print(json.dumps(r))
PY
  rm -f "$errf" "$outf"
}

note "running ${#CONFIGS[@]} configurations x $REPS reps (gort: $GORT_BIN_DIR${GO_BIN:+, Go: $GO_BIN})"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
for ((rep = 1; rep <= REPS; rep++)); do
  for c in "${CONFIGS[@]}"; do
    IFS='|' read -r label procs gcmd goargs <<<"$c"
    read -r gprog gargs <<<"$gcmd"
    order=(gort go)
    ((rep % 2 == 0)) && order=(go gort)
    for impl in "${order[@]}"; do
      wait_quiet
      if [[ $impl == gort ]]; then
        # shellcheck disable=SC2086
        record gort "$label" "$procs" "$rep" "$GORT_BIN_DIR/$gprog" $gargs -procs "$procs"
      elif [[ -n $GO_BIN && -n $goargs ]]; then
        # shellcheck disable=SC2086
        record go "$label" "$procs" "$rep" "$GO_BIN" $goargs -procs "$procs"
      fi
    done
  done
  note "rep $rep/$REPS done ($(($(date +%s) - T_START)) s)"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
{
  echo "## gort runtime vs Go runtime microbenchmarks ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r);" \
       "load average at start $LOAD_START, at end $LOAD_END"
  rt_now=$(src_hash)
  git_now=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no commit')
  echo "- gort: $GIT_DESC$([[ $git_now != "$GIT_DESC" ]] && echo " at the start; $git_now at the end")" \
       "(runtime/ sources sha1 $RT_HASH$RT_NOTE$([[ $rt_now != "$RT_HASH" ]] && echo ", changed to $rt_now since the build")), Release," \
       "$(${CXX:-c++} --version 2>/dev/null | head -n 1); Go: $(command -v go >/dev/null && go version | cut -d' ' -f3 || echo absent)"
  echo "- $REPS processes per cell, run alternately (gort first on odd reps, Go first on even);" \
       "all tests but mem: each process reports the median of $ITERS timed iterations after 1 warm-up;" \
       "mem: one measurement per process (RSS delta from /proc/self/statm, resp. VmRSS, / N, 200 ms after the last fiber started)."
  echo "- ratio = gort median / Go median (lower is better for every test)."
  [[ -n $GO_NOTE ]] && echo "- $GO_NOTE"
  echo
  QUIET_MAX=$QUIET_MAX python3 "$HERE/summarize.py" "$JSONL"
} >"$JSONL.md"
cat "$JSONL.md"
[[ -n $OUT ]] && cp "$JSONL.md" "$OUT"
rm -f "$JSONL.md"
if [[ $KEEP_JSONL == 0 ]]; then rm -f "$JSONL"; else note "raw JSON lines: $JSONL"; fi
