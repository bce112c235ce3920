#!/bin/sh
# Browser test of the real binary: `netsentry monitor` replays the lab's synthetic capture (benign
# traffic, then a port scan at one minute of packet time and the other attacks) at 10x speed while
# the browser test checks the page: no console errors, the traffic chart gains points, the scan's
# alert appears and its details open, acknowledging works. Then SIGTERM must stop it with exit 0.
# Usage: tests/e2e/run_monitor.sh path/to/netsentry [screenshot.png]
# Exit 77 (skip) when node, chromium or the npm packages in web/ are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
netsentry=${1:?usage: run_monitor.sh path/to/netsentry [screenshot.png]}
shot=${2:-${NETSENTRY_SCREENSHOT:-/tmp/netsentry-monitor-dashboard.png}}

if ! command -v node >/dev/null 2>&1 || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ] ||
   [ ! -d "$root/web/node_modules/playwright-core" ] ||
   [ ! -f "$root/web/node_modules/plotly.js-basic-dist-min/plotly-basic.min.js" ]; then
  echo "skipped: needs node, chromium and 'npm ci' in web/" >&2
  exit 77
fi

work=$(mktemp -d)
# The monitor runs in the work folder: a ./netsentry.toml where the test was started (the source
# tree's) must be neither read nor rewritten by the page's suppression check.
netsentry=$(realpath "$netsentry")
shot=$(realpath -m "$shot")
cd "$work" || exit 1
trap 'rm -rf "$work"' EXIT
python3 "$root/scripts/lab" --synthetic --out "$work/lab" >/dev/null || exit 1
"$netsentry" monitor --pcap "$work/lab/capture.pcap" --speed 10 --stay --no-model \
  --listen 127.0.0.1:0 -o "$work/out" >"$work/monitor.log" 2>&1 &
pid=$!
url=""
i=0
while [ -z "$url" ] && [ $i -lt 300 ] && kill -0 "$pid" 2>/dev/null; do
  url=$(sed -n 's/.*dashboard on \(http[^ ]*\).*/\1/p' "$work/monitor.log" | head -n 1)
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$url" ]; then
  echo "monitor did not start its dashboard:" >&2
  cat "$work/monitor.log" >&2
  kill "$pid" 2>/dev/null
  exit 1
fi
NETSENTRY_URL="$url" NETSENTRY_SCREENSHOT="$shot" NETSENTRY_E2E_ALERT_TEXT="port_scan" NETSENTRY_E2E_PCAP=1 \
  node "$here/dashboard.spec.mjs"
status=$?
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ $rc -ne 0 ]; then
  echo "monitor exited $rc after SIGTERM:" >&2
  tail -20 "$work/monitor.log" >&2
  [ $status -eq 0 ] && status=$rc
fi
exit $status
