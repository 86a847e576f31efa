#!/usr/bin/env python3
"""S3 benchmark: the real `aws cloudtrail validate-logs` (AWS CLI v1) beside ctverify, both reading
the same generated trail from the project's own S3 server (`ctverify-s3-server`) and its
CloudTrail stub (DescribeTrails, ListPublicKeys), first as served locally, then with a delay
before every S3 request as S3 in a region answers. Prints wall-clock seconds, the speed-up, the
S3 requests each tool made, and the counts both agreed on; then checks both call a copy with one
log file modified INVALID with the same counts.

The floor (issue 22): `ctverify-floor` GETs exactly the objects ctverify reads (the range's
digests and log files, from the manifest), at the same concurrency, through the same SDK client,
and inflates and hashes them, nothing else: no listing, no parsing, no signature check, no
report. ctverify's wall time and CPU per object are printed as multiples of the floor's, against
the goals (<= 1.25x the floor's wall time at 20 ms per request, <= 1.6x on the plain server).

HTTPS: every scenario runs twice, over plain HTTP and through the tests' TLS front
(`ctverify-s3-server --tls-ca`, a CA made for the run, trusted through AWS_CA_BUNDLE by all
three tools), so that TLS's per-request cost is in the comparison. The front is a proxy in the
server's process: its hop and its CPU are part of the HTTPS figures.

CPU per object: the user + system CPU seconds of the tool's own process (os.wait4's rusage of
that child: every thread, start-up, session set-up, listings, digests and logs included; the S3
server runs in another process and is not counted), divided by the GetObject requests the server
counted during that run (the objects the tool read: digests and log files). For the AWS CLI it is
the Python process (`aws`), measured the same way.

Exit status: 0 when every run agreed (the speed-up targets are reported, not enforced), 1 when
the two tools disagree or a tool did not exit as expected.

Run through `bash bench/s3.sh`, which builds the release binaries and installs the AWS CLI first.
Standard library only: it must run on a fresh machine.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")
# What issue 9 asks for: ctverify's speed-up over the AWS CLI on the plain local server and
# with 20 ms per S3 request, in the same run; and its CPU time per object read.
TARGETS = {0: 10.0, 20: 50.0}
CPU_MS_PER_OBJECT_TARGET = 0.25
# What issue 22 asks for: ctverify's wall time as a multiple of the floor's.
FLOOR_GOALS = {0: 1.6, 20: 1.25}
DEFAULT_CONCURRENCY = 128  # ctverify's own default against S3 (--concurrency)


def generate(data, digests, logs_per_digest, records_per_log):
    """The trail (DATA/copy/BUCKET/KEY), its keys and manifest, generated once."""
    manifest = os.path.join(data, "manifest.json")
    if not os.path.exists(manifest):
        os.makedirs(data, exist_ok=True)
        shutil.rmtree(os.path.join(data, "copy"), ignore_errors=True)
        print(f"generating {digests} digests x {logs_per_digest} logs into {data} ...",
              file=sys.stderr)
        subprocess.run([os.path.join(RELEASE, "ctverify-fixtures"), "generate",
                        "--out", os.path.join(data, "copy"),
                        "--digests", str(digests), "--logs-per-digest", str(logs_per_digest),
                        "--records-per-log", str(records_per_log),
                        "--keys-out", os.path.join(data, "keys.json"),
                        "--manifest", manifest + ".tmp"], check=True)
        os.rename(manifest + ".tmp", manifest)
    with open(manifest) as f:
        return json.load(f)


def tampered_copy(data, m):
    """A full copy of the trail (real copies, not links: tampering rewrites files) with one log
    file modified, made once. Returns (directory, the modified key)."""
    dest = os.path.join(data, "tampered")
    marker = os.path.join(data, "tampered.key")
    if os.path.exists(marker):
        with open(marker) as f:
            return dest, f.read().strip()
    digests = m["chains"][0]["digests"]
    key = next(d["logFiles"][0] for d in digests[len(digests) // 2:] if d["logFiles"])
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(os.path.join(data, "copy"), dest)
    subprocess.run([os.path.join(RELEASE, "ctverify-fixtures"), "tamper", "--dir", dest,
                    "--bucket", m["bucket"], "--op", "modify-log", "--key", key], check=True)
    with open(marker + ".tmp", "w") as f:
        f.write(key)
    os.rename(marker + ".tmp", marker)
    return dest, key


class Server:
    """One `ctverify-s3-server` with its CloudTrail stub, serving a trail directory (or several,
    loaded in order into the same buckets)."""

    def __init__(self, load, keys, manifest, delay_ms, log_dir, tls=False):
        loads = [load] if isinstance(load, str) else list(load)
        self.delay_ms = delay_ms
        self.ca = os.path.join(log_dir, f"ca-{delay_ms}.pem") if tls else None
        self.log_path = os.path.join(
            log_dir, f"server-{'+'.join(os.path.basename(d) for d in loads)}-{delay_ms}ms.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [os.path.join(RELEASE, "ctverify-s3-server"), *(x for d in loads for x in ("--load", d)),
             "--stub-keys", keys, "--stub-manifest", manifest, "--delay-ms", str(delay_ms),
             *(["--tls-ca", self.ca] if tls else [])],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        endpoints = {}
        wanted = {"listening", "cloudtrail"} | ({"tls"} if tls else set())
        # It prints its endpoints once the trail is loaded, or exits on an error.
        while not wanted <= endpoints.keys():
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                self.log.seek(0)
                sys.exit(f"ctverify-s3-server exited {self.proc.returncode}:\n{self.log.read()}")
            word, _, url = line.strip().partition(" ")
            endpoints[word] = url
        self.s3, self.cloudtrail = endpoints["listening"], endpoints["cloudtrail"]
        self.tls = endpoints.get("tls")
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def counts(self):
        """S3 requests so far: {"total": N, "byOperation": {...}, ...}."""
        with self._opener.open(self.s3 + "/_ctverify/requests", timeout=30) as r:
            return json.load(r)

    def cpu_seconds(self):
        """User + system CPU seconds the server process has used so far (Linux /proc), or None
        where that cannot be read."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        """Stops it (SIGTERM) and returns the request counts it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.seek(0)
        lines = [l.strip() for l in self.log if "requests" in l]
        self.log.close()
        return lines


