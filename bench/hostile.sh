#!/usr/bin/env bash
# One command: build release binaries, plant 160 hostile digests just under the 16 MiB cap in a
# generated 4-region trail, and print ctverify's verdict, time and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
exec python3 bench/hostile.py "$@"
