#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs moto's server into .venv (PyPI), then
# runs every test of the workspace. Tests that need moto find it through CTVERIFY_MOTO_SERVER.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/moto_server ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
export CTVERIFY_MOTO_SERVER="$PWD/.venv/bin/moto_server"
# Quality gates first: formatting, lints and the API documentation; a warning fails the run, so
# none accumulate.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
cargo test --workspace --locked "$@"
