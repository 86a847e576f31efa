"""A year of one trail audited by daily `ctverify --state` runs (see bench/year.sh).

The trail: one account and region, hourly digests with one small log file each, from
2025-12-01. Five times logging is stopped for two hours and started again (StopLogging,
StartLogging), once log-file validation is turned off for two hours (UpdateTrail), and on day 200
the trail moves to another bucket and prefix (the chain goes on across the move). The bucket has
a 30-day expiration rule. The CloudTrail stub's LookupEvents answers from those events.

Each of the 365 runs takes its own day's end plus two hours as now (`--now`), so the event
history reaches 90 days back from it, as AWS's would. The first run starts at the trail's start
(`--from`); every later run resumes from the state. What must hold: every run ends, the
checkpoint reaches the last day, no run reads more than its new hours (24 digests and their
logs, plus the checkpoint digest), and LookupEvents is called only by runs that meet a gap.
"""
import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")
START = dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc)
ACCOUNT = "111122223333"
RESTART_GAP_MINUTES = 120


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text):
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def generate(data, days):
    """The trail and its history, generated once. Returns (manifest, events path)."""
    manifest_path = os.path.join(data, "manifest.json")
    events_path = os.path.join(data, "events.json")
    done = os.path.join(data, "generated.done")
    # Digest indexes (hours from the start, less the pauses) where a new chain starts: five
    # restarts after StopLogging, one after validation was off.
    stops = [d * 24 * days // 366 for d in (30, 90, 150, 250, 330)]
    toggle = 24 * days * 120 // 366
    moved_at = 24 * days * 200 // 366
    digests = days * 24 - 6 * RESTART_GAP_MINUTES // 60
    if not os.path.exists(done):
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        restarts = ",".join(f"{i}:{RESTART_GAP_MINUTES}" for i in sorted(stops + [toggle]))
        print(f"generating {digests} hourly digests with restarts at {restarts}, a move at "
              f"{moved_at} ...", file=sys.stderr)
        subprocess.run([os.path.join(RELEASE, "ctverify-fixtures"), "generate",
                        "--out", os.path.join(data, "copy"), "--account", ACCOUNT,
                        "--regions", "us-east-1", "--start", iso(START),
                        "--digests", str(digests), "--logs-per-digest", "1",
                        "--records-per-log", "1", "--restart", restarts,
                        "--moved-at", f"{moved_at}:ctverify-year-old:before-move",
                        "--keys-out", os.path.join(data, "keys.json"),
                        "--manifest", manifest_path], check=True)
        with open(manifest_path) as f:
            m = json.load(f)
        arn = m["trailArn"]
        ds = m["chains"][0]["digests"]
        events = []
        for i in stops:
            events.append({"eventName": "StopLogging", "trail": arn,
                           "eventTime": iso(parse(ds[i - 1]["endTime"]) - dt.timedelta(minutes=2))})
            events.append({"eventName": "StartLogging", "trail": arn,
                           "eventTime": iso(parse(ds[i]["startTime"]) - dt.timedelta(minutes=1))})
        events.append({"eventName": "UpdateTrail", "trail": arn, "validation": False,
                       "eventTime": iso(parse(ds[toggle - 1]["endTime"]) - dt.timedelta(minutes=3))})
        events.append({"eventName": "UpdateTrail", "trail": arn, "validation": True,
                       "eventTime": iso(parse(ds[toggle]["startTime"]) - dt.timedelta(minutes=2))})
        # The move itself (UpdateTrail naming the new bucket) changes no switch.
        events.append({"eventName": "UpdateTrail", "trail": arn,
                       "eventTime": iso(parse(ds[moved_at]["startTime"]) - dt.timedelta(minutes=5))})
        with open(events_path, "w") as f:
            json.dump(events, f)
        open(done, "w").close()
    with open(manifest_path) as f:
        return json.load(f), events_path


class Server:
    def __init__(self, data, m, events):
        self.log = open(os.path.join(data, "server.log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(RELEASE, "ctverify-s3-server"), "--load", os.path.join(data, "copy"),
             "--stub-keys", os.path.join(data, "keys.json"),
             "--stub-manifest", os.path.join(data, "manifest.json"),
             "--stub-events", events,
             "--expire-after-days", f"{m['bucket']}=30"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        endpoints = {}
        while not {"listening", "cloudtrail"} <= endpoints.keys():
            line = self.proc.stdout.readline()
            if not line:
                self.log.seek(0)
                sys.exit(f"ctverify-s3-server exited:\n{self.log.read()}")
            word, _, url = line.strip().partition(" ")
            endpoints[word] = url
        self.s3, self.cloudtrail = endpoints["listening"], endpoints["cloudtrail"]
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def gets(self):
        with self.opener.open(self.s3 + "/_ctverify/requests", timeout=30) as r:
            counts = json.load(r)
        return counts.get("byOperation", {}).get("GetObject", 0)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--data", default=os.path.join(ROOT, "bench-data", "year"))
    p.add_argument("--quiet", action="store_true", help="totals only")
    a = p.parse_args()
    m, events = generate(a.data, a.days)
    server = Server(a.data, m, events)
    state = os.path.join(a.data, "state.json")
    if os.path.exists(state):
        os.remove(state)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL_S3": server.s3, "AWS_ENDPOINT_URL_CLOUDTRAIL": server.cloudtrail,
                "AWS_ENDPOINT_URL": server.cloudtrail, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "NO_PROXY": "127.0.0.1"})
    ctverify = os.path.join(RELEASE, "ctverify")
    end = parse(m["endTime"])
    # Until the move, DescribeTrails would have named the old bucket and prefix: those runs
    # name them (the stub describes the trail as it is now).
    moved = parse(m["chains"][0]["digests"][24 * a.days * 200 // 366]["startTime"])
    rows, lookups, statuses = [], 0, {}
    began = time.monotonic()
    print(f"{'day':>4} {'exit':>4} {'digests':>7} {'GETs':>5} {'lookups':>7}  checkpoint", flush=True)
    for day in range(1, a.days + 1):
        day_end = min(START + dt.timedelta(days=day), end)
        now = day_end + dt.timedelta(hours=2)
        argv = [ctverify, "--trail", m["trailArn"], "--state", state, "--now", iso(now),
                "--format", "json"]
        if day == 1:
            argv += ["--from", iso(START)]
        if day_end <= moved:
            argv += ["--bucket", "ctverify-year-old", "--prefix", "before-move"]
        gets_before = server.gets()
        t0 = time.monotonic()
        run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        seconds = time.monotonic() - t0
        try:
            report = json.loads(run.stdout)
        except json.JSONDecodeError:
            sys.exit(f"day {day}: exit {run.returncode}, no report:\n{run.stderr}")
        digests = sum(report["summary"]["digests"].values())
        calls = (report.get("event_history") or {}).get("calls", 0)
        lookups += calls
        with open(state) as f:
            checkpoint = json.load(f)["chains"][0]["end_time"]
        gets = server.gets() - gets_before
        statuses[run.returncode] = statuses.get(run.returncode, 0) + 1
        rows.append((day, run.returncode, digests, gets, calls, checkpoint, seconds))
        if not a.quiet or run.returncode != 0 or calls:
            kinds = sorted({g["kind"] for c in report["chains"] for g in c["gaps"]})
            print(f"{day:>4} {run.returncode:>4} {digests:>7} {gets:>5} {calls:>7}  {checkpoint}"
                  f"  {' '.join(kinds)}", flush=True)
    wall = time.monotonic() - began
    server.stop()
    final = rows[-1][5]
    print()
    print(f"runs: {len(rows)}, exit statuses {dict(sorted(statuses.items()))}, "
          f"every run ended: yes")
    print(f"checkpoint after the last run: {final} (trail ends {m['endTime']}): "
          f"{'reached' if final == m['endTime'] else 'NOT reached'}")
    print(f"digests read per run: max {max(r[2] for r in rows[1:])} after the first "
          f"(a day is 24 plus the checkpoint), first run {rows[0][2]}")
    print(f"S3 GETs per run: max {max(r[3] for r in rows[1:])} after the first")
    print(f"LookupEvents calls: {lookups} in all, by {sum(1 for r in rows if r[4])} runs "
          f"(only runs that met a gap)")
    print(f"wall time: {wall:.1f} s for {len(rows)} runs ({wall / len(rows) * 1000:.0f} ms a run)")
    if final != m["endTime"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