def environment(server, region, config_file, tls=False):
    """The environment both tools run in: every AWS setting pointed at the local server (S3
    through its TLS front, trusting the run's CA, when `tls`)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    if tls:
        env["AWS_CA_BUNDLE"] = server.ca
    env.update({
        "AWS_ENDPOINT_URL_S3": server.tls if tls else server.s3,
        "AWS_ENDPOINT_URL_CLOUDTRAIL": server.cloudtrail,
        # Every other service (STS for the provenance) to the stub too: nothing reaches AWS.
        "AWS_ENDPOINT_URL": server.cloudtrail,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": config_file,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    return env


SUMMARY = re.compile(
    r"^(\d+)/(\d+) (digest|backfill digest|log) files valid(?:, (\d+)/\d+ [a-z ]+ files INVALID)?\s*$",
    re.M)
INVALID = re.compile(r"^((?:\(backfill\) )?(?:Digest|Log) file)\t(\S+)\tINVALID: (.*)$", re.M)


class Result:
    def __init__(self, seconds, rc, stdout, stderr, requests, cpu, server_cpu):
        self.seconds, self.rc, self.stdout, self.stderr = seconds, rc, stdout, stderr
        self.requests = requests  # S3 requests by operation made by this run
        self.cpu = cpu  # (user, system) CPU seconds of the tool's process (os.wait4)
        self.server_cpu = server_cpu  # CPU seconds the S3 server used meanwhile, or None
        text = stdout + "\n" + stderr
        # kind -> (valid, total, invalid)
        self.summary = {m[3]: (int(m[1]), int(m[2]), int(m[4] or 0))
                        for m in SUMMARY.finditer(text)}
        # (what, object) -> message
        self.invalid = {(m[1], m[2]): m[3] for m in INVALID.finditer(text)}

    def counts_text(self):
        return ", ".join(f"{v}/{t} {k}" + (f" ({i} INVALID)" if i else "")
                         for k, (v, t, i) in sorted(self.summary.items()))

    def s3_requests(self):
        return sum(self.requests.values())

    def objects_read(self):
        """GetObject requests the server counted during this run."""
        return self.requests.get("GetObject", 0)

    def cpu_seconds(self):
        return self.cpu[0] + self.cpu[1]

    def cpu_ms_per_object(self):
        n = self.objects_read()
        return self.cpu_seconds() * 1000 / n if n else float("nan")


def run_tool(server, argv, env):
    """Runs a tool to its end; its output goes to temporary files (not pipes, so that nothing
    but the tool's own process is waited for) and its CPU time comes from os.wait4."""
    before = server.counts()["byOperation"]
    server_before = server.cpu_seconds()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    server_after = server.cpu_seconds()
    after = server.counts()["byOperation"]
    requests = {op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0)}
    server_cpu = (server_after - server_before
                  if server_before is not None and server_after is not None else None)
    return Result(seconds, proc.returncode, stdout, stderr, requests,
                  (usage.ru_utime, usage.ru_stime), server_cpu)


