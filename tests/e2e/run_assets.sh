#!/bin/sh
# Runs tests/e2e/assets.spec.mjs (compressed and revalidated static files, the page's performance
# marks) against the demo server (synthetic data, see
# tests/server/demo_server_test.cpp). Usage: tests/e2e/run_assets.sh path/to/test_server
# Needs node, /usr/bin/chromium and `npm ci` done in web/. Exit 77 (skip) when any is missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
test_server=${1:?usage: run_assets.sh path/to/test_server}

if ! command -v node >/dev/null 2>&1 || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ] ||
   [ ! -d "$root/web/node_modules/playwright-core" ] ||
   [ ! -f "$root/web/node_modules/plotly.js-basic-dist-min/plotly-basic.min.js" ]; then
  echo "skipped: needs node, chromium and 'npm ci' in web/" >&2
  exit 77
fi

work=$(mktemp -d)
url_file="$work/url"
NETSENTRY_DEMO_SECONDS=300 NETSENTRY_DEMO_URL_FILE="$url_file" \
  "$test_server" --gtest_filter='DemoServer.*' >"$work/demo.log" 2>&1 &
demo=$!

i=0
while [ ! -f "$url_file" ] && [ $i -lt 200 ] && kill -0 "$demo" 2>/dev/null; do
  sleep 0.1
  i=$((i + 1))
done
if [ ! -f "$url_file" ]; then
  echo "demo server did not start:" >&2
  cat "$work/demo.log" >&2
  kill "$demo" 2>/dev/null
  rm -rf "$work"
  exit 1
fi

NETSENTRY_URL=$(cat "$url_file") node "$here/assets.spec.mjs"
status=$?

rm -f "$url_file"  # asks the demo to stop
wait "$demo"
demo_status=$?
if [ $demo_status -ne 0 ]; then
  echo "demo server failed:" >&2
  cat "$work/demo.log" >&2
  [ $status -eq 0 ] && status=$demo_status
fi
rm -rf "$work"
exit $status
