#!/bin/sh
# Quick start, step 1 of 2: install what is missing, build, and run vtld on
# its embedded defaults (catalog and tapes under /var/lib/vtl, local-directory
# object store, iSCSI on 127.0.0.1:3260). Stop it with Ctrl-C.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/install-deps.sh" build
"$src/scripts/build.sh" "$src/build"
exec "$src/build/vtld" --data-dir "${VTL_DATA_DIR:-/var/lib/vtl}" --foreground
