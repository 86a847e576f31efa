#!/usr/bin/env python3
"""Scale benchmark (issue 9): memory and speed at a million log files, and what an incremental
run with a checkpoint reads.

a) A generated organization trail of at least 1,000,000 tiny log files (2 accounts x 3 regions,
   hourly digests), verified from a local copy with text output (stdout to /dev/null) and with
   `--format jsonl` (stdout to a file whose lines are counted): wall time, log files/s, CPU and
   peak RSS (ru_maxrss of the ctverify process, through bench/measured.py's launcher) against the target peak < 100 MB.
b) A 30-day trail (2 accounts x 2 regions, hourly digests) served by the project's S3 server
   (`ctverify-s3-server`) and its CloudTrail stub. Run 1 verifies the 30 days with `--from T0
   --to T1 --state STATE`; then the bucket gets one more hour: the server is started again
   holding the same 30 days (first --load) plus the next hour's digests and logs (second
   --load), so its request counts start at zero. Run 2 is `--to T2 --state STATE` (no --from):
   the GetObject requests it made and every request by kind, against the target: that hour's
   objects (one digest and its logs per chain) plus one checkpoint digest per chain.

`--format jsonl` and `--state` are detected in `ctverify --help`; a part whose flag is missing
is skipped with a message (the rest still runs).

Data is generated once into bench-data/scale/ (about 4.5 GB for a): the generator's smallest
logs (one record each) in 4 KB file-system blocks. Run through `bash bench/scale.sh`, which
builds the release binaries first. Standard library only.

Exit status: 0 when every run verified valid (the targets are reported, not enforced), 1 when a
run did not exit as expected.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
import s3 as s3bench  # noqa: E402  (the S3 benchmark's server wrapper and environment)
import measured  # noqa: E402  (a child's own peak memory, not this script's)

PEAK_RSS_TARGET_MB = 100
# Keep this much free on the data's file system after generating.
MIN_FREE_BYTES = 8 << 30
# A tiny log file, its digest's share and the file system's overhead, measured: ~4.3 KB.
BYTES_PER_LOG_ON_DISK = 4400


def fixtures():
    return os.path.join(RELEASE, "ctverify-fixtures")


def ctverify():
    return os.path.join(RELEASE, "ctverify")


def help_text():
    r = subprocess.run([ctverify(), "--help"], capture_output=True, text=True)
    return r.stdout + r.stderr


def run_measured(argv, stdout, stderr, env=None):
    """Runs argv to its end; returns (wall s, exit status, rusage of that process)."""
    rc, seconds, usage = measured.run(argv, stdout=stdout, stderr=stderr, env=env)
    return seconds, rc, usage


def tail(path, n=20):
    with open(path, errors="replace") as f:
        lines = f.read().splitlines()
    return "\n".join(lines[-n:])


# ----------------------------------------------------------------------------- a) local copy

def generate_local(data, a):
    """The million-file trail, generated once: DATA/copy, DATA/keys.json, DATA/info.json (no
    manifest: it would list every log file, ~300 MB)."""
    info_path = os.path.join(data, "info.json")
    if os.path.exists(info_path):
        with open(info_path) as f:
            return json.load(f)
    chains = len(a.accounts) * len(a.regions)
    logs = chains * a.digests * a.logs_per_digest
    os.makedirs(data, exist_ok=True)
    copy = os.path.join(data, "copy")
    shutil.rmtree(copy, ignore_errors=True)
    need = logs * BYTES_PER_LOG_ON_DISK
    free = shutil.disk_usage(data).free
    if free - need < MIN_FREE_BYTES:
        sys.exit(f"not enough disk: {logs} log files need about {need / 1e9:.1f} GB and "
                 f"{MIN_FREE_BYTES / 2**30:.0f} GiB must stay free; {free / 1e9:.1f} GB free")
    print(f"generating {chains} chains x {a.digests} digests x {a.logs_per_digest} logs "
          f"({logs} log files, about {need / 1e9:.1f} GB) into {copy} ...", file=sys.stderr)
    start = "2026-01-01T00:00:00Z"
    r = subprocess.run([fixtures(), "generate", "--out", copy,
                        "--account", ",".join(a.accounts), "--org-id", "o-scalebench1",
                        "--regions", ",".join(a.regions),
                        "--start", start, "--digests", str(a.digests),
                        "--logs-per-digest", str(a.logs_per_digest), "--records-per-log", "1",
                        "--keys-out", os.path.join(data, "keys.json")],
                       check=True, capture_output=True, text=True)
    summary = (r.stdout + r.stderr).strip()
    print(summary, file=sys.stderr)
    m = re.search(r"(\d+) digests, (\d+) logs .* for (\S+) (\S+)\.\.(\S+) in ", summary)
    if not m:
        sys.exit(f"cannot read the generator's summary: {summary!r}")
    info = {"digests": int(m[1]), "logs": int(m[2]), "trailArn": m[3], "startTime": m[4],
            "endTime": m[5], "chains": chains, "generator": summary}
    with open(info_path + ".tmp", "w") as f:
        json.dump(info, f, indent=1)
    os.rename(info_path + ".tmp", info_path)
    return info


def warm(copy):
    """Reads every file once so that each run reads from the page cache, not the disk."""
    start = time.perf_counter()
    subprocess.run(f"find '{copy}' -type f -print0 | xargs -0 cat > /dev/null",
                   shell=True, check=True)
    return time.perf_counter() - start


def part_a(a, text_help):
    data = os.path.join(a.data, "local")
    info = generate_local(data, a)
    copy = os.path.join(data, "copy")
    print(f"\n== a) local copy: {info['logs']:,} log files, {info['digests']:,} digests in "
          f"{info['chains']} chains (accounts {','.join(a.accounts)} x regions "
          f"{','.join(a.regions)}, hourly), {info['startTime']} to {info['endTime']}")
    if info["logs"] < 1_000_000:
        print("warning: fewer than 1,000,000 log files", file=sys.stderr)
    if not a.no_warm:
        print(f"page cache warmed in {warm(copy):.1f} s (every file read once)")
    argv = [ctverify(), "--trail", info["trailArn"], "--from", info["startTime"],
            "--to", info["endTime"], "--local", copy,
            "--public-keys", os.path.join(data, "keys.json"), "--no-progress"]
    if a.concurrency is not None:
        argv += ["--concurrency", str(a.concurrency)]
    formats = ["text"]
    if "jsonl" in text_help:
        formats.append("jsonl")
    else:
        print("SKIPPED --format jsonl: `ctverify --help` does not mention jsonl yet "
              "(issue 9's streaming output has not landed)")
    ok = True
    rows = []
    for fmt in formats:
        err_path = os.path.join(data, f"stderr-{fmt}.txt")
        out_path = os.path.join(data, "report.jsonl") if fmt == "jsonl" else os.devnull
        cmd = argv + (["--format", "jsonl"] if fmt == "jsonl" else [])
        print(f"$ {' '.join(cmd)} > {out_path}", file=sys.stderr)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            wall, rc, usage = run_measured(cmd, out, err)
        lines = None
        if fmt == "jsonl":
            with open(out_path, "rb") as f:
                lines = sum(1 for _ in f)
            size = os.path.getsize(out_path)
            if not a.keep_jsonl:
                os.remove(out_path)
        if rc != 0:
            ok = False
            print(f"ctverify --format {fmt} exited {rc} (expected 0, valid); its stderr ends:\n"
                  f"{tail(err_path)}")
        rows.append((fmt, wall, rc, usage, lines, size if fmt == "jsonl" else None))
    print(f"{'output':<8} {'exit':>4} {'wall s':>8} {'log files/s':>12} {'user s':>8} "
          f"{'sys s':>7} {'peak RSS MB':>12}  target peak < {PEAK_RSS_TARGET_MB} MB")
    for fmt, wall, rc, usage, lines, size in rows:
        peak = usage.ru_maxrss * 1024 / 1e6
        verdict = "met" if peak < PEAK_RSS_TARGET_MB else "NOT met"
        extra = (f"; {lines:,} JSONL lines ({size / 1e6:.0f} MB)" if lines is not None else "")
        print(f"{fmt:<8} {rc:>4} {wall:>8.1f} {info['logs'] / wall:>12,.0f} "
              f"{usage.ru_utime:>8.1f} {usage.ru_stime:>7.1f} {peak:>12.1f}  {verdict}{extra}")
    return ok


# ----------------------------------------------------------------------------- b) incremental

def generate_s3(data, a):
    """The 30-day + 1 hour trail, generated once, split into DATA/first (the 30 days) and
    DATA/next (the last hour: each chain's newest digest, its sidecar and its logs), hard links
    of DATA/all. Returns the manifest."""
    manifest_path = os.path.join(data, "manifest.json")
    done = os.path.join(data, "split.done")
    if not os.path.exists(done):
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        chains = len(a.s3_accounts) * len(a.s3_regions)
        print(f"generating {chains} chains x {a.s3_days * 24 + 1} digests x "
              f"{a.s3_logs_per_digest} logs into {data} ...", file=sys.stderr)
        subprocess.run([fixtures(), "generate", "--out", os.path.join(data, "all"),
                        "--account", ",".join(a.s3_accounts), "--org-id", "o-scalebench2",
                        "--regions", ",".join(a.s3_regions), "--start", "2026-01-01T00:00:00Z",
                        "--digests", str(a.s3_days * 24 + 1),
                        "--logs-per-digest", str(a.s3_logs_per_digest), "--records-per-log", "1",
                        "--keys-out", os.path.join(data, "keys.json"),
                        "--manifest", manifest_path], check=True)
        with open(manifest_path) as f:
            m = json.load(f)
        last = set()
        for chain in m["chains"]:
            d = chain["digests"][-1]
            last.update([d["key"], d["key"] + ".metadata.json", *d["logFiles"]])
        src = os.path.join(data, "all")
        for dirpath, _, files in os.walk(src):
            for name in files:
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, src)
                key = rel.split(os.sep, 1)[1].replace(os.sep, "/")
                dest = os.path.join(data, "next" if key in last else "first", rel)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.link(path, dest)
        open(done, "w").close()
    with open(manifest_path) as f:
        return json.load(f)


def part_b(a, text_help):
    data = os.path.join(a.data, "s3")
    m = generate_s3(data, a)
    chains = m["chains"]
    t0 = m["startTime"]
    t2 = m["endTime"]
    t1 = chains[0]["digests"][-1]["startTime"]
    new_objects = sum(1 + len(c["digests"][-1]["logFiles"]) for c in chains)
    target = new_objects + len(chains)
    print(f"\n== b) S3 server: {m['digestCount']:,} digests and {m['logCount']:,} log files in "
          f"{len(chains)} chains, {t0} to {t2}; run 1 sees {t0} to {t1}, then the hour to {t2} "
          f"arrives ({new_objects} objects)")
    has_state = "--state" in text_help
    if not has_state:
        print("SKIPPED run 2 (incremental): `ctverify --help` has no --state yet (issue 9's "
              "checkpoints have not landed); run 1 is a full verification without a state")
    region = m["homeRegion"]
    work = tempfile.mkdtemp(prefix="ctverify-bench-scale-")
    config_file = os.path.join(work, "config")
    with open(config_file, "w") as f:
        f.write(f"[default]\nregion = {region}\ns3 =\n  addressing_style = path\n")
    state = os.path.join(work, "state.json")
    keys = os.path.join(data, "keys.json")
    manifest = os.path.join(data, "manifest.json")
    base = [ctverify(), "--trail", m["trailArn"], "--no-progress"]
    if a.concurrency is not None:
        base += ["--concurrency", str(a.concurrency)]
    runs = [(f"run 1 ({a.s3_days} days)", [os.path.join(data, "first")],
             base + ["--from", t0, "--to", t1] + (["--state", state] if has_state else []))]
    if has_state:
        runs.append(("run 2 (+1 hour)", [os.path.join(data, "first"), os.path.join(data, "next")],
                     base + ["--to", t2, "--state", state]))
    ok = True
    results = []
    try:
        for label, loads, argv in runs:
            # A fresh server each run: the bucket as it is then, request counts from zero.
            server = s3bench.Server(loads, keys, manifest, 0, work)
            try:
                env = s3bench.environment(server, region, config_file)
                print(f"$ {' '.join(argv)}", file=sys.stderr)
                before = server.counts()
                err_path = os.path.join(work, f"stderr-{len(results)}.txt")
                out_path = os.path.join(work, f"stdout-{len(results)}.txt")
                with open(out_path, "wb") as out, open(err_path, "wb") as err:
                    wall, rc, usage = run_measured(argv, out, err, env)
                after = server.counts()
            finally:
                server.stop()
            requests = {op: n - before["byOperation"].get(op, 0)
                        for op, n in after["byOperation"].items()
                        if n - before["byOperation"].get(op, 0)}
            with open(out_path, errors="replace") as f:
                stdout = f.read()
            if rc != 0:
                ok = False
                print(f"{label}: ctverify exited {rc} (expected 0, valid):\n{stdout[-3000:]}"
                      f"\n{tail(err_path)}")
            counts = "; ".join(l.strip() for l in stdout.splitlines()
                               if re.match(r"^\d+/\d+ (digest|log) files valid", l))
            if has_state and os.path.exists(state):
                state_bytes = os.path.getsize(state)
            else:
                state_bytes = None
            results.append((label, wall, rc, usage, requests, state_bytes, counts))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'run':<16} {'exit':>4} {'wall s':>7} {'CPU s':>6} {'GetObject':>9} {'CPU ms/obj':>10}"
          "  requests by kind")
    for label, wall, rc, usage, requests, state_bytes, counts in results:
        print(f"{label:<16} {rc:>4} {wall:>7.2f} {usage.ru_utime + usage.ru_stime:>6.2f} "
              f"{requests.get('GetObject', 0):>9} "
              f"{(usage.ru_utime + usage.ru_stime) * 1000 / max(1, requests.get('GetObject', 0)):>10.3f}"
              f"  {json.dumps(requests, sort_keys=True)}"
              + (f"; state {state_bytes} bytes" if state_bytes is not None else ""))
        print(f"{'':<16} verified: {counts or '(no summary lines)'}")
    if len(results) == 2:
        got = results[1][4].get("GetObject", 0)
        verdict = "met" if got <= target else "NOT met"
        print(f"target: objects read by run 2 <= {target} ({new_objects} objects of the new hour "
              f"+ {len(chains)} checkpoint digests, one per chain): {verdict} ({got})")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(ROOT, "bench-data", "scale"))
    p.add_argument("--accounts", default="111111111111,222222222222",
                   type=lambda s: s.split(","))
    p.add_argument("--regions", default="us-east-1,eu-west-1,ap-southeast-2",
                   type=lambda s: s.split(","))
    p.add_argument("--digests", type=int, default=2000, help="per chain (a)")
    p.add_argument("--logs-per-digest", type=int, default=84, help="(a)")
    p.add_argument("--s3-accounts", default="111111111111,222222222222",
                   type=lambda s: s.split(","))
    p.add_argument("--s3-regions", default="us-east-1,eu-west-1", type=lambda s: s.split(","))
    p.add_argument("--s3-days", type=int, default=30)
    p.add_argument("--s3-logs-per-digest", type=int, default=12,
                   help="(b) CloudTrail delivers about every 5 minutes")
    p.add_argument("--concurrency", type=int, help="passed to ctverify (default: its own)")
    p.add_argument("--no-warm", action="store_true", help="(a) do not read every file first")
    p.add_argument("--keep-jsonl", action="store_true", help="(a) keep DATA/local/report.jsonl")
    p.add_argument("--only", choices=["local", "s3"], help="run one part")
    a = p.parse_args()

    text_help = help_text()
    ok = True
    if a.only in (None, "local"):
        ok &= part_a(a, text_help)
    if a.only in (None, "s3"):
        ok &= part_b(a, text_help)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
