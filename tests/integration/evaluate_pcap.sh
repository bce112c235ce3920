#!/usr/bin/env bash
# End-to-end test of `netsentry evaluate --pcap` and `netsentry flows --labels` on the synthetic
# lab (scripts/lab --synthetic: ~103k packets, 9 attack episodes over 10 minutes, no root):
#  * rules only (--no-model): the scan, SYN flood, slowloris and brute-force episodes are detected
#    by alerts of their own kind, the false alerts stay bounded, --json has the documented keys,
#    --out keeps the replay's files and evaluation.json, the exit status is 0 with missed episodes;
#  * flows --labels marks every episode's flows with its kind and the benign clients' as BENIGN;
#    train --format flows learns from that file, and evaluate --pcap -m scores every flow;
#  * a malformed labels file fails with file:line:column.
# Usage: evaluate_pcap.sh NETSENTRY_BINARY   (run by ctest)
set -euo pipefail

NETSENTRY=${1:?usage: evaluate_pcap.sh NETSENTRY_BINARY}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

"$ROOT/scripts/lab" --synthetic --out "$TMP/lab" >/dev/null
LAB=$TMP/lab

echo "== evaluate --pcap --no-model --json"
"$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" --no-model \
  --json --out "$TMP/rules" >"$TMP/rules.json" || fail "evaluate --pcap exited $?"
python3 - "$TMP/rules.json" "$TMP/rules/evaluation.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert json.load(open(sys.argv[2])) == r, "evaluation.json differs from the printed JSON"
for key in ("capture", "labels", "model", "packets", "start", "end", "duration_s", "flow_level",
            "episodes", "attacks", "alerts", "false_alerts"):
    assert key in r, f"missing key {key}"
assert r["model"] is None and r["flow_level"]["ensemble"] is None, "rules only, nothing scored"
assert r["packets"] > 100000, r["packets"]
assert 590 <= r["duration_s"] <= 600, r["duration_s"]
by_kind = {e["kind"]: e for e in r["episodes"]}
assert len(r["episodes"]) == 9, len(r["episodes"])
# The host detectors' kinds: each of these episodes raised an alert of its own kind, promptly.
for kind in ("port_scan", "host_scan", "syn_flood", "slow_http", "brute_force"):
    e = by_kind[kind]
    assert e["detected"], f"{kind} not detected: {e}"
    assert e["alert_kinds"].get(kind, 0) >= 1, f"{kind}: no {kind} alert: {e['alert_kinds']}"
    # Unanswered probes (host scan, spoofed SYNs) end by the 120 s idle timeout before the
    # detectors see them; answered ones (the port scan's RSTs) end at once.
    assert 0 <= e["time_to_first_alert_s"] <= 125, f"{kind}: {e['time_to_first_alert_s']}"
    assert e["flows"] > 0 and e["packets"] > 0, e
for e in r["episodes"]:
    assert e["detected"] == (e["alerts"] > 0), e
    if not e["detected"]:
        assert e["time_to_first_alert_s"] is None, e
assert by_kind["port_scan"]["time_to_first_alert_s"] < 5, by_kind["port_scan"]
# The spoofed SYNs start flows until the flow table finds the victim flooded (within half a
# second), then go into flood summaries, whose packets count in the episode too.
assert 1000 < by_kind["syn_flood"]["flows"] < 5000, by_kind["syn_flood"]
assert by_kind["syn_flood"]["packets"] > 25000, by_kind["syn_flood"]
assert by_kind["port_scan"]["flows"] >= 1000, by_kind["port_scan"]["flows"]
assert r["attacks"]["detected"] >= 5, r["attacks"]
# No detector of an attack kind fires on the benign traffic; what is false comes from the volume
# rules (the original's 100 kB/s limit is below the lab's benign peaks), a few per minute at most.
fa = r["false_alerts"]
attack_kinds = {"port_scan", "host_scan", "syn_flood", "udp_flood", "brute_force", "slow_http"}
assert not attack_kinds & set(fa["by_kind"]), fa
assert fa["total"] == sum(fa["by_kind"].values()), fa
assert fa["per_hour"] <= 300, fa
a = r["alerts"]
assert a["distinct"] == a["attributed"] + a["coinciding"] + fa["total"], a
print("rules only:", r["attacks"], "false alerts", fa)
EOF
for f in flows.csv alerts.csv evaluation.json; do
  [ -s "$TMP/rules/$f" ] || fail "--out: $f missing"
done

echo "== evaluate --pcap text report"
"$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" --no-model \
  >"$TMP/rules.txt" || fail "text report exited $?"
grep -q "^--- attack level: [5-9] of 9 episodes detected" "$TMP/rules.txt" ||
  fail "no attack-level summary: $(cat "$TMP/rules.txt")"
grep -q "^false alerts: " "$TMP/rules.txt" || fail "no false-alert line"
grep -q "^brute_force .* yes " "$TMP/rules.txt" || fail "brute force row not detected"

