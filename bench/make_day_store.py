#!/usr/bin/python3
"""Fills a netsentry SQLite store with a realistic day of history for the page benchmark.

  bench/make_day_store.py STORE [--hours 24] [--flows-per-hour 20000] [--hosts 200] [--end-ms MS]

STORE must be a store `netsentry monitor` wrote (so its schema is the binary's own; its flows and
alerts are the templates). Appended, ending at --end-ms (default: now), one row per second of
"total" and "eth0" traffic (a daily curve with noise), flows copied from the templates with new
times, ports and addresses spread over --hosts local hosts, and one alert per template alert per
hour (with its evidence, times shifted). Deterministic (seeded). Prints what it wrote.
"""
import argparse
import json
import math
import random
import sqlite3
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--flows-per-hour", type=int, default=20000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--end-ms", type=int, default=int(time.time() * 1000))
    args = parser.parse_args()

    rng = random.Random(16)
    db = sqlite3.connect(args.store)
    db.execute("PRAGMA busy_timeout = 5000")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    flow_columns = [r[1] for r in db.execute("PRAGMA table_info(flows)")]
    alert_columns = [r[1] for r in db.execute("PRAGMA table_info(alerts)")]
    flows = [dict(zip(flow_columns, r)) for r in db.execute("SELECT * FROM flows")]
    alerts = [dict(zip(alert_columns, r)) for r in db.execute("SELECT * FROM alerts")]
    if not flows:
        sys.exit(f"{args.store}: no flows to use as templates (replay a capture into it first)")

    end_ns = args.end_ms * 1_000_000
    seconds = int(args.hours * 3600)
    start_ns = end_ns - seconds * 1_000_000_000
    second = 1_000_000_000

    with db:
        rows = []
        for i in range(seconds):
            ts = start_ns + i * second
            day = 0.5 + 0.5 * math.sin(2 * math.pi * (i / 86400.0) - math.pi / 2)
            sent = 20_000 + 180_000 * day * rng.uniform(0.7, 1.3)
            recv = 60_000 + 540_000 * day * rng.uniform(0.7, 1.3)
            for name, share in (("total", 1.0), ("eth0", 0.97)):
                rows.append((ts, name, sent * share, recv * share, sent * share / 700,
                             recv * share / 1100))
        db.executemany("INSERT INTO traffic(ts_ns, interface, bytes_sent, bytes_recv, packets_sent, "
                       "packets_recv) VALUES (?, ?, ?, ?, ?, ?)", rows)

        next_id = (db.execute("SELECT coalesce(max(id), 0) FROM flows").fetchone()[0] or 0) + 1
        total_flows = int(args.flows_per_hour * args.hours)
        columns = [c for c in flow_columns]
        insert = (f"INSERT INTO flows({', '.join(columns)}) "
                  f"VALUES ({', '.join('?' for _ in columns)})")
        hosts = [f"10.20.{h // 250}.{h % 250 + 2}" for h in range(args.hosts)]
        batch = []
        for n in range(total_flows):
            t = dict(flows[n % len(flows)])
            end = start_ns + int((n + rng.random()) * seconds * second / total_flows)
            length = t["end_ns"] - t["start_ns"]
            t["id"] = next_id + n
            t["end_ns"] = end
            t["start_ns"] = end - max(0, length)
            # A local host talks to the template's peer: addresses spread like a real LAN.
            if rng.random() < 0.5:
                t["src_ip"] = hosts[rng.randrange(len(hosts))]
            else:
                t["dst_ip"] = hosts[rng.randrange(len(hosts))]
            t["src_port"] = 1024 + rng.randrange(64000)
            if "sensor_id" in t:
                t["sensor_id"] = None
            batch.append([t[c] for c in columns])
            if len(batch) >= 50000:
                db.executemany(insert, batch)
                batch.clear()
        if batch:
            db.executemany(insert, batch)

        written_alerts = 0
        if alerts:
            next_alert = (db.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchone()[0] or 0) + 1
            changed = db.execute("SELECT coalesce(max(changed), 0) FROM alerts").fetchone()[0] + 1
            columns = [c for c in alert_columns]
            insert = (f"INSERT INTO alerts({', '.join(columns)}) "
                      f"VALUES ({', '.join('?' for _ in columns)})")
            base = min(a["time_ns"] for a in alerts)
            for hour in range(int(args.hours)):
                for a in alerts:
                    t = dict(a)
                    shift = start_ns + hour * 3600 * second - base
                    t["id"] = next_alert
                    t["time_ns"] = a["time_ns"] + shift
                    t["last_ns"] = a["last_ns"] + shift
                    t["changed"] = changed
                    t["state"] = "past"
                    t["acknowledged"] = 0
                    if "sensor_id" in t:
                        t["sensor_id"] = None
                    evidence = json.loads(a["evidence"] or "[]")
                    for e in evidence:
                        for key in ("time_ns", "first_ns"):
                            if key in e:
                                e[key] += shift
                        for f in e.get("flows", []):
                            f["start_ns"] += shift
                    t["evidence"] = json.dumps(evidence)
                    db.execute(insert, [t[c] for c in columns])
                    next_alert += 1
                    changed += 1
                    written_alerts += 1

    print(f"{args.store}: schema {version}; {seconds * 2} traffic rows, {total_flows} flows over "
          f"{len(hosts)} hosts, {written_alerts} alerts, {args.hours:g} h ending "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(args.end_ms / 1000))} UTC")


if __name__ == "__main__":
    main()
