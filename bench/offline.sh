#!/usr/bin/env bash
# One command: build release binaries, generate (once, cached in bench-data/) a trail with
# >= 1 GB of uncompressed log data, and compare ctverify with `gzip -dc | sha256sum`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
exec python3 bench/offline.py "$@"
