#!/bin/sh
# Browser test of the two-process usage: `netsentry monitor` replays the lab's synthetic capture at
# 10x speed into its SQLite store (no page of its own) while `netsentry dashboard --db` serves the
# page from that store, behind an auth token; the browser test logs in and checks it as in
# run_monitor.sh. Then SIGTERM must stop the
# dashboard with exit 0.
# Usage: tests/e2e/run_dashboard_db.sh path/to/netsentry [screenshot.png]
# Exit 77 (skip) when node, chromium or the npm packages in web/ are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
netsentry=${1:?usage: run_dashboard_db.sh path/to/netsentry [screenshot.png]}
shot=${2:-${NETSENTRY_SCREENSHOT:-/tmp/netsentry-db-dashboard.png}}

if ! command -v node >/dev/null 2>&1 || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ] ||
   [ ! -d "$root/web/node_modules/playwright-core" ] ||
   [ ! -f "$root/web/node_modules/plotly.js-basic-dist-min/plotly-basic.min.js" ]; then
  echo "skipped: needs node, chromium and 'npm ci' in web/" >&2
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$root/scripts/lab" --synthetic --out "$work/lab" >/dev/null || exit 1
"$netsentry" monitor --pcap "$work/lab/capture.pcap" --speed 10 --no-model --no-dashboard \
  -o "$work/out" >"$work/monitor.log" 2>&1 &
monitor=$!
i=0
while [ ! -f "$work/out/netsentry.db" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
# A token-protected dashboard: the page's login step (not the URL) carries the token.
token="e2e-token-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
"$netsentry" dashboard --db "$work/out/netsentry.db" --listen 127.0.0.1:0 --auth-token "$token" \
  >"$work/dash.log" 2>&1 &
pid=$!
url=""
i=0
while [ -z "$url" ] && [ $i -lt 300 ] && kill -0 "$pid" 2>/dev/null; do
  url=$(sed -n 's/.*\(http:[^ ]*\).*/\1/p' "$work/dash.log" | head -n 1)
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$url" ]; then
  echo "dashboard did not start:" >&2
  cat "$work/dash.log" "$work/monitor.log" >&2
  kill "$pid" "$monitor" 2>/dev/null
  exit 1
fi
NETSENTRY_URL="$url" NETSENTRY_TOKEN="$token" NETSENTRY_SCREENSHOT="$shot" NETSENTRY_E2E_ALERT_TEXT="port_scan" NETSENTRY_E2E_PCAP=1 \
  node "$here/dashboard.spec.mjs"
status=$?
kill -TERM "$monitor" 2>/dev/null
wait "$monitor"
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ $rc -ne 0 ]; then
  echo "dashboard exited $rc after SIGTERM:" >&2
  tail -20 "$work/dash.log" >&2
  [ $status -eq 0 ] && status=$rc
fi
exit $status
