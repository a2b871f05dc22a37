#!/usr/bin/env bash
# Makes a fresh Debian 12 machine ready to build, test and demo mmr.
# Idempotent: installs only what is missing, then builds and installs the extension.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-contrib
  libfmt-dev googletest libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev llvm-14
  libipc-run-perl libtest-simple-perl
  libfaketime
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian's packaging starts a cluster on 5432; we never use it, our tests start their own.
top=$(cd "$(dirname "$0")/.." && pwd)
make -C "$top" -s -j"$(nproc)"
if [ "$(id -u)" -eq 0 ]; then make -C "$top" -s install; else sudo make -C "$top" -s install; fi
