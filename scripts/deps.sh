#!/usr/bin/env bash
# Installs the Debian packages kvlab builds and runs with, when any is missing.
set -euo pipefail
pkgs=(build-essential libopenblas-openmp-dev libcjson-dev libpcre2-dev libutf8proc-dev
      libsqlite3-dev sqlite3 libmd-dev gnuplot-nox python3 python3-pip unzip ca-certificates
      clang libclang-rt-14-dev libomp-14-dev) # clang + libFuzzer runtime + OpenMP: make fuzz
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
