"""The fleet's figures: what one daemon ships with zero loss, the bytes per event on the wire, and how
fast a stream replays (docs/fleet.md's sizing table comes from this).

For each rate: a daemon recording every event (no filter, zstd files, shipping to a JetStream of
--nodes nats-server processes on 127.0.0.1, --replicas replicas) while a paced getppid() loop makes
`rate` events/s for --seconds; then the time until the shipper has caught up. Zero loss means: no
event dropped anywhere (kernel, disk) and every written event acknowledged by the broker.
Then the largest host's stream is replayed with a selective filter and the same from the local files.

    .venv/bin/python bench/fleet.py                           # 1 node
    .venv/bin/python bench/fleet.py --nodes 3 --replicas 3    # the tests' cluster
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sustained import PACER  # noqa: E402
from tests.kernel.daemon_harness import SYSMON, Daemon  # noqa: E402
from tests.nats_cluster import Cluster  # noqa: E402

STREAM = "BENCH"
SELECTIVE = "evt.type=connect and evt.dir=<"


def ship_one(tmp: Path, cluster: Cluster, rate: int, seconds: float, replicas: int) -> dict[str, float]:
    home = tmp / f"r{rate}"
    home.mkdir()
    d = Daemon(home, rotation={"size": "64M"}, stream={"servers": cluster.urls, "name": STREAM, "host": f"r{rate}",
                                                      "replicas": replicas})
    try:
        d.wait_for("READY", 180)
        time.sleep(1)
        before = d.status()
        start = time.monotonic()
        subprocess.run([sys.executable, "-c", PACER, str(rate / 2), str(seconds)], check=True,
                       stdout=subprocess.DEVNULL)
        made_s = time.monotonic() - start
        mid = d.status()
        while True:  # until every written event is acknowledged
            st = d.status()
            s = st["stream"]
            if s["lag_events"] == 0 and s["unshipped_files"] <= 1 and st["events"]["written"] == s["shipped_events"]:
                break
            if time.monotonic() - start > seconds + 300:
                raise SystemExit(f"the shipper did not catch up: {s}")
            time.sleep(0.2)
        caught_s = time.monotonic() - start
        d.stop(60)
    finally:
        d.close()
    seen = mid["events"]["seen"] - before["events"]["seen"]
    drops = sum(st["events"]["dropped"].values())
    return {"rate": rate, "seen_per_s": seen / made_s, "dropped": drops, "written": st["events"]["written"],
            "shipped": s["shipped_events"], "wire_bytes": s["shipped_bytes"], "caught_up_s": caught_s - made_s,
            "messages": s["messages"], "dir": str(d.dir)}


def timed(args: list[str]) -> float:
    start = time.monotonic()
    res = subprocess.run([*SYSMON, *args], capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"sysmon {' '.join(args)}: {res.stderr}")
    return time.monotonic() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="50000,150000", help="events/s of the paced load (comma-separated)")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--replicas", type=int, default=1)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sysmon-fleet-bench-") as tmpdir:
        tmp = Path(tmpdir)
        cluster = Cluster(tmp / "nats", args.nodes)
        cluster.start()
        try:
            rows = [ship_one(tmp, cluster, int(r), args.seconds, args.replicas) for r in args.rates.split(",")]
            print(f"{args.nodes} node(s), {args.replicas} replica(s); {args.seconds:.0f} s of paced load per rate")
            print("load ev/s  seen ev/s  dropped  written    shipped    bytes/event  catch-up s  messages")
            for r in rows:
                print(f"{r['rate']:>9}  {r['seen_per_s']:>9.0f}  {r['dropped']:>7}  {r['written']:>9}  "
                      f"{r['shipped']:>9}  {r['wire_bytes'] / max(1, r['shipped']):>11.1f}  {r['caught_up_s']:>10.1f}  "
                      f"{r['messages']:>8}")
            big = max(rows, key=lambda r: r["shipped"])
            url = f"{cluster.urls[0]}/{STREAM}"
            host = f"r{big['rate']}"
            n = big["shipped"]
            stream_s = timed(["-r", url, "--host", host, "-q", SELECTIVE])
            files_s = timed(["-r", f"{big['dir']}/sysmon-*", "-q", SELECTIVE])
            print(f"replay of {n} events with '{SELECTIVE}': from the stream {stream_s:.1f} s = {n / stream_s:,.0f} "
                  f"ev/s; from the local files {files_s:.1f} s = {n / files_s:,.0f} ev/s")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
