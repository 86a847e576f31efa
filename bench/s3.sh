#!/usr/bin/env bash
# One command: build release binaries, install the real AWS CLI v1 (1.46.3, pinned) into .venv/,
# generate (once, cached in bench-data/s3/) a trail of 48 digests and 2,016 log files, serve it with the
# project's own S3 server + CloudTrail stub, and time `aws cloudtrail validate-logs` against
# `ctverify` on it: plain local server, then 20 ms per S3 request; then check both call a
# tampered copy INVALID with the same counts. Prints each tool's CPU time per object read (user +
# sys of its process / GetObject requests) beside the speed-ups, against issue 9's targets; and
# beside a floor (ctverify-floor: the same GETs, inflate + SHA-256, nothing else), against issue
# 22's goals, over plain HTTP and HTTPS (the tests' TLS front).
# Options go to bench/s3.py (--runs, --concurrency, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
# Two builds, not one: the first is exactly bench/offline.sh's, so the two benchmarks share its
# artifacts (features are unified over the packages of one build, and the server's package pulls
# in more of the AWS SDK than ctverify does).
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
cargo build --release --locked -p ctverify-tests --bin ctverify-s3-server --bin ctverify-floor
[ -x .venv/bin/python ] || python3 -m venv .venv
# Pinned: the peer's speed is part of the figures, so the version measured is the one installed
# (awscli pins its botocore exactly). Another version already in .venv is replaced.
AWSCLI_VERSION=1.46.3
.venv/bin/python -c "import sys, awscli; sys.exit(awscli.__version__ != '$AWSCLI_VERSION')" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION"
exec python3 bench/s3.py --aws "$PWD/.venv/bin/aws" "$@"