def show(name, result):
    print(f"----- {name}: exit status {result.rc}, {result.seconds:.2f} s", file=sys.stderr)
    print(result.stdout.rstrip(), file=sys.stderr)
    err = result.stderr.strip()
    if err:
        # A whole trail of INVALID lines is not needed to see what went wrong.
        lines = err.splitlines()
        print("\n".join(lines[:60] + ([f"... ({len(lines) - 60} more lines)"]
                                      if len(lines) > 60 else [])), file=sys.stderr)


def check(scenario, aws, ours, want_rc, expect_invalid=None):
    """Both exited `want_rc` and agree on the counts and the INVALID objects; else prints both
    outputs and returns False."""
    problems = []
    for name, r in (("aws cloudtrail validate-logs", aws), ("ctverify", ours)):
        if r.rc != want_rc:
            problems.append(f"{name} exited {r.rc}, expected {want_rc}")
        if "digest" not in r.summary or "log" not in r.summary:
            problems.append(f"{name}: no 'N/N digest files valid' and 'N/N log files valid' lines")
    if aws.summary != ours.summary:
        problems.append(f"counts differ: AWS CLI {aws.counts_text()!r}, ctverify {ours.counts_text()!r}")
    if aws.invalid.keys() != ours.invalid.keys():
        problems.append("INVALID objects differ: AWS CLI "
                        f"{sorted(aws.invalid)}, ctverify {sorted(ours.invalid)}")
    if expect_invalid is not None and set(aws.invalid) != {expect_invalid}:
        problems.append(f"expected exactly one INVALID object, {expect_invalid}")
    if problems:
        print(f"\n===== {scenario}: the two tools DISAGREE or failed", file=sys.stderr)
        for p in problems:
            print(f"  * {p}", file=sys.stderr)
        show("aws cloudtrail validate-logs", aws)
        show("ctverify", ours)
        return False
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(ROOT, "bench-data", "s3"))
    p.add_argument("--digests", type=int, default=48)
    p.add_argument("--logs-per-digest", type=int, default=42)
    p.add_argument("--records-per-log", type=int, default=5)
    p.add_argument("--runs", type=int, default=3, help="runs of each tool per scenario (median)")
    p.add_argument("--concurrency", type=int, help="passed to ctverify (default: its own, 32)")
    p.add_argument("--delay-ms", type=int, default=20,
                   help="S3 request delay of the second scenario")
    p.add_argument("--aws", default=os.path.join(ROOT, ".venv", "bin", "aws"),
                   help="AWS CLI v1 executable")
    p.add_argument("--no-tamper", action="store_true", help="skip the tampered-copy check")
    p.add_argument("--no-tls", action="store_true", help="skip the HTTPS scenarios")
    p.add_argument("--no-aws", action="store_true",
                   help="skip the AWS CLI (ctverify against the floor only)")
    a = p.parse_args()
    if a.runs < 1:
        p.error("--runs must be at least 1")

    m = generate(a.data, a.digests, a.logs_per_digest, a.records_per_log)
    copy = os.path.join(a.data, "copy")
    keys = os.path.join(a.data, "keys.json")
    manifest = os.path.join(a.data, "manifest.json")
    region = m["homeRegion"]
    print(f"trail: {m['digestCount']} digests, {m['logCount']} log files, "
          f"{m['logBytesCompressed'] / 1e6:.1f} MB compressed, {m['trailArn']}, "
          f"{m['startTime']} to {m['endTime']}")
    if m["digestCount"] < 48 or m["logCount"] < 2000:
        print("warning: fewer than 48 digests or 2,000 log files", file=sys.stderr)

    if not a.no_aws:
        aws_version = subprocess.run([a.aws, "--version"], capture_output=True, text=True)
        print(f"AWS CLI: {(aws_version.stdout + aws_version.stderr).strip()}")

    work = tempfile.mkdtemp(prefix="ctverify-bench-s3-")
    # The server is path-style only. botocore 1.43 already uses path style for an endpoint that
    # is an IP address; the setting keeps it so for any other endpoint or botocore. ctverify
    # switches to path style by itself when an S3 endpoint is set.
    config_file = os.path.join(work, "config")
    with open(config_file, "w") as f:
        f.write(f"[default]\nregion = {region}\ns3 =\n  addressing_style = path\n")

    aws_argv = [a.aws, "cloudtrail", "validate-logs", "--trail-arn", m["trailArn"],
                "--start-time", m["startTime"], "--end-time", m["endTime"], "--region", region]
    ours_argv = [os.path.join(RELEASE, "ctverify"), "--trail", m["trailArn"],
                 "--from", m["startTime"], "--to", m["endTime"], "--no-progress"]
    if a.concurrency is not None:
        ours_argv += ["--concurrency", str(a.concurrency)]

    # The floor reads exactly what ctverify reads: every digest of the range and the log files
    # they list (the manifest's range is the whole trail).
    floor_keys = os.path.join(work, "floor-keys.txt")
    with open(floor_keys, "w") as f:
        for chain in m["chains"]:
            for d in chain["digests"]:
                f.write(f"{m['bucket']}/{d['key']}\n")
                for log in d["logFiles"]:
                    f.write(f"{m['bucket']}/{log}\n")
    concurrency = a.concurrency if a.concurrency is not None else DEFAULT_CONCURRENCY
    floor_argv = [os.path.join(RELEASE, "ctverify-floor"), "--keys", floor_keys,
                  "--concurrency", str(concurrency)]

    ok = True
    rows, server_counts = [], []
    scenarios = [(0, False, "local S3"), (a.delay_ms, False, f"S3 + {a.delay_ms} ms/request")]
    if not a.no_tls:
        scenarios += [(0, True, "HTTPS local S3"),
                      (a.delay_ms, True, f"HTTPS S3 + {a.delay_ms} ms/req")]
    try:
        for delay, tls, label in scenarios:
            server = Server(copy, keys, manifest, delay, work, tls=tls)
            try:
                env = environment(server, region, config_file, tls=tls)
                aws_runs, our_runs, floor_runs = [], [], []
                for i in range(a.runs):
                    print(f"{label}: run {i + 1}/{a.runs} ...", file=sys.stderr)
                    aws = run_tool(server, aws_argv, env) if not a.no_aws else None
                    ours = run_tool(server, ours_argv, env)
                    floor = run_tool(server, floor_argv, env)
                    if floor.rc != 0:
                        ok = False
                        show("ctverify-floor", floor)
                    if aws is not None:
                        ok &= check(f"{label}, run {i + 1}", aws, ours, 0)
                        aws_runs.append(aws)
                    elif ours.rc != 0:
                        ok = False
                        show("ctverify", ours)
                    our_runs.append(ours)
                    floor_runs.append(floor)
            finally:
                server_counts.append((label, server.stop()))
            rows.append((label, delay, aws_runs, our_runs, floor_runs))

        if not a.no_tamper and not a.no_aws:
            tampered, key = tampered_copy(a.data, m)
            label = "tampered copy, local S3"
            print(f"{label}: modified log file {key} ...", file=sys.stderr)
            server = Server(tampered, keys, manifest, 0, work)
            try:
                env = environment(server, region, config_file)
                aws = run_tool(server, aws_argv, env)
                ours = run_tool(server, ours_argv, env)
                ok &= check(label, aws, ours, 1,
                            expect_invalid=("Log file", f"s3://{m['bucket']}/{key}"))
            finally:
                server_counts.append((label, server.stop()))
            rows.append((label, None, [aws], [ours], []))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    print(f"\nwall clock, median of {a.runs} run(s) each; ctverify and the floor at concurrency "
          f"{concurrency}")
    if not a.no_aws:
        header = (f"{'scenario':<26} {'AWS CLI s':>10} {'ctverify s':>11} {'ratio':>7}  "
                  f"{'S3 requests aws/ctverify':>25}  exit  counts (both agree)")
        print(header)
        print("-" * len(header))
        for label, delay, aws_runs, our_runs, _ in rows:
            t_aws = med(r.seconds for r in aws_runs)
            t_ours = med(r.seconds for r in our_runs)
            req = f"{aws_runs[-1].s3_requests()}/{our_runs[-1].s3_requests()}"
            rcs = f"{aws_runs[-1].rc}/{our_runs[-1].rc}"
            print(f"{label:<26} {t_aws:>10.2f} {t_ours:>11.3f} {t_aws / t_ours:>6.1f}x  "
                  f"{req:>25}  {rcs:<4}  {our_runs[-1].counts_text()}")

    print("\nagainst the floor (ctverify-floor: the same GETs, inflate + SHA-256, nothing else)")
    header = (f"{'scenario':<26} {'ctverify s':>10} {'floor s':>8} {'wall x':>7} {'goal':>6}  "
              f"{'GETs ours/floor':>15}  {'CPU ms/obj ours':>15} {'floor':>6} {'CPU x':>6}")
    print(header)
    print("-" * len(header))
    floor_verdicts = []
    for label, delay, _, our_runs, floor_runs in rows:
        if not floor_runs:
            continue
        t_ours, t_floor = med(r.seconds for r in our_runs), med(r.seconds for r in floor_runs)
        c_ours = med(r.cpu_ms_per_object() for r in our_runs)
        c_floor = med(r.cpu_ms_per_object() for r in floor_runs)
        goal = FLOOR_GOALS.get(delay)
        gets = f"{our_runs[-1].objects_read()}/{floor_runs[-1].objects_read()}"
        print(f"{label:<26} {t_ours:>10.3f} {t_floor:>8.3f} {t_ours / t_floor:>6.2f}x "
              f"{(f'<={goal}x' if goal else '-'):>6}  {gets:>15}  {c_ours:>15.3f} "
              f"{c_floor:>6.3f} {c_ours / c_floor:>5.2f}x")
        if goal:
            floor_verdicts.append((label, goal, t_ours / t_floor))

    print("\nCPU time per object read: user + sys CPU seconds of the tool's process (os.wait4) / "
          "GetObject requests the server counted in that run; median over runs")
    print("(the S3 server's own CPU during ctverify's runs, from /proc, is shown for scale: on a "
          "small machine both share the cores)")
    header = (f"{'scenario':<26} {'objects':>8} {'ctverify CPU s':>15} {'ms/object':>10}  "
              f"{'AWS CLI CPU s':>14} {'ms/object':>10}  {'server CPU s (ctverify)':>24}")
    print(header)
    print("-" * len(header))
    for label, delay, aws_runs, our_runs, _ in rows:
        server = [r.server_cpu for r in our_runs if r.server_cpu is not None]
        aws_cpu = f"{med(r.cpu_seconds() for r in aws_runs):>14.2f}" if aws_runs else f"{'-':>14}"
        aws_ms = f"{med(r.cpu_ms_per_object() for r in aws_runs):>10.3f}" if aws_runs else f"{'-':>10}"
        print(f"{label:<26} {our_runs[-1].objects_read():>8} "
              f"{med(r.cpu_seconds() for r in our_runs):>15.3f} "
              f"{med(r.cpu_ms_per_object() for r in our_runs):>10.3f}  "
              f"{aws_cpu} {aws_ms}  "
              f"{(f'{med(server):.3f}' if server else '-'):>24}")
    print("\nS3 requests by operation (last run of each):")
    for label, _, aws_runs, our_runs, floor_runs in rows:
        if aws_runs:
            print(f"  {label}: AWS CLI {aws_runs[-1].requests}")
        print(f"  {' ' * len(label)}  ctverify {our_runs[-1].requests}")
        if floor_runs:
            print(f"  {' ' * len(label)}  floor {floor_runs[-1].requests}")
    for label, _, aws_runs, our_runs, _ in rows:
        for name, r in (("AWS CLI", aws_runs[-1] if aws_runs else None), ("ctverify", our_runs[-1])):
            for (what, obj), message in sorted(r.invalid.items() if r else []):
                print(f"  {label}: {name}: {what} {obj} INVALID: {message}")
    print("server totals (printed on SIGTERM, every tool, every run):")
    for label, lines in server_counts:
        for line in lines:
            print(f"  {label}: {line}")

    for label, delay, aws_runs, our_runs, _ in rows:
        if delay in TARGETS and aws_runs:
            ratio = med(r.seconds for r in aws_runs) / med(r.seconds for r in our_runs)
            target = TARGETS[delay]
            verdict = "met" if ratio >= target else "NOT met"
            print(f"target >= {target:.0f}x the AWS CLI on {label}: {verdict} ({ratio:.1f}x)")
    for label, delay, aws_runs, our_runs, _ in rows:
        if delay is not None:
            ms = med(r.cpu_ms_per_object() for r in our_runs)
            verdict = "met" if ms <= CPU_MS_PER_OBJECT_TARGET else "NOT met"
            print(f"target <= {CPU_MS_PER_OBJECT_TARGET} ms CPU per object read on {label}: "
                  f"{verdict} ({ms:.3f} ms)")
    for label, goal, ratio in floor_verdicts:
        verdict = "met" if ratio <= goal else "NOT met"
        print(f"goal <= {goal}x the floor's wall time on {label}: {verdict} ({ratio:.2f}x)")
    print("verdicts: " + ("identical in every run" if ok else "DIFFERENT (see above)"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
