#!/usr/bin/env python3
"""Instructions, not seconds (issue 22): `valgrind --tool=callgrind` counts the instructions a
run executes, which a noisy shared machine does not move.

Over S3 (the project's S3 server, plain HTTP, no delay), ctverify, the floor
(`ctverify-floor`: the same GETs, inflate + SHA-256, nothing else, through the SDK's client) and
the bare floor (`ctverify-floor --client hyper`: the same, through hyper with SigV4 alone) each
verify/read three
generated trails of one chain: 12 digests without log files, 48 digests without log files, and
48 digests of 20 log files each. Per object, start-up removed:
  digest path = (Ir[48 digests] - Ir[12 digests]) / 36
  log path    = (Ir[48 x 20 logs] - Ir[48 digests]) / 960
Offline: ctverify --local and `ctverify-floor --dir` on a copy of larger log files, per MB of
inflated log data, beside zlib-rs inflate + SHA-256 alone (the floor's offline mode).

Then where ctverify's instructions go on the log path, from `callgrind_annotate` (exclusive
instructions by function, grouped by crate: signing, parsing, allocation, scheduling, HTTP, TLS,
inflate, SHA-256, ...). Release builds carry symbols, not line tables: inlined code counts in
its caller.

Run through `bash bench/instructions.sh`. Standard library only. Data goes to a temporary
directory and is deleted.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True
import s3 as s3bench  # noqa: E402  (the S3 benchmark's server wrapper and environment)

# Exclusive instructions by function name, grouped. The first pattern that matches wins.
GROUPS = [
    ("SHA-256", r"sha2::|sha256|Sha256|sha256_block"),
    ("inflate (zlib-rs)", r"zlib_rs|inflate|flate2|adler|crc32"),
    ("signature check (RSA)", r"num_bigint|rsa::|aws_lc.*(rsa|RSA|bn_|BN_|mont)|bn_mul|bn_sqr|"
                              r"rsaz|RSA_"),
    ("TLS / crypto other (aws-lc, rustls)", r"rustls|aws_lc|aws-lc|ring::|AES|aes_|gcm|chacha"),
    ("SigV4 signing", r"aws_sigv4|sigv4|hmac|Hmac"),
    ("JSON/XML parsing", r"serde|quick_xml|xmlparser|aws_smithy_xml|json|Deserializ|Visitor"),
    ("allocation", r"malloc|free|realloc|calloc|mi_|alloc::|__rust_alloc|__rust_dealloc|"
                   r"RawVec|memcpy|memmove|memset"),
    ("scheduling (tokio)", r"tokio::|futures|parking_lot|std::sync|std::thread|__lll|pthread|"
                           r"futex|epoll|syscall"),
    ("HTTP (hyper, SDK)", r"hyper|http::|h2::|aws_smithy|aws_sdk|aws_runtime|tower|bytes::"),
    ("ctverify (walk, report, layout)", r"cloudtrail_verify|ctverify|chrono"),
    ("kernel / dynamic loader", r"_dl_|ld-linux|\?\?\?|0x0"),
]


def fixtures(*args):
    subprocess.run([os.path.join(RELEASE, "ctverify-fixtures"), "generate", *args], check=True,
                   stdout=subprocess.DEVNULL)


def generate(base, name, digests, logs, records):
    data = os.path.join(base, name)
    fixtures("--out", os.path.join(data, "copy"), "--digests", str(digests),
             "--logs-per-digest", str(logs), "--records-per-log", str(records),
             "--keys-out", os.path.join(data, "keys.json"),
             "--manifest", os.path.join(data, "manifest.json"))
    with open(os.path.join(data, "manifest.json")) as f:
        m = json.load(f)
    keys_file = os.path.join(data, "floor-keys.txt")
    with open(keys_file, "w") as f:
        for chain in m["chains"]:
            for d in chain["digests"]:
                f.write(f"{m['bucket']}/{d['key']}\n")
                for log in d["logFiles"]:
                    f.write(f"{m['bucket']}/{log}\n")
    return data, m, keys_file


def callgrind(argv, out_file, env=None):
    """Runs argv under callgrind; returns (total instructions, exit status)."""
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                        "--trace-children=no", *argv], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    total = None
    with open(out_file) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    if total is None:
        sys.exit(f"no instruction total in {out_file}:\n{r.stderr[-2000:]}")
    return total, r.returncode, r.stdout


def by_group(out_file):
    """Exclusive instructions by group, from callgrind_annotate."""
    r = subprocess.run(["callgrind_annotate", "--threshold=100", out_file],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    groups = {name: 0 for name, _ in GROUPS}
    groups["other"] = 0
    top = []
    row = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*?)\s*$")
    in_table = False
    for line in r.stdout.splitlines():
        if "file:function" in line:
            in_table = True
            continue
        if not in_table:
            continue
        m = row.match(line)
        if not m or not m[1][0].isdigit():
            continue
        ir = int(m[1].replace(",", ""))
        name = m[2]
        top.append((ir, name))
        for group, pattern in GROUPS:
            if re.search(pattern, name):
                groups[group] += ir
                break
        else:
            groups["other"] += ir
    return groups, sorted(top, reverse=True)[:25]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keep", action="store_true", help="keep the data and profiles")
    a = p.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    base = tempfile.mkdtemp(prefix="ctverify-bench-instr-")
    try:
        run(base)
    finally:
        if a.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def run(base):
    trails = {
        "d12": generate(base, "d12", 12, 0, 5),
        "d48": generate(base, "d48", 48, 0, 5),
        "l48": generate(base, "l48", 48, 20, 5),
    }
    config = os.path.join(base, "config")
    ir = {}
    for name, (data, m, keys_file) in trails.items():
        server = s3bench.Server(os.path.join(data, "copy"), os.path.join(data, "keys.json"),
                                os.path.join(data, "manifest.json"), 0, base)
        try:
            with open(config, "w") as f:
                f.write(f"[default]\nregion = {m['homeRegion']}\n")
            env = s3bench.environment(server, m["homeRegion"], config)
            ours = [os.path.join(RELEASE, "ctverify"), "--trail", m["trailArn"],
                    "--from", m["startTime"], "--to", m["endTime"], "--no-progress", "--quiet"]
            floor = [os.path.join(RELEASE, "ctverify-floor"), "--keys", keys_file]
            bare = floor + ["--client", "hyper"]
            print(f"callgrind: ctverify on {name} ...", file=sys.stderr)
            ir[("ctverify", name)], rc, _ = callgrind(ours, os.path.join(base, f"ours-{name}.out"), env)
            if rc != 0:
                sys.exit(f"ctverify exited {rc} on {name} under valgrind")
            print(f"callgrind: floor on {name} ...", file=sys.stderr)
            ir[("floor", name)], rc, _ = callgrind(floor, os.path.join(base, f"floor-{name}.out"), env)
            if rc != 0:
                sys.exit(f"ctverify-floor exited {rc} on {name} under valgrind")
            print(f"callgrind: bare floor on {name} ...", file=sys.stderr)
            ir[("bare", name)], rc, _ = callgrind(bare, os.path.join(base, f"bare-{name}.out"), env)
            if rc != 0:
                sys.exit(f"ctverify-floor --client hyper exited {rc} on {name} under valgrind")
        finally:
            server.stop()
    d_small = trails["d12"][1]["digestCount"]
    d_big = trails["d48"][1]["digestCount"]
    logs = trails["l48"][1]["logCount"]
    print("\ninstructions per object over S3 (plain HTTP, local server), start-up removed")
    header = (f"{'path':<10} {'ctverify Ir':>13} {'floor Ir':>11} {'ratio':>7} "
              f"{'bare floor Ir':>14} {'ratio':>7}")
    print(header)
    print("-" * len(header))
    per = {}
    for tool in ("ctverify", "floor", "bare"):
        per[(tool, "digest")] = (ir[(tool, "d48")] - ir[(tool, "d12")]) / (d_big - d_small)
        per[(tool, "log")] = (ir[(tool, "l48")] - ir[(tool, "d48")]) / logs
        per[(tool, "start")] = ir[(tool, "d12")] - d_small * per[(tool, "digest")]
    for path in ("digest", "log", "start"):
        label = {"digest": "digest", "log": "log file", "start": "start-up"}[path]
        o, f, b = per[("ctverify", path)], per[("floor", path)], per[("bare", path)]
        print(f"{label:<10} {o:>13,.0f} {f:>11,.0f} {o / f:>6.2f}x {b:>14,.0f} {o / b:>6.2f}x")
    print("(the floor GETs through the SDK's S3 client, as ctverify; the bare floor through hyper, "
          "each request signed by aws-sigv4 alone)")
    print(f"(trails: {d_small} and {d_big} digests without log files; {d_big} digests with "
          f"{logs} log files of {trails['l48'][1]['logBytesUncompressed'] / logs:,.0f} bytes "
          f"inflated each)")

    # Where ctverify's log path goes: the difference of the two profiles, by group.
    g_logs, top = by_group(os.path.join(base, "ours-l48.out"))
    g_digests, _ = by_group(os.path.join(base, "ours-d48.out"))
    f_logs, _ = by_group(os.path.join(base, "floor-l48.out"))
    f_digests, _ = by_group(os.path.join(base, "floor-d48.out"))
    print("\nwhere the instructions per log file go (exclusive Ir by function, grouped; "
          "48x20-log trail minus 48-digest trail, / log files)")
    header = f"{'group':<38} {'ctverify':>10} {'floor':>10} {'extra':>10}"
    print(header)
    print("-" * len(header))
    names = [n for n, _ in GROUPS] + ["other"]
    rows = []
    for n in names:
        o = (g_logs[n] - g_digests[n]) / logs
        f = (f_logs[n] - f_digests[n]) / logs
        rows.append((o - f, n, o, f))
    for extra, n, o, f in sorted(rows, reverse=True):
        print(f"{n:<38} {o:>10,.0f} {f:>10,.0f} {extra:>+10,.0f}")
    print("\nctverify's top functions on the 48x20-log trail (exclusive Ir, whole run):")
    for n, name in top[:15]:
        print(f"  {n:>14,}  {name[:110]}")

    # Offline: per MB of inflated log data.
    data, m, keys_file = generate(base, "big", 8, 10, 2000)
    log_keys = os.path.join(data, "floor-log-keys.txt")
    with open(keys_file) as src, open(log_keys, "w") as dst:
        for line in src:
            if "/CloudTrail/" in line:
                dst.write(line)
    mb = m["logBytesUncompressed"] / 1e6
    ours = [os.path.join(RELEASE, "ctverify"), "--local", os.path.join(data, "copy"),
            "--public-keys", os.path.join(data, "keys.json"), "--trail", m["trailArn"],
            "--from", m["startTime"], "--to", m["endTime"], "--no-progress", "--quiet"]
    print(f"\ncallgrind: offline, {m['logCount']} log files, {mb:.1f} MB inflated ...",
          file=sys.stderr)
    o_ir, rc, _ = callgrind(ours, os.path.join(base, "ours-offline.out"))
    if rc != 0:
        sys.exit(f"ctverify --local exited {rc} under valgrind")
    f_ir, rc, _ = callgrind([os.path.join(RELEASE, "ctverify-floor"), "--keys", log_keys,
                             "--dir", os.path.join(data, "copy")],
                            os.path.join(base, "floor-offline.out"))
    if rc != 0:
        sys.exit(f"ctverify-floor --dir exited {rc} under valgrind")
    print(f"\noffline, per MB of inflated log data ({m['logCount']} log files, {mb:.1f} MB; "
          "start-up included, digests included for ctverify)")
    print(f"  ctverify --local:                     {o_ir / mb:>14,.0f} Ir/MB")
    print(f"  zlib-rs inflate + SHA-256 alone:      {f_ir / mb:>14,.0f} Ir/MB")
    print(f"  ratio:                                {o_ir / f_ir:>14.2f}x")


if __name__ == "__main__":
    main()
