#!/usr/bin/env bash
# Verdicts side by side: the real `aws cloudtrail validate-logs` (AWS CLI v1, run offline by
# fixtures/scripts/awscli_offline_validate.py) and ctverify, on the same generated trail for
# each tamper scenario. Prints the summary and INVALID lines of both (keys elided).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p cloudtrail-verify-cli -p ctverify-fixtures
[ -x .venv/bin/python ] || python3 -m venv .venv
# Pinned: the peer's speed is part of the figures, so the version measured is the one installed
# (awscli pins its botocore exactly). Another version already in .venv is replaced.
AWSCLI_VERSION=1.46.3
.venv/bin/python -c "import sys, awscli; sys.exit(awscli.__version__ != '$AWSCLI_VERSION')" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION"
FX=$PWD/target/release/ctverify-fixtures CV=$PWD/target/release/ctverify PY=$PWD/.venv/bin/python
AWSCLI=$PWD/fixtures/scripts/awscli_offline_validate.py
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
field() { "$PY" -c "import json,sys;m=json.load(open('m.json'));print(eval(sys.argv[1]))" "$1"; }
dk() { field "m['chains'][0]['digests'][$1]['key']"; }
lk() { field "m['chains'][0]['digests'][$1]['logFiles'][$2]"; }
gen() { rm -rf out; "$FX" generate --out out --digests 5 --logs-per-digest 3 --keys-out keys.json --manifest m.json "$@" 2>/dev/null; }
lines() { grep -E "files valid|No digests|No valid|INVALID:|UNVERIFIABLE:" | sed 's/\t/ /g; s/ s3:\/\/[^ ]*//' | sort | sed 's/^/    /'; }
compare() {
  echo "== $1"
  echo "  aws cloudtrail validate-logs:"
  "$PY" "$AWSCLI" --dir out --manifest m.json --keys keys.json 2>&1 | lines || true
  echo "  ctverify:"
  "$CV" --trail "$(field "m['trailArn']")" --from "$(field "m['startTime']")" --to "$(field "m['endTime']")" \
    --local out --public-keys keys.json 2>&1 | lines || true
}
gen; compare untouched
gen; "$FX" tamper --dir out --op modify-log --key "$(lk 1 0)"; compare "log modified"
gen; "$FX" tamper --dir out --op delete-log --key "$(lk 2 1)"; compare "log deleted"
gen; "$FX" tamper --dir out --op modify-digest --key "$(dk 2)"; compare "digest modified"
gen; "$FX" tamper --dir out --op corrupt-signature --key "$(dk 2)"; compare "digest signature wrong"
gen; "$FX" tamper --dir out --op delete-digest --key "$(dk 2)"; compare "digest deleted"
gen; "$FX" tamper --dir out --op delete-digest --key "$(dk 2)"; "$FX" tamper --dir out --op delete-digest --key "$(dk 1)"; compare "two consecutive digests deleted"
gen; "$FX" tamper --dir out --op copy-digest --key "$(dk 1)" --to-key "$(dk 2)"; compare "digest copied to another key"
gen; "$FX" tamper --dir out --op truncate-log --key "$(lk 1 1)"; compare "truncated gzip"
gen; "$FX" tamper --dir out --op append-after-gzip --key "$(lk 1 1)"; compare "data after the gzip stream"
gen; "$FX" tamper --dir out --op non-json-digest --key "$(dk 3)"; compare "digest that is not JSON"
gen; "$FX" tamper --dir out --op resign-other-key-fingerprint --key "$(dk 4)"; compare "unknown fingerprint"
gen --restart 3:120; compare "chain restart"
gen --empty 1,2; compare "digests with no log files"
gen --key-form spki; compare "key served as SPKI"
