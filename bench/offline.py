#!/usr/bin/env python3
"""Offline benchmark: ctverify on a local copy of a generated trail of >= 1 GB of uncompressed
log data, beside `gzip -dc FILES | sha256sum` on the same log files (the machine's
single-stream baseline). Prints MB/s of uncompressed data verified, files/s and peak memory.

Run through `bash bench/offline.sh`, which builds the release binaries first.
Standard library only: it must run on a fresh machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import measured

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")


def run_measured(argv, **kw):
    """Runs a command, returns (seconds, peak RSS in bytes of the process tree's largest child, rc)."""
    rc, elapsed, usage = measured.run(argv, **kw)
    return elapsed, usage.ru_maxrss * 1024, rc


def generate(data, digests, logs_per_digest, pad):
    manifest = os.path.join(data, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            return json.load(f)
    os.makedirs(data, exist_ok=True)
    print(f"generating {digests} digests x {logs_per_digest} logs into {data} ...", file=sys.stderr)
    subprocess.run([os.path.join(RELEASE, "ctverify-fixtures"), "generate",
                    "--out", os.path.join(data, "copy"),
                    "--digests", str(digests), "--logs-per-digest", str(logs_per_digest),
                    "--log-pad-bytes", str(pad),
                    "--keys-out", os.path.join(data, "keys.json"),
                    "--manifest", manifest + ".tmp"], check=True)
    os.rename(manifest + ".tmp", manifest)
    with open(manifest) as f:
        return json.load(f)


def log_files(copy, manifest):
    files = []
    for chain in manifest["chains"]:
        for digest in chain["digests"]:
            for key in digest["logFiles"]:
                files.append(os.path.join(copy, manifest["bucket"], key))
    return files


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(ROOT, "bench-data", "offline"))
    p.add_argument("--digests", type=int, default=48)
    p.add_argument("--logs-per-digest", type=int, default=40)
    p.add_argument("--log-pad-bytes", type=int, default=550_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=None,
                   help="passed to ctverify (default: ctverify's own)")
    a = p.parse_args()

    m = generate(a.data, a.digests, a.logs_per_digest, a.log_pad_bytes)
    copy = os.path.join(a.data, "copy")
    files = log_files(copy, m)
    total = m["logBytesUncompressed"]
    mb = total / 1e6
    print(f"trail: {m['digestCount']} digests, {len(files)} log files, "
          f"{mb:.0f} MB uncompressed, {m['logBytesCompressed'] / 1e6:.0f} MB compressed")
    if total < 1e9:
        print("warning: less than 1 GB of uncompressed log data", file=sys.stderr)

    # Warm the page cache so both sides read from memory, not disk.
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass

    baseline = []
    # The file list goes through xargs (too long for one command line); gzip still writes one
    # stream into one sha256sum.
    listing = os.path.join(a.data, "log-files.txt")
    with open(listing, "wb") as f:
        f.write(b"\0".join(p.encode() for p in files))
    for _ in range(a.runs):
        t, _, rc = run_measured(
            ["bash", "-c", f"xargs -0 gzip -dc < '{listing}' | sha256sum >/dev/null"])
        if rc != 0:
            sys.exit("baseline failed")
        baseline.append(t)

    ctverify = [os.path.join(RELEASE, "ctverify"), "--trail", m["trailArn"],
                "--from", m["startTime"], "--to", m["endTime"], "--local", copy,
                "--public-keys", os.path.join(a.data, "keys.json"), "--no-progress"]
    if a.concurrency is not None:
        ctverify += ["--concurrency", str(a.concurrency)]
    ours, peaks = [], []
    for _ in range(a.runs):
        t, peak, rc = run_measured(ctverify, stdout=subprocess.DEVNULL)
        if rc != 0:
            sys.exit(f"ctverify exited {rc}: the benchmark trail should verify valid")
        ours.append(t)
        peaks.append(peak)

    b, o = statistics.median(baseline), statistics.median(ours)
    print(f"gzip -dc | sha256sum : {b:6.2f} s  {mb / b:7.1f} MB/s  {len(files) / b:7.1f} files/s  (median of {a.runs})")
    print(f"ctverify --local     : {o:6.2f} s  {mb / o:7.1f} MB/s  {len(files) / o:7.1f} files/s  (median of {a.runs})")
    print(f"speed-up over baseline: {b / o:.2f}x   peak memory (max RSS): {max(peaks) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
