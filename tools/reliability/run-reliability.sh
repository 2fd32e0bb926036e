#!/usr/bin/env bash
# run-reliability.sh: gort-proxy's reliability suite (issue 9), one command.
# Builds gort-proxy and gort-certs (RelWithDebInfo, or ASan+UBSan), fuzzes
# the ClientHello parser with libFuzzer for FUZZ_SECONDS
# (tools/fuzz-client-hello.sh), then runs the scenarios of
# tools/reliability/ (main.py says what each does) against the real binary
# on loopback, and writes the report.
#
#   bash tools/reliability/run-reliability.sh                 # SHORT: a few minutes (CI)
#   FULL=1 OUT=docs/reliability.md bash tools/reliability/run-reliability.sh
#   SANITIZE=address bash tools/reliability/run-reliability.sh
#
# Environment (all optional):
#   FULL=1         the full sizes and durations (10,000 connections, 5,000
#                  slowloris, FUZZ_SECONDS and SOAK_SECONDS 600): ~25 min
#   BUILD_DIR      the build to use (configured and built here if need be);
#                  default build, or build-asan with SANITIZE=address
#   SANITIZE       '' (default) or 'address' (GORT_SANITIZE="address;undefined",
#                  as .ci/run's stage 2); smaller sizes under ASan. Scenario 5
#                  (fds exhausted) skips itself where UBSan's vptr check is
#                  compiled in: the check needs a pipe, so a process out of
#                  fds gets false reports; run it with ONLY=s5 and a BUILD_DIR
#                  built with -fno-sanitize=vptr last on the command line
#                  (e.g. CMAKE_CXX_COMPILER_LAUNCHER, as docs/reliability.md says)
#   FUZZ_SECONDS   libFuzzer's run (default 20, FULL 600; 0 skips it)
#   SOAK_SECONDS   the soak (default 30, FULL 600)
#   FUZZ_BUILD_DIR the clang build for libFuzzer (default build-fuzz)
#   FUZZ_LOG       report this log of an earlier tools/fuzz-client-hello.sh
#                  run instead of fuzzing again
#   ONLY           scenarios to run, e.g. "s1,s4" (default all: s1 to s7)
#   OUT            write (or update: one section per run kind) this markdown report
#   JOBS           build jobs (default 2)
# Exit status: non-zero on any lost byte, crash, leak, sanitizer report or
# failed check.
set -euo pipefail
cd "$(dirname "$0")/../.."

full=${FULL:-}
sanitize=${SANITIZE:-}
case $sanitize in
  "") gort_sanitize="" default_dir=build ;;
  address) gort_sanitize="address;undefined" default_dir=build-asan ;;
  *) echo "run-reliability.sh: SANITIZE must be '' or 'address'" >&2; exit 2 ;;
esac
build_dir=${BUILD_DIR:-$default_dir}
jobs=${JOBS:-2}
if [[ $full == 1 ]]; then default_secs=600; else default_secs=20; fi
export FUZZ_SECONDS=${FUZZ_SECONDS:-$default_secs}
export SOAK_SECONDS=${SOAK_SECONDS:-$([[ $full == 1 ]] && echo 600 || echo 30)}
export FULL=$full
start=$SECONDS

if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  echo "== configure $build_dir (GORT_SANITIZE='$gort_sanitize')"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGORT_BUILD_BENCHMARKS=OFF -DGORT_SANITIZE="$gort_sanitize" >/dev/null
fi
echo "== build gort-proxy and gort-certs in $build_dir"
cmake --build "$build_dir" -j "$jobs" --target gort-proxy gort-certs
proxy=$(realpath "$build_dir/proxy/gort-proxy")
certs=$(realpath "$build_dir/tools/certs/gort-certs")

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}

work=$(mktemp -d "${TMPDIR:-/tmp}/gort-reliability.XXXXXX")
trap 'rm -rf "$work"' EXIT
fuzz_log=${FUZZ_LOG:+$(realpath "$FUZZ_LOG")}
if [[ -n $fuzz_log ]]; then
  echo "== scenario 6, part 1: libFuzzer's earlier run, from $fuzz_log"
elif [[ ${ONLY:-s6} == *s6* ]] && ((FUZZ_SECONDS > 0)); then
  fuzz_log=$work/fuzz.log
  echo "== scenario 6, part 1: libFuzzer on the ClientHello parser for $FUZZ_SECONDS s"
  if ! BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz} bash tools/fuzz-client-hello.sh "$FUZZ_SECONDS" 2>&1 | tee "$fuzz_log" |
    grep -E '^(==|#[0-9]+ +DONE|stat::number_of_executed_units|INFO: (Loaded|seed))'; then
    echo "== run-reliability.sh: the fuzzer failed; its log:"
    tail -50 "$fuzz_log"
    exit 1
  fi
fi

args=()
[[ -n ${ONLY:-} ]] && args+=(--only "$ONLY")
[[ -n ${OUT:-} ]] && args+=(--out "$(realpath -m "$OUT")")
[[ -n $fuzz_log ]] && args+=(--fuzz-log "$fuzz_log")
status=0
(cd tools && PYTHONDONTWRITEBYTECODE=1 python3 -m reliability.main "$proxy" "$certs" "${args[@]}") || status=$?
echo "== run-reliability.sh: $( ((status == 0)) && echo passed || echo FAILED) in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
exit $status
