#!/usr/bin/env bash
# Hits under attack (issue 15, items 1 and 3): a slow-body connection flood from one address and
# a burst of 200 bad logins, each beside the same server unattacked in the same run (latency,
# resident memory, descriptors). Offline on the bundled demo data; loopback only; ~1 min.
# usage: bench/attack.sh [BINARY]   (needs python3)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/reelcache; fi
ulimit -n 8192
exec python3 bench/attack.py "$BIN" data/demo.rcsnap
