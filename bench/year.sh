#!/usr/bin/env bash
# One command (issue 18's proof): a simulated year of one trail (hourly digests, 5 stop/start
# restarts, 1 validation toggle, 1 bucket move, a 30-day lifecycle rule) served by the project's
# S3 server and CloudTrail stub (LookupEvents answers from the trail's history), audited by 365
# daily `ctverify --state` runs, each at its own simulated time (--now). Prints per run: exit
# status, digests read, S3 GETs, LookupEvents calls, where the checkpoint is; then the totals.
# Generates about 20,000 objects once into bench-data/year/. Options go to bench/year.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
cargo build --release --locked -p ctverify-tests --bin ctverify-s3-server
exec python3 bench/year.py "$@"
