#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the pinned test tools (moto's server)
# into .venv from PyPI, then runs every test of the workspace. Tests that need moto find it
# through CTVERIFY_MOTO_SERVER.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tools are pinned (scripts/python/): .venv is rebuilt whenever those files change, so a
# machine that ran an older pin never tests with it.
pins="$(cat scripts/python/requirements.txt scripts/python/constraints.txt | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/moto_server ] || [ "$(cat .venv/.ctverify-pins 2>/dev/null)" != "$pins" ]; then
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/python/requirements.txt -c scripts/python/constraints.txt
  echo "$pins" > .venv/.ctverify-pins
fi
export CTVERIFY_MOTO_SERVER="$PWD/.venv/bin/moto_server"
# The version the tests must see: tests/tools.rs fails, naming both, when moto is another one.
CTVERIFY_MOTO_VERSION="$(sed -n 's/^moto\[server\]==//p' scripts/python/requirements.txt)"
export CTVERIFY_MOTO_VERSION
# Quality gates first: formatting, lints and the API documentation; a warning fails the run, so
# none accumulate.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
cargo test --workspace --locked "$@"
