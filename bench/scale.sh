#!/usr/bin/env bash
# One command (issue 9's scale proof): build release binaries, generate (once, cached in
# bench-data/scale/) a trail of >= 1,000,000 tiny log files and a 30-day trail, then
# a) verify the million files from a local copy with text and with `--format jsonl` output:
#    wall time, log files/s, peak RSS against < 100 MB;
# b) from the project's S3 server, a checkpointed run over 30 days, one more hour delivered, and
#    an incremental run (`--state`, no --from): objects read against that hour's objects plus
#    one checkpoint digest per chain.
# Needs about 5 GB of disk. Options go to bench/scale.py (--only local|s3, --concurrency, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
# The same two builds as bench/s3.sh (so the benchmarks share their artifacts).
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
cargo build --release --locked -p ctverify-tests --bin ctverify-s3-server
exec python3 bench/scale.py "$@"
