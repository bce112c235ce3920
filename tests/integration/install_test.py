#!/usr/bin/env python3
"""netsentry installed outside the source tree, as a package and as a service would run it.

  * `cmake --install BUILD --prefix TMP/prefix` puts the binary, the LibTorch module, the page with
    Plotly inside it, the default model, the unit and the service's configuration in place;
  * from a folder outside the checkout, the installed `monitor --pcap` replays a capture with the
    installed default model and serves the page, Plotly and the API from the installed files;
  * the installed configuration file is accepted by `monitor --config`;
  * the systemd unit passes `systemd-analyze verify` and asks for nothing beyond CAP_NET_RAW and
    CAP_NET_ADMIN;
  * as an unprivileged user holding only those two capabilities (ambient, as the unit grants
    them), `monitor` captures live traffic in a private network namespace; without them it says
    how to get them;
  * CPack builds a .deb whose contents, control fields and maintainer scripts are what the
    service needs, and whose extracted tree runs by itself.
Usage: install_test.py NETSENTRY_BINARY   (run by ctest; needs root for the namespace and the
unprivileged user: skipped with exit 77 when not root)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BINARY = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else None
BUILD = os.path.dirname(BINARY) if BINARY else None
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Installed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="netsentry-install-")
        os.chmod(cls.tmp, 0o755)
        cls.prefix = os.path.join(cls.tmp, "prefix")
        # Run from a folder of its own: the install writes nothing where it is run from (a
        # checkout once got a stale packaging/netsentry.service that way).
        cls.install_cwd = os.path.join(cls.tmp, "install-cwd")
        os.makedirs(cls.install_cwd)
        subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix], check=True,
                       stdout=subprocess.DEVNULL, cwd=cls.install_cwd)
        cls.exe = os.path.join(cls.prefix, "bin", "netsentry")
        cls.capture = os.path.join(cls.tmp, "replay.pcap")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_capture.py"), "synthetic",
                        cls.capture, "--packets", "20000", "--flows", "400"], check=True,
                       stdout=subprocess.DEVNULL)
        # Everything below runs from here: nothing may come from the checkout or the build tree.
        cls.cwd = os.path.join(cls.tmp, "elsewhere")
        os.makedirs(cls.cwd)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_installed(self, args, **kw):
        env = dict(os.environ)
        env.pop("NETSENTRY_TORCH_MODULE", None)
        return subprocess.run([self.exe] + args, cwd=self.cwd, env=env, capture_output=True,
                              text=True, **kw)

    def test_layout(self):
        for rel in ("bin/netsentry", "lib/netsentry/libnetsentry_torch.so",
                    "share/netsentry/web/index.html", "share/netsentry/web/app.js",
                    "share/netsentry/web/vendor/plotly-basic.min.js",
                    "share/netsentry/models/default/manifest.json",
                    "share/netsentry/models/default/MODEL_CARD.md",
                    "share/doc/netsentry/README.md", "lib/systemd/system/netsentry.service",
                    "etc/netsentry/netsentry.toml"):
            self.assertTrue(os.path.isfile(os.path.join(self.prefix, rel)), rel)
        self.assertFalse(os.path.exists(os.path.join(self.prefix, "share/netsentry/web/node_modules")))
        self.assertEqual(os.listdir(self.install_cwd), [])
        # One source for the unit: the template; no generated copy is kept in the checkout.
        self.assertFalse(os.path.exists(os.path.join(ROOT, "packaging", "netsentry.service")))
        with open(os.path.join(self.prefix, "etc/netsentry/netsentry.toml")) as f:
            self.assertIn('\nout="/var/lib/netsentry"\n', f.read())

    def test_monitor_replays_and_serves_the_page_from_the_install(self):
        port = free_port()
        out = os.path.join(self.tmp, "replay-out")
        env = dict(os.environ)
        env.pop("NETSENTRY_TORCH_MODULE", None)
        proc = subprocess.Popen([self.exe, "monitor", "--pcap", self.capture, "--speed", "max", "-o",
                                 out, "--listen", f"127.0.0.1:{port}", "--stay"], cwd=self.cwd,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: get(base + "/api/stats")[0] == 200, 60, "the API")
            status, page = get(base + "/")
            self.assertEqual(status, 200)
            self.assertIn(b"netsentry", page)
            status, plotly = get(base + "/vendor/plotly.min.js")
            self.assertEqual(status, 200)
            self.assertGreater(len(plotly), 100_000)
            # The bundle loads beside the replay (about a second); the API names it once loaded.
            wait_for(lambda: json.loads(get(base + "/api/models")[1]).get("bundle_path"), 60,
                     "the model's description in /api/models")
            models = json.loads(get(base + "/api/models")[1])
            self.assertEqual(os.path.realpath(models["bundle_path"]),
                             os.path.realpath(os.path.join(self.prefix,
                                                           "share/netsentry/models/default")))
            def flows_written():
                path = os.path.join(out, "flows.csv")
                if not os.path.exists(path):
                    return False
                with open(path) as f:
                    return sum(1 for _ in f) > 100
            wait_for(flows_written, 60, "flows.csv")
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)

    def test_help_names_the_installed_paths(self):
        p = self.run_installed(["monitor", "--help"], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        text = " ".join(p.stdout.split())  # CLI11 wraps long descriptions
        share = os.path.join(self.prefix, "share/netsentry")
        self.assertIn(f"(default: {share}/models/default when present)", text)
        self.assertIn(f"(default: {share}/web)", text)
        p = self.run_installed(["--help"], timeout=60)
        self.assertIn(f"the service reads {self.prefix}/etc/netsentry/netsentry.toml",
                      " ".join(p.stdout.split()))

    def test_installed_configuration_is_accepted(self):
        out = os.path.join(self.tmp, "config-out")
        p = self.run_installed(["--config",
                                os.path.join(self.prefix, "etc/netsentry/netsentry.toml"),
                                "monitor", "--pcap", self.capture, "--speed", "max", "-o", out,
                                "--no-dashboard"], timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.isfile(os.path.join(out, "flows.csv")))

    def test_unit_is_valid_and_least_privileged(self):
        unit = os.path.join(self.prefix, "lib/systemd/system/netsentry.service")
        with open(unit) as f:
            text = f.read()
        settings = {}
        for line in text.splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                settings.setdefault(key, []).append(value)
        self.assertEqual(settings["User"], ["netsentry"])
        self.assertEqual(settings["AmbientCapabilities"], ["CAP_NET_RAW CAP_NET_ADMIN"])
        self.assertEqual(settings["CapabilityBoundingSet"], ["CAP_NET_RAW CAP_NET_ADMIN"])
        for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp"):
            self.assertIn(key, settings)
        # Suppression rules saved from the page are written beside the configuration.
        self.assertEqual(settings["ReadWritePaths"], [f"{self.prefix}/etc/netsentry"])
        self.assertEqual(settings["ExecStart"],
                         [f"{self.exe} --config {self.prefix}/etc/netsentry/netsentry.toml monitor"])
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed")
        # verify checks every setting's syntax and that ExecStart exists; the user need not.
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True,
                           text=True, timeout=60)
        problems = [l for l in (p.stdout + p.stderr).splitlines()
                    if l.strip() and "netsentry" in l and "User" not in l]
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(problems, [])

    def capture_as_nobody(self, caps):
        out = os.path.join(self.tmp, "nobody-" + ("caps" if caps else "nocaps"))
        os.makedirs(out)
        os.chmod(out, 0o777)
        capset = "-all,+net_raw,+net_admin" if caps else "-all"
        # A private network namespace: its loopback is ours alone. Pings give the capture traffic.
        script = f"""
