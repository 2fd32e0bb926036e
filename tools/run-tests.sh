#!/usr/bin/env bash
# run-tests.sh: installs the dependencies, builds gort and runs its CTest suite.
#
#   bash tools/run-tests.sh [cmake -D options...] [-- ctest options...]
#
# Environment (all optional):
#   GORT_SANITIZE          '' (default), 'address;undefined' or 'thread'
#   BUILD_DIR              default: build, build-asan or build-tsan after GORT_SANITIZE
#   CXX                    C++ compiler, default g++ (C compiler to match: gcc or clang)
#   BUILD_TYPE             default RelWithDebInfo
#   GORT_BUILD_BENCHMARKS  ON/OFF; default ON, OFF in sanitized builds
#   JOBS                   parallel build jobs and tests, default 2
#
# Examples:
#   bash tools/run-tests.sh
#   GORT_SANITIZE=thread CXX=clang++ bash tools/run-tests.sh -- -R chan
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup-deps.sh

cmake_args=() ctest_args=()
while (($#)); do
  if [[ $1 == -- ]]; then
    shift
    ctest_args=("$@")
    break
  fi
  cmake_args+=("$1")
  shift
done

sanitize=${GORT_SANITIZE:-}
case $sanitize in
  "") default_dir=build ;;
  *thread*) default_dir=build-tsan ;;
  *address*) default_dir=build-asan ;;
  *) default_dir=build-san ;;
esac
build_dir=${BUILD_DIR:-$default_dir}
cxx=${CXX:-g++}
case $(basename "$cxx") in
  clang++*) cc=${CC:-${cxx/clang++/clang}} ;;
  g++*) cc=${CC:-${cxx/g++/gcc}} ;;
  *) cc=${CC:-cc} ;;
esac
benchmarks=${GORT_BUILD_BENCHMARKS:-$([[ -z $sanitize ]] && echo ON || echo OFF)}
jobs=${JOBS:-2}

echo "== configure $build_dir (CXX=$cxx, GORT_SANITIZE='$sanitize', benchmarks $benchmarks)"
cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DGORT_BUILD_TESTS=ON -DGORT_BUILD_BENCHMARKS="$benchmarks" \
  -DGORT_SANITIZE="$sanitize" "${cmake_args[@]}"

echo "== build $build_dir"
cmake --build "$build_dir" -j "$jobs"

# Sanitizer reports should fail loudly and say where; the caller's settings win.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1}

# TSan maps its shadow memory at fixed addresses; with a large
# vm.mmap_rnd_bits (32 on some 6.x kernels) the randomized layout collides and
# TSan dies with "unexpected memory mapping". Without ASLR it always fits, so
# TSan tests run under `setarch -R` where the kernel allows it.
runner=()
if [[ $sanitize == *thread* ]] && setarch "$(uname -m)" -R true 2>/dev/null; then
  runner=(setarch "$(uname -m)" -R)
fi

echo "== test $build_dir${runner:+ (under ${runner[*]})}"
"${runner[@]}" ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "$jobs" "${ctest_args[@]}"
