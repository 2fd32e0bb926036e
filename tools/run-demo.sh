#!/usr/bin/env bash
# run-demo.sh: installs the dependencies, builds gort into build/ (the same
# build as tools/run-tests.sh: g++, RelWithDebInfo) and runs the demo program,
# tools/examples/demo.cpp. Arguments go to the demo:
#
#   bash tools/run-demo.sh [sleepers]
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup-deps.sh

cxx=${CXX:-g++}
case $(basename "$cxx") in
  clang++*) cc=${CC:-${cxx/clang++/clang}} ;;
  g++*) cc=${CC:-${cxx/g++/gcc}} ;;
  *) cc=${CC:-cc} ;;
esac

echo "== configure and build build/ (CXX=$cxx)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx"
cmake --build build -j "${JOBS:-2}" --target gort-demo

echo "== build/tools/examples/gort-demo $*"
exec build/tools/examples/gort-demo "$@"
