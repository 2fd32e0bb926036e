#!/usr/bin/env bash
# fuzz-client-hello.sh: fuzzes the ClientHello parser (net/client_hello.cpp)
# with libFuzzer, ASan and UBSan, starting from the committed corpus.
#
#   bash tools/fuzz-client-hello.sh [SECONDS]    # default 60
#
# It configures a clang build with GORT_BUILD_FUZZERS=ON (into
# $BUILD_DIR, default build-fuzz), builds only the target client_hello_fuzz
# (the parser alone: no runtime), and runs it for SECONDS on a copy of
# tests/fuzz/corpus/client_hello, so the committed corpus is never changed.
# The copy is removed after a clean run (FUZZ_KEEP=1 keeps it: new inputs
# that reached new code, to look at or to commit).
# A crash, a sanitizer report or a broken promise of the target
# (tests/fuzz/client_hello_fuzz.cpp) exits non-zero, with the input saved
# beside the copy (crash-*) and its bytes printed; reproduce with
#   $BUILD_DIR/tests/fuzz/client_hello_fuzz <that file>
#
# Environment: BUILD_DIR, CXX (default clang++), JOBS (default 2),
# FUZZ_FLAGS (more libFuzzer flags, e.g. "-jobs=2 -workers=2"), FUZZ_KEEP.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
build_dir=${BUILD_DIR:-build-fuzz}
cxx=${CXX:-clang++}
cc=${CC:-${cxx/clang++/clang}}
jobs=${JOBS:-2}

bash tools/setup-deps.sh  # clang and libclang-rt-14-dev (libFuzzer) among them

echo "== configure $build_dir (CXX=$cxx, GORT_BUILD_FUZZERS=ON)"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DGORT_BUILD_TESTS=ON -DGORT_BUILD_BENCHMARKS=OFF -DGORT_SANITIZE= -DGORT_BUILD_FUZZERS=ON >/dev/null
echo "== build client_hello_fuzz"
cmake --build "$build_dir" -j "$jobs" --target client_hello_fuzz

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-client-hello.XXXXXX")
cp -r tests/fuzz/corpus/client_hello "$work/corpus"
echo "== fuzz for $seconds s on a copy of the corpus ($(ls "$work/corpus" | wc -l) files) in $work"
# -max_len: the cap, plus record headers, plus room to go over it.
# -timeout: one input taking 10 s is a hang (a verdict never comes).
status=0
"$build_dir/tests/fuzz/client_hello_fuzz" "$work/corpus" \
  -max_total_time="$seconds" -max_len=20000 -timeout=10 -rss_limit_mb=1024 \
  -print_final_stats=1 -artifact_prefix="$work/" ${FUZZ_FLAGS:-} || status=$?

if ((status != 0)); then
  echo "== fuzz-client-hello: FAILED (exit $status); inputs that failed:"
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [[ -e $f ]] || continue
    echo "-- $f ($(wc -c <"$f") bytes)"
    od -A d -t x1 "$f" | head -20
  done
  exit "$status"
fi
if [[ ${FUZZ_KEEP:-} == 1 ]]; then
  echo "== fuzz-client-hello: no crash in $seconds s; the grown corpus is in $work/corpus"
else
  rm -rf "$work"
  echo "== fuzz-client-hello: no crash in $seconds s"
fi
