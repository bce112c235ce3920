#!/usr/bin/env python3
"""Corrupt and hostile model bundles (issue 12, items 6 and 8): every one is refused at load with
one clear line naming the file and the field, by `evaluate` and by `monitor` alike; none crashes,
hangs or prints a stack trace.

Each case edits one field of a freshly trained small bundle (Isolation Forest + Random Forest, and
the LSTM and autoencoder when this build has LibTorch).

Usage: bundle_hardening_test.py NETSENTRY_BINARY   (run by ctest)
"""
import copy
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from learning_cli_test import write_original_csv  # noqa: E402

BINARY = None
TIMEOUT = 60  # a hang (cyclic trees) must become a failure, not a stuck test


def run(args, timeout=TIMEOUT):
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=timeout)


def has_torch():
    return "LibTorch: yes" in run(["--version"]).stdout


def write_pcap(path):
    """A few UDP exchanges: enough flows for monitor to score a batch."""
    def frame(src, dst, sport, dport, payload):
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes(src),
                         bytes(dst)) + udp
        return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip

    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t = 1_767_225_600
        for i in range(40):
            for data in (frame([10, 0, 0, 1], [10, 0, 0, 2], 40000 + i, 53, b"q" * 30),
                         frame([10, 0, 0, 2], [10, 0, 0, 1], 53, 40000 + i, b"a" * 90)):
                f.write(struct.pack("<IIII", t + i, 0, len(data), len(data)) + data)


