#!/usr/bin/env python3
"""End-to-end tests of `netsentry train` and `evaluate`: a synthetic labelled CSV in the original
project's schema (attacks have a planted structure), bundle contents, the JSON report's shape,
plots, loader errors with file:line:column, bundle validation messages, and (when
../shared/datasets is present) NSL-KDD and the CIC-IDS2017 sample.

Usage: learning_cli_test.py NETSENTRY_BINARY   (run by ctest)
"""
import csv
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

BINARY = None
DATASETS = os.environ.get("NETSENTRY_DATASETS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")
MODELS = {"isolation_forest", "random_forest", "lstm", "autoencoder"}


def run(args, timeout=900):
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=timeout)


def has_torch():
    p = run(["--version"])
    return "LibTorch: yes" in p.stdout


def f32(x):
    """x rounded to a 32-bit float, as netsentry keeps scores and thresholds."""
    return struct.unpack("f", struct.pack("f", x))[0]


def write_original_csv(path, rows=3000, seed=1):
    """Normal: web/DNS traffic; attacks: floods (many small packets, short) and scans."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Duration", "PacketCount", "ByteCount", "SourcePort", "DestinationPort", "Protocol", "Label"])
        for _ in range(rows):
            if rng.random() < 0.3:
                kind = rng.choice(["flood", "scan"])
                if kind == "flood":
                    pk = rng.randint(500, 5000)
                    w.writerow([round(rng.uniform(0.5, 3), 3), pk, pk * rng.randint(40, 64),
                                rng.randint(1024, 65535), 80, "TCP", "Attack"])
                else:
                    w.writerow([round(rng.uniform(0, 0.01), 4), 1, 60, rng.randint(1024, 65535),
                                rng.randint(1, 1024), "TCP", "Attack"])
            else:
                proto = rng.choice(["TCP", "TCP", "UDP"])
                pk = rng.randint(4, 60)
                w.writerow([round(rng.uniform(0.05, 30), 3), pk, pk * rng.randint(200, 1400),
                            rng.randint(1024, 65535), 53 if proto == "UDP" else rng.choice([80, 443]),
                            proto, "Normal"])


class TrainAndEvaluate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ns-learn-")
        cls.train_csv = os.path.join(cls.dir, "train.csv")
        cls.test_csv = os.path.join(cls.dir, "test.csv")
        write_original_csv(cls.train_csv, 3000, seed=1)
        write_original_csv(cls.test_csv, 1000, seed=2)
        cls.bundle = os.path.join(cls.dir, "bundle")
        cls.models = "if,rf,lstm,ae" if has_torch() else "if,rf"
        cls.train = run(["train", "--data", cls.train_csv, "-o", cls.bundle, "--models", cls.models,
                         "--epochs", "3", "--seed", "7"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_train_prints_progress_reports_and_writes_a_bundle(self):
        self.assertEqual(self.train.returncode, 0, self.train.stderr)
        self.assertIn("precision", self.train.stdout)
        self.assertIn("confusion matrix", self.train.stdout)
        self.assertIn("ROC-AUC", self.train.stdout)
        self.assertIn("trained in", self.train.stderr)
        with open(os.path.join(self.bundle, "manifest.json")) as f:
            manifest = json.load(f)
        self.assertEqual(manifest["format_version"], 1)
        self.assertIn("BytesPerPacket", manifest["feature_names"])
        self.assertIn("PacketRate", manifest["feature_names"])
        for name, entry in manifest["models"].items():
            self.assertTrue(os.path.exists(os.path.join(self.bundle, entry["file"])), name)
            self.assertIn("threshold", entry)
        self.assertEqual(manifest["training"]["rows"], 3000)
        self.assertEqual(len(manifest["training"]["hash_fnv1a64"]), 16)

    def test_evaluate_json_has_every_model_and_the_ensemble(self):
        p = run(["evaluate", "-m", self.bundle, "--data", self.test_csv, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        expected = {"isolation_forest", "random_forest", "ensemble"} | (
            {"lstm", "autoencoder"} if "lstm" in self.models else set())
        self.assertEqual(set(j["models"]), expected)
        for name, m in j["models"].items():
            for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "confusion_matrix"):
                self.assertIn(key, m, name)
            (tn, fp), (fn, tp) = m["confusion_matrix"]
            self.assertEqual(tn + fp + fn + tp, 1000)
        # The planted structure is easy: the supervised forest and the ensemble must find it.
        self.assertGreater(j["models"]["random_forest"]["f1"], 0.95)
        self.assertGreater(j["models"]["ensemble"]["roc_auc"], 0.95)

    def test_cascade_scoring_keeps_the_ensembles_decisions(self):
        full = run(["evaluate", "-m", self.bundle, "--data", self.test_csv, "--json"])
        cascade = run(["evaluate", "-m", self.bundle, "--data", self.test_csv, "--json",
                       "--cascade"])
        self.assertEqual(cascade.returncode, 0, cascade.stderr)
        j, c = json.loads(full.stdout), json.loads(cascade.stdout)
        self.assertEqual(c["cascade"]["rows"], 1000)
        self.assertLessEqual(c["cascade"]["second_stage_rows"], 1000)
        self.assertEqual(c["models"]["ensemble"]["confusion_matrix"],
                         j["models"]["ensemble"]["confusion_matrix"])
        # A model the cascade skipped on some rows has no metrics of its own; the forests always do.
        self.assertIn("random_forest", c["models"])
        for name in c["cascade"]["models_without_metrics"]:
            self.assertNotIn(name, c["models"])
        p = run(["evaluate", "-m", self.bundle, "--data", self.test_csv, "--cascade", "--ablation"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--cascade and --ablation cannot be combined", p.stderr)

    def test_same_seed_gives_identical_scores(self):
        again = os.path.join(self.dir, "again")
        p = run(["train", "--data", self.train_csv, "-o", again, "--models", "if,rf", "--seed", "7", "--json"])
        q = run(["train", "--data", self.train_csv, "-o", again + "2", "--models", "if,rf", "--seed", "7", "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["models"], json.loads(q.stdout)["models"])

    def test_scores_file_has_one_row_per_record_and_every_model(self):
        out = os.path.join(self.dir, "scores.csv")
        p = run(["evaluate", "-m", self.bundle, "--data", self.test_csv, "--scores", out])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 1000)
        expected = {"isolation_forest", "random_forest", "ensemble"} | (
            {"lstm", "autoencoder"} if "lstm" in self.models else set())
        self.assertTrue(expected <= set(rows[0]), rows[0].keys())
        self.assertEqual({r["label"] for r in rows}, {"0", "1"})
        # Scores are real numbers that separate the planted attacks.
        attack = [float(r["random_forest"]) for r in rows if r["label"] == "1"]
        normal = [float(r["random_forest"]) for r in rows if r["label"] == "0"]
        self.assertGreater(sum(attack) / len(attack), sum(normal) / len(normal))

    def test_scores_file_names_each_records_file_and_line(self):
        # Flow records are scored in time order, which is not their order in the file (a flows
        # CSV is written as flows end): each scores row must say where its record is, so a user
        # can join the scores with the flows. The same records in the reverse order must get the
        # same scores by that join.
        rng = random.Random(5)
        header = ["start_time", "src_ip", "dst_ip", "Duration", "PacketCount", "ByteCount",
                  "Protocol", "Label"]

        def records(n):
            out = []
            for _ in range(n):
                attack = rng.random() < 0.3
                pk = rng.randint(500, 5000) if attack else rng.randint(4, 60)
                out.append([f"2026-12-07T01:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}."
                            f"{rng.randint(0, 999999):06d}Z", f"10.0.0.{rng.randint(1, 9)}",
                            "10.0.1.1", round(rng.uniform(0.5, 3) if attack else rng.uniform(0.05, 30), 3),
                            pk, pk * (rng.randint(40, 64) if attack else rng.randint(200, 1400)),
                            "TCP", "Attack" if attack else "BENIGN"])
            return out

        def write(path, rows):
            with open(path, "w", newline="") as f:
                csv.writer(f).writerows([header] + rows)

        d = os.path.join(self.dir, "scores-by-line")
        os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "train.csv"), records(600))
        test = records(300)
        forward, backward = os.path.join(d, "forward.csv"), os.path.join(d, "backward.csv")
        write(forward, test)
        write(backward, test[::-1])
        bundle = os.path.join(d, "bundle")
        p = run(["train", "--data", os.path.join(d, "train.csv"), "--format", "flows", "-o", bundle,
                 "--models", "if,rf", "--seed", "7"])
        self.assertEqual(p.returncode, 0, p.stderr)
        by_record = []
        for path in (forward, backward):
            out = path + ".scores.csv"
            p = run(["evaluate", "-m", bundle, "--data", path, "--format", "flows", "--scores", out])
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(path, newline="") as f:
                lines = {i: r for i, r in enumerate(csv.reader(f), start=1)}
            with open(out, newline="") as f:
                rows = list(csv.DictReader(f))
            self.assertEqual([r["row"] for r in rows], [str(i) for i in range(300)])
            self.assertEqual({r["file"] for r in rows}, {path})
            self.assertEqual(sorted(int(r["line"]) for r in rows), list(range(2, 302)))
            # Scored in time order, not the file's: the test means something only then.
            self.assertTrue(any(int(r["line"]) != i + 2 for i, r in enumerate(rows)),
                            "the rows were scored in the file's order")
            scores = {}
            for r in rows:
                record = lines[int(r["line"])]
                self.assertEqual(r["class"], record[-1])
                self.assertEqual(r["label"], "1" if record[-1] == "Attack" else "0")
                scores[tuple(record)] = (r["isolation_forest"], r["random_forest"])
            by_record.append(scores)
        self.assertEqual(by_record[0], by_record[1])

    def host_context_bundle(self):
        """A bundle whose LSTM reads the rows before each row (--lstm-context host; this data has
        no host column, so the whole file is one sequence), trained once."""
        out = os.path.join(self.dir, "host-context")
        if not os.path.exists(os.path.join(out, "manifest.json")):
            p = run(["train", "--data", self.train_csv, "-o", out, "--models", "rf,lstm",
                     "--epochs", "3", "--seed", "7", "--lstm-context", "host"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("lstm reads each row with its host's rows before it", p.stderr)
        return out

    def lstm_scores(self, bundle, csv_path):
        out = csv_path + ".scores-" + os.path.basename(bundle) + ".csv"
        p = run(["evaluate", "-m", bundle, "--data", csv_path, "--scores", out])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            return [float(r["lstm"]) for r in csv.DictReader(f)]

    def test_the_lstm_judges_each_row_alone_unless_asked_for_host_context(self):
        if "lstm" not in self.models:
            self.skipTest("built without LibTorch")
        # The same 1,000 rows in reverse order: a row judged alone keeps its score; a row judged
        # by the rows before it does not.
        with open(self.test_csv) as f:
            lines = f.readlines()
        reversed_csv = os.path.join(self.dir, "test-reversed.csv")
        with open(reversed_csv, "w") as f:
            f.writelines([lines[0]] + lines[1:][::-1])
        self.assertIn("lstm reads each row alone (--lstm-context alone)", self.train.stderr)
        host = self.host_context_bundle()
        for bundle, alone in ((self.bundle, True), (host, False)):
            with open(os.path.join(bundle, "lstm.json")) as f:
                options = json.load(f)["options"]
            self.assertEqual(options["sequence_length"], 1 if alone else 32, bundle)
            forward = self.lstm_scores(bundle, self.test_csv)
            backward = self.lstm_scores(bundle, reversed_csv)[::-1]
            # Equal up to the last bits of LibTorch's products over the rows in another order.
            same = sum(abs(a - b) <= 1e-5 * max(abs(a), abs(b)) for a, b in zip(forward, backward))
            if alone:
                self.assertEqual(same, len(forward), "a row judged alone must not depend on order")
            else:
                self.assertLess(same, len(forward) // 2, "host context must read the rows before")

    def test_validation_scores_are_what_the_models_give_those_rows_in_the_whole_file(self):
        # A row-sequence LSTM with host context scores a row by the rows before it; the validation
        # rows, a sparse sample of the file, are scored in the whole file's context, as evaluate
        # scores the file: the same float. The default LSTM judges each row alone, so train scores
        # the validation rows by themselves: LibTorch's products over another batch of rows may
        # differ in the last bits, as the autoencoder's plain scorer does.
        self.check_validation_scores(self.bundle, {"isolation_forest", "random_forest"} | (
            {"lstm", "autoencoder"} if "lstm" in self.models else set()), {"autoencoder", "lstm"})
        if "lstm" in self.models:
            self.check_validation_scores(self.host_context_bundle(), {"random_forest", "lstm"}, set())

    def check_validation_scores(self, bundle, expected, approximate):
        with open(os.path.join(bundle, "validation_scores.json")) as f:
            v = json.load(f)
        self.assertEqual(len(v["rows"]), len(v["y"]))
        out = os.path.join(self.dir, "whole-file-scores.csv")
        p = run(["evaluate", "-m", bundle, "--data", self.train_csv, "--scores", out])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(set(v["scores"]), expected)
        for name, scores in v["scores"].items():
            for i, r in enumerate(v["rows"]):
                self.assertEqual(rows[r]["row"], str(r))
                self.assertEqual(int(rows[r]["label"]), v["y"][i])
                what = f"{name}, validation row {i} (row {r} of the file)"
                if name in approximate:
                    self.assertAlmostEqual(scores[i], float(rows[r][name]),
                                           delta=1e-4 * max(1.0, abs(scores[i])), msg=what)
                else:  # the same computation: the same float, written exactly (--scores)
                    self.assertEqual(f32(scores[i]), f32(float(rows[r][name])), what)

    def test_tail_ensemble_trains_and_keeps_its_alert_rate(self):
        out = os.path.join(self.dir, "tail")
        p = run(["train", "--data", self.train_csv, "-o", out, "--models", "if,rf", "--seed", "7",
                 "--ensemble", "tail", "--alert-rate", "0.02", "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            ensemble = json.load(f)["ensemble"]
        self.assertEqual(ensemble["mode"], "tail")
        self.assertEqual(ensemble["tail"]["alert_rate"], 0.02)
        self.assertEqual(len(ensemble["tail"]["quantiles"]["random_forest"]), 257)
        self.assertGreater(json.loads(p.stdout)["models"]["ensemble"]["roc_auc"], 0.95)

    def test_a_bundle_from_before_the_max_mode_scores_in_it_from_its_kept_validation_scores(self):
        out = os.path.join(self.dir, "premax")
        # A low alert rate: the threshold lies above the forest's tied normal scores.
        p = run(["train", "--data", self.train_csv, "-o", out, "--models", "if,rf", "--seed", "7",
                 "--ensemble", "tail", "--alert-rate", "0.005"])
        self.assertEqual(p.returncode, 0, p.stderr)
        evaluate = ["evaluate", "-m", out, "--data", self.train_csv, "--ensemble", "max", "--json"]
        p = run(evaluate)
        self.assertEqual(p.returncode, 0, p.stderr)
        trained = json.loads(p.stdout)["models"]["ensemble"]
        manifest_path = os.path.join(out, "manifest.json")
        with open(manifest_path) as f:
            manifest = json.load(f)
        self.assertEqual(f32(trained["threshold"]), f32(manifest["ensemble"]["tail"]["max_threshold"]))
        self.assertNotEqual(manifest["ensemble"]["tail"]["max_threshold"],
                            manifest["ensemble"]["tail"]["threshold"])
        del manifest["ensemble"]["tail"]["max_threshold"]  # as a bundle from before the max mode
        with open(manifest_path, "w") as f:
            json.dump(manifest, f)
        p = run(evaluate)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("trained before the max mode", p.stderr)
        # Every validation row is kept here (fewer than the cap): the same threshold as train's.
        self.assertEqual(json.loads(p.stdout)["models"]["ensemble"], trained)
        # Older still: no validation scores either.
        os.remove(os.path.join(out, "validation_scores.json"))
        del manifest["validation_scores"]
        with open(manifest_path, "w") as f:
            json.dump(manifest, f)
        p = run(evaluate)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("keeps no validation scores", p.stderr)

    def test_torch_models_come_from_the_module_and_a_bad_module_is_named(self):
        if not has_torch():
            self.skipTest("built without LibTorch")
        env = dict(os.environ, NETSENTRY_TORCH_MODULE=os.path.join(self.dir, "missing.so"))
        p = subprocess.run([BINARY, "train", "--data", self.train_csv, "-o",
                            os.path.join(self.dir, "m"), "--models", "ae"],
                           capture_output=True, text=True, timeout=300, env=env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("missing.so", p.stderr)
        self.assertIn("was not found", p.stderr)
        # A shared library that is not our module is refused by name.
        libpcap = [line.split("=> ")[1] for line in subprocess.run(
            ["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout.splitlines()
            if line.strip().startswith("libpcap.so")][0]
        env["NETSENTRY_TORCH_MODULE"] = libpcap.strip()
        p = subprocess.run([BINARY, "evaluate", "-m", self.bundle, "--data", self.test_csv],
                           capture_output=True, text=True, timeout=300, env=env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("is not a netsentry LibTorch module", p.stderr)
        # Models without torch still work when the module is unusable.
        p = subprocess.run([BINARY, "train", "--data", self.train_csv, "-o",
                            os.path.join(self.dir, "m2"), "--models", "if,rf"],
                           capture_output=True, text=True, timeout=300, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_report_writes_plots_and_one_html_page(self):
        report = os.path.join(self.dir, "report")
        p = run(["evaluate", "-m", self.bundle, "--data", self.test_csv, "--report", report])
        self.assertEqual(p.returncode, 0, p.stderr)
        files = set(os.listdir(report))
        self.assertIn("report.html", files)
        self.assertIn("roc.svg", files)
        self.assertIn("confusion_ensemble.svg", files)
        with open(os.path.join(report, "report.html")) as f:
            html = f.read()
        self.assertNotIn("<script", html)

    def test_bad_row_is_reported_with_file_line_and_column(self):
        bad = os.path.join(self.dir, "bad.csv")
        with open(self.train_csv) as src, open(bad, "w") as dst:
            lines = src.readlines()
            parts = lines[5].split(",")
            parts[1] = "abc"
            lines[5] = ",".join(parts)
            dst.writelines(lines)
        p = run(["train", "--data", bad, "-o", os.path.join(self.dir, "x"), "--models", "if"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.csv:6:2", p.stderr)
        self.assertIn('"abc"', p.stderr)
        p = run(["train", "--data", bad, "-o", os.path.join(self.dir, "x"), "--models", "if", "--skip-bad-rows"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("skipped 1 malformed rows", p.stderr)

    def test_random_forest_options_are_checked_before_training_and_used(self):
        out = os.path.join(self.dir, "rf-bad")
        p = run(["train", "--data", self.train_csv, "-o", out, "--models", "if,rf", "--rf-features", "2"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("--rf-features 2: use sqrt or a number in (0, 1]", p.stderr)
        self.assertNotIn("trained in", p.stderr)  # nothing was trained first
        self.assertFalse(os.path.exists(out))
        shallow = os.path.join(self.dir, "rf-shallow")
        p = run(["train", "--data", self.train_csv, "-o", shallow, "--models", "rf", "--rf-depth", "1",
                 "--rf-features", "sqrt", "--rf-class-weight", "none", "--seed", "7"])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(shallow, "random_forest.json")) as f:
            trees = json.load(f)["learner"]["gradient_booster"]["model"]["trees"]
        self.assertTrue(trees)
        for t in trees:  # depth 1: a root and at most two leaves
            self.assertLessEqual(len(t["left_children"]), 3)
        # XGBoost's leaf rules reach it: a leaf needing a summed hessian of 10^6 allows no split; an
        # L2 weight of 10^6 on leaf values leaves them near 0.
        for flag, check in (("--rf-min-child-weight", lambda t: self.assertEqual(len(t["left_children"]), 1)),
                            ("--rf-lambda", lambda t: self.assertLess(max(abs(v) for v in t["base_weights"]), 1e-3))):
            out = os.path.join(self.dir, "rf" + flag)
            p = run(["train", "--data", self.train_csv, "-o", out, "--models", "rf", flag, "1000000", "--seed", "7"])
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(out, "random_forest.json")) as f:
                trees = json.load(f)["learner"]["gradient_booster"]["model"]["trees"]
            self.assertTrue(trees)
            for t in trees:
                check(t)

    def test_broken_bundle_says_what_does_not_match(self):
        broken = os.path.join(self.dir, "broken")
        shutil.copytree(self.bundle, broken)
        os.remove(os.path.join(broken, "random_forest.json"))
        p = run(["evaluate", "-m", broken, "--data", self.test_csv])
        self.assertEqual(p.returncode, 1)
        self.assertIn("random_forest.json", p.stderr)
        self.assertIn("missing", p.stderr)
        with open(os.path.join(self.bundle, "manifest.json")) as f:
            manifest = json.load(f)
        manifest["format_version"] = 99
        shutil.copy(os.path.join(self.bundle, "random_forest.json"), broken)
        with open(os.path.join(broken, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        p = run(["evaluate", "-m", broken, "--data", self.test_csv])
        self.assertEqual(p.returncode, 1)
        self.assertIn("format_version 99", p.stderr)
        p = run(["evaluate", "-m", os.path.join(self.dir, "nowhere"), "--data", self.test_csv])
        self.assertEqual(p.returncode, 1)
        self.assertIn("nowhere", p.stderr)


class RealDatasets(unittest.TestCase):
    def test_nsl_kdd_train_on_20_percent_evaluate_on_kddtest(self):
        d = os.path.join(DATASETS, "nsl-kdd")
        if not os.path.isdir(d):
            self.skipTest(f"{d} absent")
        out = tempfile.mkdtemp(prefix="ns-kdd-")
        try:
            p = run(["train", "--data", os.path.join(d, "KDDTrain+_20Percent.txt"), "--test-data",
                     os.path.join(d, "KDDTest+.txt"), "-o", out, "--models", "if,rf", "--json", "--threads", "2"])
            self.assertEqual(p.returncode, 0, p.stderr)
            j = json.loads(p.stdout)["models"]
            # Published and scikit-learn references are ~0.77-0.81 accuracy, ROC-AUC ~0.94-0.96.
            self.assertGreater(j["isolation_forest"]["roc_auc"], 0.9)
            self.assertGreater(j["random_forest"]["roc_auc"], 0.9)
            self.assertGreater(j["ensemble"]["accuracy"], 0.75)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def test_cic_sample_stratified_split(self):
        d = os.path.join(DATASETS, "cicids2017-improved-sample")
        if not os.path.isdir(d):
            self.skipTest(f"{d} absent")
        out = tempfile.mkdtemp(prefix="ns-cic-")
        dump = out + "-folds"
        try:
            p = run(["train", "--data", os.path.join(d, "*.csv"), "-o", out, "--models", "if,rf",
                     "--json", "--threads", "2", "--fusion-dump", dump])
            self.assertEqual(p.returncode, 0, p.stderr)
            j = json.loads(p.stdout)["models"]
            self.assertGreater(j["random_forest"]["f1"], 0.98)
            # The folds' inputs to the fusion search, replayed here, give the search's own figure
            # for the fusion it chose (manifest: training.ensemble_selection.best).
            with open(os.path.join(out, "manifest.json")) as f:
                selection = json.load(f)["training"]["ensemble_selection"]
            self.assertIn("equal-weight tail", selection["selection"])
            folds = []
            for n in range(selection["folds"]):
                with open(os.path.join(dump, f"fold-{n}.json")) as f:
                    folds.append(json.load(f))
            self.assertFalse(os.path.exists(os.path.join(dump, f"fold-{selection['folds']}.json")))
            best = selection["best"]
            self.assertAlmostEqual(replay_fusion(folds, best["mode"], best["weights"],
                                                 selection["fp_budget"]),
                                   best["mean_recall"], places=9)
            # Each of the other candidates on record too.
            for r in selection["top"][1:]:
                self.assertAlmostEqual(replay_fusion(folds, r["mode"], r["weights"],
                                                     selection["fp_budget"]),
                                       r["mean_recall"], places=9)
            self.assertIn("Portscan", folds[0]["family_names"])
        finally:
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(dump, ignore_errors=True)

    def test_fusion_dump_is_for_the_search_only(self):
        d = tempfile.mkdtemp(prefix="ns-dump-")
        try:
            data = os.path.join(d, "train.csv")
            write_original_csv(data, 300, seed=3)
            p = run(["train", "--data", data, "-o", os.path.join(d, "bundle"), "--models", "if,rf",
                     "--ensemble", "tail", "--fusion-dump", os.path.join(d, "folds")])
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("--fusion-dump is for --ensemble auto", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "folds")))
            self.assertFalse(os.path.exists(os.path.join(d, "bundle")))
        finally:
            shutil.rmtree(d, ignore_errors=True)


def replay_fusion(folds, mode, weights, budget):
    """Mean recall over held-out families of one candidate, from `train --fusion-dump` files
    (the judging ml::search_fusion does; see ml::fold_terms_json)."""
    hits = {}
    for f in folds:
        models = f["models"]
        total = sum(weights[m] for m in models)
        terms = f["terms"]["tail" if mode == "max" else mode]  # max reads the tail terms

        def fuse(part):
            rows = len(terms[part][0])
            out = [math.inf if mode == "max" else 0.0] * rows
            for i, m in enumerate(models):
                if weights[m] == 0:
                    continue
                share = weights[m] / total
                col = terms[part][i]
                for r in range(rows):
                    out[r] = min(out[r], col[r]) if mode == "max" else out[r] + share * col[r]
            if mode in ("tail", "max"):
                floor = math.log(f["tail_epsilon"])
                out = [1.0 - math.exp(max(v, floor)) for v in out]
            return out
        cal, test = fuse("calibrate"), fuse("test")
        if mode == "vote":
            threshold = 0.5
        else:
            normal = sorted(v for v, y in zip(cal, f["y_calibrate"]) if y == 0)
            threshold = normal[int(math.floor((1.0 - budget) * (len(normal) - 1)))]
        for v, y, fam in zip(test, f["y_test"], f["family_test"]):
            if y == 1:
                h = hits.setdefault(f["family_names"][fam], [0, 0])
                h[0] += v > threshold
                h[1] += 1
    return sum(h / n for h, n in hits.values()) / len(hits)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
