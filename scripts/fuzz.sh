#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers of hostile input (digest files, key files, object key
# names, trail ARNs) with cargo-fuzz / libFuzzer. Targets: fuzz/fuzz_targets/*.rs; seeds:
# fuzz/corpus/TARGET/seed-*. A crash is saved under fuzz/artifacts/TARGET/ and fails the script;
# replay it with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...`.
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh digest_parse
#
# Toolchain: cargo-fuzz passes nightly-only flags (-Z...). On a stable toolchain,
# RUSTC_BOOTSTRAP=1 lets rustc accept them, and `-s none` (no sanitizer) avoids needing
# -Zsanitizer=address's nightly standard library: panics are still caught, memory errors in safe
# Rust cannot happen. With a nightly toolchain installed, `FUZZ_TOOLCHAIN=+nightly` and
# `FUZZ_SANITIZER=address` run it the usual way. libFuzzer itself is compiled from C++ by the
# libfuzzer-sys crate: a C++ compiler (g++ or clang++) must be installed.
#
# The fast, always-run counterpart on stable Rust is cloudtrail-verify/tests/parsers_never_panic.rs.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
toolchain="${FUZZ_TOOLCHAIN:-}"

if ! cargo ${toolchain} fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    # Pinned: a fresh machine would otherwise get whatever release is newest.
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo ${toolchain} fuzz list)
fi

export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    echo "== fuzzing ${target} for ${seconds} s" >&2
    # The working corpus starts from the committed seeds and grows in fuzz/corpus/TARGET.
    cargo ${toolchain} fuzz run -s "${sanitizer}" "${target}" "corpus/${target}" -- \
        -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1
done