echo "== flows --labels"
"$NETSENTRY" flows "$LAB/capture.pcap" --labels "$LAB/labels.csv" -o "$TMP/flows.csv" \
  2>"$TMP/flows.err" || fail "flows --labels exited $?"
grep -q "^labels (" "$TMP/flows.err" || fail "no label summary: $(cat "$TMP/flows.err")"
python3 - "$TMP/flows.csv" <<'EOF'
import collections, csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert rows and list(rows[0])[-1] == "Label", list(rows[0])[-5:]
labels = collections.Counter(r["Label"] for r in rows)
for kind in ("port_scan", "host_scan", "syn_flood", "udp_flood", "icmp_flood", "slow_http",
             "brute_force", "exfiltration", "c2_beacon"):
    assert labels[kind] > 0, f"no {kind} flows: {labels}"
attackers = {"10.77.0.66", "10.77.0.67", "10.77.0.68", "10.77.0.69", "10.77.0.70", "10.77.0.74"}
benign_clients = {"10.77.0.%d" % i for i in range(10, 20)}
for r in rows:
    ends = {r["src_ip"], r["dst_ip"]}
    if ends & benign_clients:
        assert r["Label"] == "BENIGN", r
    if r["Label"] != "BENIGN":
        assert ends & attackers or r["src_ip"].startswith(("198.18.", "198.19.")), r
print("flows by label:", dict(labels))
EOF

echo "== train on the labelled flows, evaluate --pcap with the model"
"$NETSENTRY" -q train --data "$TMP/flows.csv" --format flows --models if,rf -o "$TMP/model" \
  --json >"$TMP/train.json" 2>"$TMP/train.err" || fail "train: $(tail -3 "$TMP/train.err")"
"$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" -m "$TMP/model" \
  --json >"$TMP/model.json" || fail "evaluate --pcap -m exited $?"
python3 - "$TMP/model.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
fl = r["flow_level"]
assert r["model"], r["model"]
# Flows the models do not judge alone (one-packet flows such as a flood's spoofed SYNs, TCP
# remnants, ordinary protocols) are unscored: they count through the host detectors.
assert fl["scored"] and 0 < fl["unscored"] < fl["flows"], fl
assert fl["flows"] == sum(fl["by_label"].values()), fl
e = fl["ensemble"]
n = sum(sum(row) for row in e["confusion_matrix"])
assert n == fl["flows"] - fl["unscored"], (n, fl["flows"], fl["unscored"])
assert e["support"]["attack"] > 0 and e["support"]["normal"] > 0, e
# Trained on this very capture: the model must separate its flows far better than chance.
assert e["roc_auc"] > 0.9, e["roc_auc"]
print("flow level:", {k: e[k] for k in ("precision", "recall", "f1", "roc_auc")})
EOF
"$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" -m "$TMP/model" \
  >"$TMP/model.txt"
grep -q "confusion matrix" "$TMP/model.txt" || fail "no flow-level report"

echo "== the site baseline: learned from the capture, or one monitor saved (--baseline-dir)"
# monitor learns this network's baseline beside the model from the first minute and refits it
# every minute; the one it saves at the end is what --baseline-dir reads. --site-typical 99: the
# baseline overrules every flagged flow below its 99th percentile (50, the default, overrules
# none of this capture's).
"$NETSENTRY" monitor --pcap "$LAB/capture.pcap" --speed max -m "$TMP/model" --warmup 1 \
  --site-typical 99 -o "$TMP/mon" 2>"$TMP/mon.err" || fail "monitor: $(tail -3 "$TMP/mon.err")"