set -e
ip link set lo up
(for i in $(seq 1 30); do ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1 || true; sleep 0.1; done) &
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps={capset} \
  --ambient-caps={capset} --bounding-set=-all,+net_raw,+net_admin \
  {self.exe} monitor -i lo --duration 4 -o {out} --no-dashboard
wait
"""
        p = subprocess.run(["unshare", "-n", "bash", "-c", script], cwd=self.cwd,
                           capture_output=True, text=True, timeout=120)
        return p, out

    def test_captures_as_unprivileged_user_with_two_capabilities(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to create a namespace and switch users")
        p, out = self.capture_as_nobody(caps=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "flows.csv")) as f:
            rows = f.read().splitlines()
        self.assertGreater(len(rows), 1, p.stderr)
        self.assertTrue(any(",ICMP," in r or ",1," in r for r in rows[1:]), rows[:3])
        p, out = self.capture_as_nobody(caps=False)
        self.assertIn("setcap", p.stderr)

    def test_debian_package(self):
        if shutil.which("cpack") is None or shutil.which("dpkg-deb") is None:
            self.skipTest("cpack or dpkg-deb is not installed")
        pkgdir = os.path.join(self.tmp, "package")
        os.makedirs(pkgdir)
        p = subprocess.run(["cpack", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B",
                            pkgdir], capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        debs = [f for f in os.listdir(pkgdir) if f.endswith(".deb")]
        self.assertEqual(len(debs), 1, os.listdir(pkgdir))
        deb = os.path.join(pkgdir, debs[0])
        contents = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                                  check=True).stdout
        for path in ("./usr/bin/netsentry", "./usr/lib/netsentry/libnetsentry_torch.so",
                     "./usr/share/netsentry/web/vendor/plotly-basic.min.js",
                     "./usr/share/netsentry/models/default/manifest.json",
                     "./usr/lib/systemd/system/netsentry.service", "./etc/netsentry/netsentry.toml"):
            self.assertIn(path, contents)
        field = lambda name: subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True,
                                            text=True, check=True).stdout.strip()
        self.assertEqual(field("Package"), "netsentry")
        for dep in ("libpcap0.8", "libsqlite3-0", "adduser"):
            self.assertIn(dep, field("Depends"))
        control = os.path.join(self.tmp, "control")
        subprocess.run(["dpkg-deb", "-e", deb, control], check=True)
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/netsentry/netsentry.toml"])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(control, script)
            self.assertTrue(os.access(path, os.X_OK), script)
            subprocess.run(["sh", "-n", path], check=True)
        with open(os.path.join(control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("adduser --system", postinst)
        self.assertIn("chgrp netsentry /etc/netsentry", postinst)
        self.assertIn("chmod 0775 /etc/netsentry", postinst)
        # The unpacked tree runs by itself (paths relative to the binary).
        root = os.path.join(self.tmp, "unpacked")
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
        with open(os.path.join(root, "usr/lib/systemd/system/netsentry.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/bin/netsentry --config /etc/netsentry/netsentry.toml monitor",
                      unit)
        self.assertIn("\nReadWritePaths=/etc/netsentry\n", unit)
        out = os.path.join(self.tmp, "deb-out")
        p = subprocess.run([os.path.join(root, "usr/bin/netsentry"), "monitor", "--pcap",
                            self.capture, "--speed", "max", "-o", out, "--no-dashboard"],
                           cwd=self.cwd, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("share/netsentry/models/default", p.stderr + p.stdout)


if __name__ == "__main__":
    if BINARY is None:
        sys.exit("usage: install_test.py NETSENTRY_BINARY")
    unittest.main(verbosity=2)
