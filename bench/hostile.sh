#!/usr/bin/env bash
# One command: build release binaries, then print ctverify's verdict, time and peak memory
# (a) with 20,000, 160,000 and 1,000,000 empty junk objects planted in a chain's digest folder
#     (the listing must scale linearly), and (b) with 160 hostile digests just under the 16 MiB
#     cap planted in a generated 4-region trail. Needs about 1 M free inodes. Options go to
#     bench/hostile.py (--junk 20000,160000 to choose the counts, --no-digests, --per-region N).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
exec python3 bench/hostile.py "$@"
