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
# Lints first: a warning fails the run, so none accumulate.
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked "$@"