[ -s "$TMP/mon/baseline/manifest.json" ] || fail "monitor saved no baseline: $(ls "$TMP/mon")"
saved_sum() { (cd "$TMP/mon/baseline" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(saved_sum)
"$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" -m "$TMP/model" \
  --warmup 1 --site-typical 99 --json >"$TMP/learned.json" 2>"$TMP/learned.err" ||
  fail "evaluate --warmup 1: $(tail -3 "$TMP/learned.err")"
"$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" -m "$TMP/model" \
  --warmup 1 --json >"$TMP/median.json" || fail "evaluate --warmup 1 (--site-typical 50)"
# --warmup 20: the copy is used as loaded for the whole capture (no refit in its 10 minutes).
"$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" -m "$TMP/model" \
  --baseline-dir "$TMP/mon/baseline" --warmup 20 --json --out "$TMP/loaded" \
  >"$TMP/loaded.json" 2>"$TMP/loaded.err" || fail "--baseline-dir: $(tail -3 "$TMP/loaded.err")"
"$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" -m "$TMP/model" \
  --warmup 0 --json >"$TMP/off.json" || fail "evaluate --warmup 0 exited $?"
[ "$before" = "$(saved_sum)" ] || fail "--baseline-dir changed the saved baseline"
[ -s "$TMP/loaded/site-baseline/manifest.json" ] || fail "no copy in --out: $(ls "$TMP/loaded")"
python3 - "$TMP/learned.json" "$TMP/loaded.json" "$TMP/off.json" "$TMP/mon.err" \
  "$TMP/mon/baseline" "$TMP/loaded" "$TMP/median.json" <<'EOF'
import json, re, sys
learned, loaded, off = (json.load(open(p)) for p in sys.argv[1:4])
mon_log, saved, out = open(sys.argv[4]).read(), sys.argv[5], sys.argv[6]
median = json.load(open(sys.argv[7]))
def site(r):
    return r["flow_level"]["site_baseline"]
assert site(off)["state"] == "off", site(off)
assert site(learned)["state"].startswith("learned from the capture's first 1 minutes, refitted "), \
    site(learned)
assert site(loaded)["state"] == (f"this network's baseline, loaded from {out}/site-baseline "
                                 f"(a copy of {saved})"), site(loaded)
for r in (learned, loaded, off, median):
    s, fl = site(r), r["flow_level"]
    # The baseline only looks at what the model flagged.
    assert s["typical_here"]["benign"] <= s["flagged"]["benign"], s
    assert s["typical_here"]["attack"] <= s["flagged"]["attack"], s
    assert sum(s["typical_here"]["by_label"].values()) == \
        s["typical_here"]["benign"] + s["typical_here"]["attack"], s
    assert s["typical_here"]["by_label"].get("BENIGN", 0) == s["typical_here"]["benign"], s
assert site(off)["typical_here"]["benign"] == site(off)["typical_here"]["attack"] == 0, site(off)
# The same flags, checked by the site baseline or not.
assert site(learned)["flagged"] == site(off)["flagged"] == site(loaded)["flagged"], (site(learned), site(off), site(loaded))
# monitor's replay is the same engine with the same baseline timeline as --warmup 1: its detection
# line counts the same flows typical here.
m = re.search(r"(\d+) anomalous, (\d+) typical here", mon_log)
assert m, mon_log[-2000:]
typical = site(learned)["typical_here"]
assert int(m.group(2)) == typical["benign"] + typical["attack"], (m.group(0), typical)
assert int(m.group(2)) > 0, "the baseline called no flagged flow typical: nothing was checked"
# The same baselines, asked for flows as ordinary as this network's median flow: fewer of them.
t50, t99 = site(median)["typical_here"], typical
assert t50["benign"] <= t99["benign"] and t50["attack"] < t99["attack"], (t50, t99)
print("site baseline:", {k: (site(r)["state"][:40], site(r)["typical_here"])
                         for k, r in (("learned", learned), ("median", median), ("loaded", loaded),
                                      ("off", off))})
EOF
if "$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" --no-model \
  --baseline-dir "$TMP/mon/baseline" >/dev/null 2>"$TMP/bd1.err"; then
  fail "--baseline-dir without a model was accepted"
fi
grep -q "needs a model" "$TMP/bd1.err" || fail "message: $(cat "$TMP/bd1.err")"
mkdir -p "$TMP/empty"
if "$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" \
  -m "$TMP/model" --baseline-dir "$TMP/empty" >/dev/null 2>"$TMP/bd2.err"; then
  fail "an empty --baseline-dir was accepted"
fi
grep -q "no saved baseline there" "$TMP/bd2.err" || fail "message: $(cat "$TMP/bd2.err")"
cp -r "$TMP/mon/baseline" "$TMP/broken"
echo '{"format": "netsentry-bundle", "version": 999}' >"$TMP/broken/manifest.json"
if "$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" \
  -m "$TMP/model" --baseline-dir "$TMP/broken" >/dev/null 2>"$TMP/bd3.err"; then
  fail "a broken --baseline-dir was accepted"
fi
grep -q "not a usable baseline" "$TMP/bd3.err" || fail "message: $(cat "$TMP/bd3.err")"

echo "== errors"
printf 'kind,src,dst,start,end\nport_scan,10.77.0.666,,1,2\n' >"$TMP/bad.csv"
if "$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$TMP/bad.csv" --no-model \
  >/dev/null 2>"$TMP/bad.err"; then
  fail "a bad labels file was accepted"
fi
grep -q "bad.csv:2:11: src \"10.77.0.666\"" "$TMP/bad.err" || fail "message: $(cat "$TMP/bad.err")"
if "$NETSENTRY" -q evaluate --pcap "$LAB/capture.pcap" --labels "$LAB/labels.csv" \
  >/dev/null 2>"$TMP/nomodel.err"; then
  fail "neither -m nor --no-model was accepted"
fi
grep -q -- "--no-model" "$TMP/nomodel.err" || fail "message: $(cat "$TMP/nomodel.err")"
echo "PASS"
