#!/bin/bash
# run-full.sh - the slow end-to-end tier (`make check-e2e-full`, on demand):
# the same driver as run-fast.sh with tests/e2e/guest-full.sh in the guest
# and two more tapes: a small one for `btape fill` (E2F, 300 MB) and one of
# about 1 GB for `amtapetype` (E2A). Takes 10-25 minutes under emulation.
# Options and environment as for run-fast.sh.
export E2E_TIER=full
export E2E_BUDGET=${E2E_BUDGET:-1800}
export E2E_NTAPES=${E2E_NTAPES:-4}
export E2E_EXTRA_TAPES=${E2E_EXTRA_TAPES:-E2F:1:300M E2A:1:1200M}
export E2E_AMT_BYTES=${E2E_AMT_BYTES:-1200000000}
exec "$(dirname "$0")/run-fast.sh" "$@"
