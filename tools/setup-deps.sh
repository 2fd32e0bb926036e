#!/usr/bin/env bash
# setup-deps.sh: installs what gort needs to build, test and benchmark, from
# Debian 12's packages. Idempotent: it asks dpkg which packages are missing and
# runs `apt-get update` + `apt-get install` only when some are.
#
#   build-essential g++ clang cmake ninja-build   compilers and build tools
#   libboost-context-dev                          fiber stack switching
#   libev-dev                                     the netpoller backend (net/)
#   doctest-dev                                   unit tests
#   libssl-dev                                    TLS (net/tls/, tools/certs/)
#   libtomlplusplus-dev                           toml++, gort-proxy's config file (proxy/)
#   openssl curl ca-certificates                  real TLS peers in the tests
#   haproxy                                       a real PROXY protocol peer in the tests (proxy/)
#   nginx libnginx-mod-stream                     real PROXY protocol readers (http; stream with TLS)
#                                                 in gort-proxy's end-to-end tests (tests/proxy/e2e_test.py)
#   libclang-rt-14-dev                            clang's sanitizer runtimes
#   golang-go                                     Go, for the benchmark comparison
#   python3                                       tool scripts
#   python3-prometheus-client                     a strict parser of the proxy's metrics, in tests
#   librsvg2-bin                                  rsvg-convert: rasterises gort-trace-svg's SVG in its tests (tools/trace/)
#   iperf3 iproute2 procps                        the proxy benchmark's load, ss and pgrep (tools/bench/)
set -euo pipefail

packages=(
  build-essential cmake ninja-build g++ clang
  libboost-context-dev libev-dev doctest-dev libssl-dev libtomlplusplus-dev libclang-rt-14-dev
  golang-go python3 python3-prometheus-client openssl curl ca-certificates iperf3 iproute2 procps
  haproxy nginx libnginx-mod-stream librsvg2-bin
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if ((EUID != 0)); then
  echo "setup-deps: missing Debian packages: ${missing[*]}" >&2
  echo "setup-deps: installing them needs root; run this script as root (sudo bash $0)," >&2
  echo "setup-deps: or install them yourself: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
