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
