#!/usr/bin/env bash
# run-demo.sh: installs the dependencies, builds gort into build/ (the same
# build as tools/run-tests.sh: g++, RelWithDebInfo) and runs the main job:
# gort-proxy's demo (proxy/demo.hpp). It makes development certificates in
# build/gort-demo, starts two TLS backends and a plain one, and the proxy:
# 127.0.0.1:8443 routes by SNI, 127.0.0.1:8080 forwards, metrics on
# 127.0.0.1:9100; it prints the curl commands to try. Ctrl-C stops it.
#
#   bash tools/run-demo.sh
#   GORT_DEMO_TLS_PORT=9443 bash tools/run-demo.sh    # other ports: see proxy/demo.hpp
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
cmake --build build -j "${JOBS:-2}" --target gort-proxy

export GORT_DEMO_DIR=${GORT_DEMO_DIR:-build/gort-demo}
echo "== build/proxy/gort-proxy --demo"
exec build/proxy/gort-proxy --demo "$@"
