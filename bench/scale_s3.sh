#!/usr/bin/env bash
# One command (issue 22): a trail of many tiny log files (default 100,000; --logs 1000000 for the
# issue's million) served by the project's S3 server at 20 ms per request, verified by ctverify:
# wall time against the concurrency bound (objects / concurrency x latency, goal <= 1.25x),
# S3 requests, peak memory (goal < 128 MB), beside the floor through the SDK and a bare floor
# (hyper and SigV4 only). The trail is generated into a temporary directory
# and deleted afterwards. Options go to bench/scale_s3.py.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same two builds as bench/s3.sh (so the benchmarks share their artifacts).
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
cargo build --release --locked -p ctverify-tests --bin ctverify-s3-server --bin ctverify-floor
exec python3 bench/scale_s3.py "$@"