class CorruptBundles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ns-bundle-hard-")
        cls.csv = os.path.join(cls.dir, "train.csv")
        write_original_csv(cls.csv, 1500, seed=3)
        cls.torch = has_torch()
        cls.good = os.path.join(cls.dir, "good")
        models = "if,rf,lstm,ae" if cls.torch else "if,rf"
        p = run(["train", "--data", cls.csv, "-o", cls.good, "--models", models, "--epochs", "2"],
                timeout=600)
        assert p.returncode == 0, p.stderr
        cls.pcap = os.path.join(cls.dir, "udp.pcap")
        write_pcap(cls.pcap)
        cls.count = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    # --- helpers ---

    def copy_bundle(self):
        CorruptBundles.count += 1
        d = os.path.join(self.dir, f"case{self.count}")
        shutil.copytree(self.good, d)
        return d

    def edit_json(self, bundle, name, fn):
        path = os.path.join(bundle, name)
        with open(path) as f:
            doc = json.load(f)
        fn(doc)
        with open(path, "w") as f:
            json.dump(doc, f)

    def assert_refused(self, bundle, *needles, monitor=True):
        """evaluate (and monitor) exit 1 at load with one line naming every needle."""
        commands = [["evaluate", "-m", bundle, "--data", self.csv]]
        if monitor:
            commands.append(["monitor", "--pcap", self.pcap, "--speed", "max", "--no-dashboard",
                             "--no-db", "-m", bundle, "-o", os.path.join(bundle, "out")])
        for cmd in commands:
            p = run(cmd)
            what = f"{cmd[0]}: exit {p.returncode}\nstderr: {p.stderr[-2000:]}"
            self.assertEqual(p.returncode, 1, what)
            self.assertNotIn("terminate called", p.stderr, what)
            self.assertNotIn("Exception raised from", p.stderr, what)  # a LibTorch backtrace
            errors = [line for line in p.stderr.splitlines() if "error" in line.lower()]
            self.assertTrue(errors, what)
            for needle in needles:
                self.assertTrue(any(needle in line for line in errors), f"{needle!r} missing: {what}")

    def rf_tree(self, doc, i=0):
        return doc["learner"]["gradient_booster"]["model"]["trees"][i]

    # --- the good bundle works in both commands ---

    def test_good_bundle_loads_in_evaluate_and_monitor(self):
        p = run(["evaluate", "-m", self.good, "--data", self.csv])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run(["monitor", "--pcap", self.pcap, "--speed", "max", "--no-dashboard", "--no-db",
                 "-m", self.good, "-o", os.path.join(self.dir, "good-out")])
        self.assertEqual(p.returncode, 0, p.stderr)

    # --- random_forest.json (XGBoost JSON) ---

    def test_forest_child_index_out_of_range(self):
        b = self.copy_bundle()

        def edit(doc):
            t = self.rf_tree(doc)
            t["left_children"][0] = 100000
        self.edit_json(b, "random_forest.json", edit)
        self.assert_refused(b, "random_forest.json", "left_children")

    def test_forest_split_feature_out_of_range(self):
        b = self.copy_bundle()

        def edit(doc):
            t = self.rf_tree(doc)
            t["split_indices"][0] = 5000
        self.edit_json(b, "random_forest.json", edit)
        self.assert_refused(b, "random_forest.json", "split_indices")

    def test_forest_cyclic_children(self):
        b = self.copy_bundle()

        def edit(doc):
            t = self.rf_tree(doc)
            left = t["left_children"]
            inner = [i for i in range(len(left)) if left[i] >= 0]
            # The deepest inner node's left child points back at the root.
            t["left_children"][inner[-1]] = 0
        self.edit_json(b, "random_forest.json", edit)
        self.assert_refused(b, "random_forest.json", "cycle")

    def test_forest_array_sizes_disagree(self):
        b = self.copy_bundle()

        def edit(doc):
            t = self.rf_tree(doc)
            t["split_conditions"] = t["split_conditions"][:1]
        self.edit_json(b, "random_forest.json", edit)
        self.assert_refused(b, "random_forest.json", "split_conditions")

    def test_forest_overflowing_split_number(self):
        b = self.copy_bundle()
        path = os.path.join(b, "random_forest.json")
        with open(path) as f:
            doc = json.load(f)
        t = self.rf_tree(doc)
        inner = [i for i in range(len(t["left_children"])) if t["left_children"][i] >= 0]
        t["split_conditions"][inner[0]] = 12345.5
        text = json.dumps(doc).replace("12345.5", "1e999", 1)
        with open(path, "w") as f:
            f.write(text)
        # JSON has no infinity: the parser refuses the overflowing number, naming the file.
        self.assert_refused(b, "random_forest.json")

    # --- isolation_forest.json ---

    def test_isolation_tree_cycle(self):
        b = self.copy_bundle()

        def edit(doc):
            t = doc["trees"][0]
            # Every inner node's left child is itself: walking never ends without the check.
            t["left"][0] = 0
        self.edit_json(b, "isolation_forest.json", edit)
        self.assert_refused(b, "isolation_forest.json")

    def test_isolation_leaf_value_overflowing(self):
        b = self.copy_bundle()
        path = os.path.join(b, "isolation_forest.json")
        with open(path) as f:
            doc = json.load(f)
        t = doc["trees"][0]
        leaf = t["feature"].index(-1)
        t["value"][leaf] = 4242.25
        with open(path, "w") as f:
            f.write(json.dumps(doc).replace("4242.25", "-1e999", 1))
        self.assert_refused(b, "isolation_forest.json")

    # --- manifest.json ---

    def test_manifest_is_a_directory(self):
        b = self.copy_bundle()
        os.remove(os.path.join(b, "manifest.json"))
        os.mkdir(os.path.join(b, "manifest.json"))
        self.assert_refused(b, "manifest.json")

    def test_manifest_model_file_outside_the_bundle(self):
        outside = os.path.join(self.dir, "outside.json")
        shutil.copy(os.path.join(self.good, "isolation_forest.json"), outside)
        for file in ("../outside.json", outside, "sub/../../outside.json"):
            b = self.copy_bundle()

            def edit(doc, file=file):
                doc["models"]["isolation_forest"]["file"] = file
            self.edit_json(b, "manifest.json", edit)
            self.assert_refused(b, "manifest.json", "isolation_forest", monitor=False)

    def test_manifest_model_file_is_a_symlink_out_of_the_bundle(self):
        b = self.copy_bundle()
        outside = os.path.join(self.dir, "outside-link-target.json")
        shutil.copy(os.path.join(b, "isolation_forest.json"), outside)
        os.remove(os.path.join(b, "isolation_forest.json"))
        os.symlink(outside, os.path.join(b, "isolation_forest.json"))
        self.assert_refused(b, "isolation_forest.json", monitor=False)

    def test_manifest_wrong_format(self):
        b = self.copy_bundle()
        self.edit_json(b, "manifest.json", lambda d: d.__setitem__("format", "something-else"))
        self.assert_refused(b, "manifest.json", "format", monitor=False)

    def test_manifest_threshold_overflowing(self):
        b = self.copy_bundle()
        path = os.path.join(b, "manifest.json")
        with open(path) as f:
            doc = json.load(f)
        doc["models"]["random_forest"]["threshold"] = 0.123456789
        with open(path, "w") as f:
            f.write(json.dumps(doc).replace("0.123456789", "1e999", 1))
        self.assert_refused(b, "manifest.json", monitor=False)

    # --- the ensemble (item 8: monitor refuses what evaluate refuses, at load) ---

    def test_ensemble_with_all_weights_zero(self):
        b = self.copy_bundle()

        def edit(doc):
            ens = doc["ensemble"]
            ens["weights"] = {name: 0.0 for name in doc["models"]}
        self.edit_json(b, "manifest.json", edit)
        self.assert_refused(b, "manifest.json", "weight")

    def test_ensemble_without_models(self):
        b = self.copy_bundle()

        def edit(doc):
            ens = doc["ensemble"]
            for key in ("models", "model_thresholds", "weights"):
                if key in ens:
                    ens[key] = [] if isinstance(ens[key], list) else {}
        self.edit_json(b, "manifest.json", edit)
        self.assert_refused(b, "manifest.json", "ensemble")

    def test_validation_rows_do_not_match_the_labels(self):
        b = self.copy_bundle()
        self.edit_json(b, "validation_scores.json", lambda doc: doc["rows"].pop())
        self.assert_refused(b, "validation_scores.json", "rows has")
        b = self.copy_bundle()
        self.edit_json(b, "validation_scores.json", lambda doc: doc["rows"].__setitem__(0, -3))
        self.assert_refused(b, "validation_scores.json", "rows must be row numbers")

    def test_manifest_without_models(self):
        b = self.copy_bundle()
        self.edit_json(b, "manifest.json", lambda d: d.__setitem__("models", {}))
        self.assert_refused(b, "manifest.json", "model")

    # --- LibTorch models ---

    def test_lstm_absurd_hidden_size(self):
        if not self.torch:
            self.skipTest("this build has no LibTorch")
        b = self.copy_bundle()
        self.edit_json(b, "lstm.json", lambda d: d["options"].__setitem__("hidden_size", 10**8))
        self.assert_refused(b, "lstm.json", "hidden_size")

    def test_autoencoder_parameters_truncated(self):
        if not self.torch:
            self.skipTest("this build has no LibTorch")
        b = self.copy_bundle()
        path = os.path.join(b, "autoencoder.pt")
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        self.assert_refused(b, "autoencoder.pt")

    def test_autoencoder_layer_widths_do_not_match_the_parameters(self):
        if not self.torch:
            self.skipTest("this build has no LibTorch")
        b = self.copy_bundle()
        self.edit_json(b, "autoencoder.json",
                       lambda d: d["options"].__setitem__("layer_widths", [3, 2]))
        self.assert_refused(b, "autoencoder")


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
