"""Measures the lab's WAN relay (relay.py) on its own: two namespaces joined by one relayed link.

  sudo python3 scripts/lab_lib/relay_bench.py [--delay-ms 20] [--jitter-ms 0] [--loss 0]
                                              [--seconds 5]

Prints JSON: TCP throughput through the relay with no delay and no loss (iperf3, the relay's
ceiling), the ping round trip through a link of --delay-ms each way (expected: twice that) with
its error, the ping loss against the configured one, and the relay's own record of how late frames
left against their schedule. Needs root, iperf3 and ping. The namespaces are named nslab-PID-bench-*
and removed at the end.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout


def link(tmp, tag, delay, jitter, loss):
    a, b = f"{tag}-a", f"{tag}-b"
    for ns in (a, b):
        sh("ip", "netns", "add", ns)
    config = os.path.join(tmp, f"{tag}.json")
    with open(config, "w") as f:
        json.dump({"links": [{"name": "bench", "a_netns": a, "a_dev": "eth0", "b_netns": b,
                              "b_dev": "eth0", "delay_ms": delay, "jitter_ms": jitter,
                              "loss": loss, "seed": 1}]}, f)
    ready, stats = os.path.join(tmp, f"{tag}.ready"), os.path.join(tmp, f"{tag}.stats")
    relay = subprocess.Popen([sys.executable, os.path.join(HERE, "relay.py"), "--config", config,
                              "--ready", ready, "--stats", stats])
    while not os.path.exists(ready):
        time.sleep(0.05)
    for ns, addr in ((a, "10.99.0.1"), (b, "10.99.0.2")):
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    return a, b, relay, stats


def teardown(a, b, relay, stats):
    relay.send_signal(signal.SIGTERM)
    relay.wait(10)
    for ns in (a, b):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    with open(stats) as f:
        return json.load(f)["links"]["bench"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--delay-ms", type=float, default=20)
    p.add_argument("--jitter-ms", type=float, default=0)
    p.add_argument("--loss", type=float, default=0)
    p.add_argument("--seconds", type=int, default=5)
    args = p.parse_args()
    for tool in ("iperf3", "ping"):
        if not shutil.which(tool):
            sys.exit(f"relay_bench: {tool} is not installed")
    tmp = tempfile.mkdtemp(prefix="netsentry-relay-bench-")
    tag = f"nslab-{os.getpid()}-bench"
    out = {"load_average": os.getloadavg()}
    a, b, relay, stats = link(tmp, tag + "0", 0, 0, 0)
    try:
        server = subprocess.Popen(["ip", "netns", "exec", b, "iperf3", "-s", "-1", "-B",
                                   "10.99.0.2"], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        res = json.loads(sh("ip", "netns", "exec", a, "iperf3", "-c", "10.99.0.2", "-J", "-t",
                            str(args.seconds)))
        server.wait(10)
        end = res["end"]
        out["tcp_mbit_s"] = round(end["sum_received"]["bits_per_second"] / 1e6, 1)
        out["tcp_retransmits"] = end["sum_sent"].get("retransmits")
    finally:
        out["ceiling_run_relay"] = teardown(a, b, relay, stats)
    a, b, relay, stats = link(tmp, tag + "1", args.delay_ms, args.jitter_ms, args.loss)
    try:
        n = 400
        text = sh("ip", "netns", "exec", a, "ping", "-n", "-i", "0.01", "-c", str(n), "-W", "2",
                  "10.99.0.2")
        rtts = sorted(float(x) for x in re.findall(r"time=([\d.]+) ms", text))
        want = 2 * args.delay_ms
        out["ping"] = {"configured_rtt_ms": want, "sent": n, "received": len(rtts),
                       "loss": round(1 - len(rtts) / n, 4),
                       "configured_loss_both_ways": round(1 - (1 - args.loss) ** 2, 4),
                       "p50_ms": rtts[len(rtts) // 2], "p99_ms": rtts[int(0.99 * len(rtts))],
                       "mean_error_ms": round(sum(rtts) / len(rtts) - want, 3)}
    finally:
        out["delay_run_relay"] = teardown(a, b, relay, stats)
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
