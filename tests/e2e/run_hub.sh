#!/bin/sh
# Browser test of `netsentry hub` with two sensors: a private nats-server (JetStream, free loopback
# port), two sensors replaying different generated captures with --publish, and the hub serving
# the page; tests/e2e/hub.spec.mjs checks the sensor selector, the per-sensor health table and that
# choosing a sensor filters the panels. Then SIGTERM must stop the hub with exit 0.
# Usage: tests/e2e/run_hub.sh path/to/netsentry [screenshot.png]
# Exit 77 (skip) when node, chromium, nats-server or the npm packages in web/ are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
netsentry=${1:?usage: run_hub.sh path/to/netsentry [screenshot.png]}
shot=${2:-${NETSENTRY_SCREENSHOT:-/tmp/netsentry-hub.png}}
nats=$(command -v nats-server || echo /usr/sbin/nats-server)

if ! command -v node >/dev/null 2>&1 || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ] ||
   [ ! -x "$nats" ] || [ ! -d "$root/web/node_modules/playwright-core" ] ||
   [ ! -f "$root/web/node_modules/plotly.js-basic-dist-min/plotly-basic.min.js" ]; then
  echo "skipped: needs node, chromium, nats-server and 'npm ci' in web/" >&2
  exit 77
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$nats" -js -a 127.0.0.1 -p "$port" -sd "$work/js" >"$work/nats.log" 2>&1 &
natspid=$!
trap 'kill "$natspid" 2>/dev/null; wait "$natspid" 2>/dev/null; rm -rf "$work"' EXIT
url="nats://127.0.0.1:$port"

# Two captures: the same scanner seen by both sensors, and each sensor's own benign traffic.
python3 - "$root" "$work" <<'PY' || exit 1
import os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "integration"))
import monitor_replay_test as gen
for name, seed, victim in (("north", 1, "10.0.0.5"), ("south", 2, "10.0.0.7")):
    frames = []
    gen.benign(frames, seconds=30, rng=gen.random.Random(seed))
    gen.port_scan(frames, gen.T0 + 10, attacker="10.0.9.66", victim=victim, ports=150)
    gen.write_pcap(os.path.join(sys.argv[2], name + ".pcap"), frames)
PY

"$netsentry" hub --nats "$url" -o "$work/hub" --listen 127.0.0.1:0 >"$work/hub.log" 2>&1 &
hub=$!
for s in north south; do
  "$netsentry" monitor --pcap "$work/$s.pcap" --speed max --no-model -o "$work/$s" \
    --publish "$url" --sensor "$s" >"$work/$s.log" 2>&1 || { cat "$work/$s.log" >&2; exit 1; }
done
page=""
i=0
while [ -z "$page" ] && [ $i -lt 300 ] && kill -0 "$hub" 2>/dev/null; do
  page=$(sed -n 's/.*dashboard \(http:[^ ]*\).*/\1/p' "$work/hub.log" | head -n 1)
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$page" ]; then
  echo "hub did not start:" >&2
  cat "$work/hub.log" >&2
  kill "$hub" 2>/dev/null
  exit 1
fi
NETSENTRY_URL="$page" NETSENTRY_SCREENSHOT="$shot" node "$here/hub.spec.mjs"
status=$?
kill -TERM "$hub"
wait "$hub"
rc=$?
if [ $rc -ne 0 ]; then
  echo "hub exited $rc after SIGTERM:" >&2
  tail -20 "$work/hub.log" >&2
  [ $status -eq 0 ] && status=$rc
fi
exit $status
