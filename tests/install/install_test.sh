#!/usr/bin/env bash
# install_test.sh: installs a gort build into a scratch prefix and builds an
# outside project against it with find_package(gort), as a user would.
#
#   install_test.sh BUILD_DIR PROJECT_DIR WORK_DIR CXX_COMPILER [GENERATOR]
#
# Fails when: the install fails, the package is not found, gort::runtime or
# gort::net does not link, or the program does not run its fibers, listen, and
# print the right status.
set -euo pipefail

build_dir=$1 project_dir=$2 work_dir=$3 cxx=$4 generator=${5:-}

rm -rf "$work_dir"
prefix=$work_dir/prefix
mkdir -p "$work_dir"

echo "== cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work_dir/install.log"
for f in include/gort/gort.hpp include/gort/detail/spawn.hpp include/gort/net.hpp include/gort/errors.hpp; do
  [[ -f $prefix/$f ]] || { echo "install_test: $f not installed" >&2; exit 1; }
done
config=$(find "$prefix" -name gortConfig.cmake -print -quit)
[[ -n $config ]] || { echo "install_test: gortConfig.cmake not installed" >&2; exit 1; }
echo "   package config: ${config#"$prefix"/}"

echo "== configure and build the outside project"
gen_args=()
[[ -n $generator ]] && gen_args=(-G "$generator")
cmake -S "$project_dir" -B "$work_dir/build" "${gen_args[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo |
  tee "$work_dir/configure.log"
# The package must come from the scratch prefix, not from an older install.
grep -q "found gort .* in $prefix/" "$work_dir/configure.log" ||
  { echo "install_test: gort was not found in $prefix" >&2; exit 1; }
cmake --build "$work_dir/build"

echo "== run it"
rc=0
out=$("$work_dir/build/app") || rc=$?
echo "$out"
if ((rc != 0)) || ! grep -qx "install-test: gort::run returned 42" <<<"$out"; then
  echo "install_test: the outside program failed (exit $rc); work dir kept: $work_dir" >&2
  exit 1
fi
rm -rf "$work_dir"
echo "install_test: ok"
