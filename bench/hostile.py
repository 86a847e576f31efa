#!/usr/bin/env python3
"""Hostile-input benchmark, two parts (each verdict must be invalid):

1. junk listing: empty junk objects planted in a chain's digest day folder (20,000, 160,000
   and 1,000,000 by default; they cost an attacker nothing): time and peak memory of ctverify
   on the local copy, which must grow linearly with the objects (the listing resumes each page
   where the last stopped instead of reading the folder again), and the time per object;
2. hostile digests: many digests decompressing to just under the 16 MiB cap, each listing
   ~250,000 tiny log entries (a few MB of gzip on disk in all): peak memory stays bounded
   (large digests are read one at a time).

Peak memory is the child's maximum resident set size (ru_maxrss, what `/usr/bin/time -v`
prints as "Maximum resident set size"), taken by bench/measured.py's small launcher: a child
forked from this script would report at least this script's own size (a million junk names).

Run through `bash bench/hostile.sh`, which builds the release binaries first.
Standard library only.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import measured

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"]


def hostile_digest(cap):
    """A digest body of tiny logFiles entries, just under `cap` bytes, gzipped."""
    head = (b'{"awsAccountId":"123456789012","digestStartTime":"2026-01-01T00:00:00Z",'
            b'"digestEndTime":"2026-01-01T01:00:00Z","digestS3Bucket":"b","digestS3Object":"k",'
            b'"digestPublicKeyFingerprint":"x","digestSignatureAlgorithm":"SHA256withRSA",'
            b'"logFiles":[')
    entry = b'{"s3Bucket":"a","s3Object":"a","hashValue":"a","hashAlgorithm":"a"}'
    count = (cap - len(head) - 200) // (len(entry) + 1)
    body = head + b",".join([entry] * count) + b"]}"
    return gzip.compress(body, 9), len(body), count


def run_ctverify(m, copy, keys):
    """Runs ctverify on the local copy: (exit status, seconds, peak RSS in MB)."""
    argv = [os.path.join(RELEASE, "ctverify"), "--trail", m["trailArn"],
            "--from", m["startTime"], "--to", m["endTime"], "--local", copy,
            "--public-keys", keys]
    rc, seconds, usage = measured.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rc, seconds, usage.ru_maxrss / 1024


def junk_scaling(counts):
    """Part 1: the junk-listing figures, one line per count. True when every verdict was
    invalid."""
    work = tempfile.mkdtemp(prefix="ctverify-junk-")
    ok = True
    try:
        copy, keys, manifest = (os.path.join(work, n) for n in ("copy", "keys.json", "m.json"))
        subprocess.run([os.path.join(RELEASE, "ctverify-fixtures"), "generate", "--out", copy,
                        "--digests", "6", "--logs-per-digest", "2", "--regions", "us-east-1",
                        "--keys-out", keys, "--manifest", manifest], check=True,
                       stdout=subprocess.DEVNULL)
        with open(manifest) as f:
            m = json.load(f)
        folder = os.path.join(copy, m["bucket"], "AWSLogs", "123456789012",
                              "CloudTrail-Digest", "us-east-1", "2026", "01", "01")
        planted = 0
        first = None
        for count in sorted(counts):
            for i in range(planted, count):
                open(os.path.join(folder, f"junk-{i:07d}"), "wb").close()
            planted = count
            rc, elapsed, peak = run_ctverify(m, copy, keys)
            ok &= rc == 1
            per = elapsed / count * 1e6
            first = first or (count, elapsed)
            ratio = (elapsed / first[1]) / (count / first[0])
            print(f"junk listing: {count:>9,} empty objects in one digest folder: exit {rc} "
                  f"(1 = invalid expected), {elapsed:.2f} s ({per:.2f} us per object, "
                  f"{ratio:.2f}x linear from {first[0]:,}), peak memory {peak:.1f} MB",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-region", type=int, default=40,
                        help="hostile digests planted per region (default 40)")
    parser.add_argument("--junk", default="20000,160000,1000000",
                        help="junk object counts for the listing part, comma-separated "
                             "(default 20000,160000,1000000; empty to skip it)")
    parser.add_argument("--no-digests", action="store_true",
                        help="skip the hostile-digest part")
    args = parser.parse_args()
    counts = [int(c) for c in args.junk.split(",") if c.strip()]
    junk_ok = junk_scaling(counts) if counts else True
    if args.no_digests:
        return 0 if junk_ok else 1
    work = tempfile.mkdtemp(prefix="ctverify-hostile-")
    try:
        copy, keys, manifest = (os.path.join(work, n) for n in ("copy", "keys.json", "m.json"))
        subprocess.run([os.path.join(RELEASE, "ctverify-fixtures"), "generate", "--out", copy,
                        "--digests", "6", "--logs-per-digest", "2", "--regions", ",".join(REGIONS),
                        "--keys-out", keys, "--manifest", manifest], check=True,
                       stdout=subprocess.DEVNULL)
        with open(manifest) as f:
            m = json.load(f)
        gz, raw, count = hostile_digest(16 << 20)
        planted = 0
        for region in REGIONS:
            folder = os.path.join(copy, m["bucket"], "AWSLogs", "123456789012",
                                  "CloudTrail-Digest", region, "2026", "01", "01")
            for i in range(args.per_region):
                # Off-the-hour names inside the range, so that each is listed and read.
                stamp = f"20260101T0{1 + i // 60}{i % 60:02d}{(i * 7) % 60:02d}Z"
                trail = m["trailArn"].rsplit("/", 1)[1]
                name = f"123456789012_CloudTrail-Digest_{region}_{trail}_us-east-1_{stamp}.json.gz"
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(gz)
                planted += 1
        print(f"planted {planted} digests of {raw / 2**20:.1f} MiB ({count} logFiles entries), "
              f"{planted * len(gz) / 2**20:.1f} MiB of gzip on disk", file=sys.stderr)
        rc, elapsed, peak = run_ctverify(m, copy, keys)
        print(f"hostile digests: exit {rc} (1 = invalid expected), {elapsed:.2f} s, "
              f"peak memory {peak:.1f} MB")
        return 0 if rc == 1 and junk_ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
