#!/bin/sh
# Configure (once) and build into DIR (default ./build) with extra
# configure flags after the directory. Usage: build.sh [DIR [FLAGS...]]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-"$src/build"}
[ $# -gt 0 ] && shift
[ -x "$src/configure" ] || "$src/autogen.sh" >/dev/null
mkdir -p "$dir"
cd "$dir"
[ -f Makefile ] || "$src/configure" --enable-werror "$@" >/dev/null
make -j"$(nproc)" >/dev/null
