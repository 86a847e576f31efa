#!/usr/bin/env bash
# One command (issue 22): instructions per object verified, digest and log paths apart, for
# ctverify and the floor (ctverify-floor) over the project's S3 server, and per MB offline beside
# zlib-rs inflate + SHA-256 alone, counted by valgrind's callgrind (stable on a noisy machine);
# then where ctverify's instructions go, from callgrind_annotate. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same two builds as bench/s3.sh (so the benchmarks share their artifacts).
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
cargo build --release --locked -p ctverify-tests --bin ctverify-s3-server --bin ctverify-floor
exec python3 bench/instructions.py "$@"
