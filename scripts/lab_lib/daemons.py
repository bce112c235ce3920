"""Real Debian daemons for the lab's namespaces, each with a private configuration, data and pid
files in the lab's temporary folder: nothing under /etc, /var or /run is read for configuration or
written (sshd's privilege-separation folder /run/sshd excepted, created if missing). Each function
prepares what its daemon needs and returns the command that runs it in the foreground; the lab
starts it inside a namespace and stops it at the end (and `--cleanup` kills whatever is left in a
dead run's namespaces).

Which package provides what: nginx-light (TLS, HTTP/2), dnsmasq-base (DNS resolver and IPv6 router
advertisements for SLAAC), chrony (NTP server and clients, run with -x: they never set the clock),
mosquitto (MQTT), postgresql (a database server), python3-aiosmtpd (SMTP), dovecot-imapd (IMAP),
openssh-server (SSH, scp).
"""
import os
import pwd
import shutil
import subprocess

PG_BIN = "/usr/lib/postgresql/15/bin"
DEBIAN_PYTHON = "/usr/bin/python3"  # the first python3 on PATH may lack Debian's modules


def available(name):
    """Whether a daemon can run here (its program is installed)."""
    return {
        "nginx": shutil.which("nginx"),
        "dnsmasq": shutil.which("dnsmasq") or os.path.exists("/usr/sbin/dnsmasq"),
        "chronyd": shutil.which("chronyd") or os.path.exists("/usr/sbin/chronyd"),
        "mosquitto": shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto"),
        "postgres": os.path.exists(f"{PG_BIN}/postgres") and _user("postgres"),
        "smtp": _python_has("aiosmtpd"),
        "dovecot": (shutil.which("dovecot") or os.path.exists("/usr/sbin/dovecot"))
        and _user("dovecot") and _user("dovenull"),
        "sshd": os.path.exists("/usr/sbin/sshd") and shutil.which("ssh-keygen"),
    }[name]


def _user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _python_has(module):
    if not os.path.exists(DEBIAN_PYTHON):
        return False
    return subprocess.run([DEBIAN_PYTHON, "-c", f"import {module}"], capture_output=True,
                          timeout=30).returncode == 0


def _write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def make_certificate(tmp, name, hosts):
    """A self-signed certificate for `hosts` (DNS names and addresses); returns (cert, key)."""
    cert, key = os.path.join(tmp, f"{name}.crt"), os.path.join(tmp, f"{name}.key")
    san = ",".join(("IP:" if h[0].isdigit() or ":" in h else "DNS:") + h for h in hosts)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj",
                    f"/CN={hosts[0]}", "-addext", f"subjectAltName={san}", "-keyout", key, "-out",
                    cert], check=True, capture_output=True, timeout=60)
    return cert, key


def web_content(root, rng):
    """A small web site: pages, scripts, images of mixed sizes, and large files (sparse) for the
    downloads. Returns the list of asset paths a page load fetches."""
    assets = []
    for d in ("css", "js", "img", "files", "api", "stream"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    _write(os.path.join(root, "index.html"),
           "<html><head><title>intranet</title></head><body>" + "<p>news</p>" * 800
           + "</body></html>")
    for i in range(6):
        _write(os.path.join(root, "css", f"site{i}.css"), "a{color:red}\n" * rng.randint(200, 3000))
        assets.append(f"/css/site{i}.css")
    for i in range(8):
        _write(os.path.join(root, "js", f"app{i}.js"), "var x=1;\n" * rng.randint(1000, 30000))
        assets.append(f"/js/app{i}.js")
    for i in range(24):
        with open(os.path.join(root, "img", f"p{i}.jpg"), "wb") as f:
            f.write(os.urandom(rng.randint(3_000, 400_000)))
        assets.append(f"/img/p{i}.jpg")
    for name, size in (("update-64M.bin", 64 << 20), ("dataset-16M.csv", 16 << 20),
                       ("manual-4M.pdf", 4 << 20), ("video-256M.mp4", 256 << 20)):
        with open(os.path.join(root, "files", name), "wb") as f:
            f.truncate(size)  # sparse: no disk space, served as zeros
    _write(os.path.join(root, "api", "status.json"), '{"status":"ok","version":"2.4.1"}\n')
    return assets


def nginx(tmp, name, listen, cert, key, root, proxy_login=None):
    """nginx with TLS and HTTP/2 on port 443 of every address in `listen`, serving `root`;
    /stream/ is rate-limited (a long-lived stream), /upload accepts POSTs, /login is proxied to
    `proxy_login` (an HTTP backend) when given."""
    prefix = os.path.join(tmp, f"nginx-{name}")
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(prefix, d), exist_ok=True)
    listens = "".join(f"    listen {'[' + a + ']' if ':' in a else a}:443 ssl http2;\n"
                      for a in listen)
    login = (f"    location = /login {{ proxy_pass http://{proxy_login}:80; }}\n"
             if proxy_login else "")
    conf = _write(os.path.join(prefix, "nginx.conf"), f"""daemon off;
master_process on;
worker_processes 1;
user root;
pid {prefix}/nginx.pid;
error_log stderr error;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  default_type application/octet-stream;
  types {{ text/html html; text/css css; application/javascript js; image/jpeg jpg;
           application/json json; }}
  sendfile off;
  keepalive_timeout 30s;
  keepalive_requests 200;
  client_body_timeout 30s;
  client_header_timeout 30s;
  server {{
{listens}    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls:1m;
    root {root};
    location / {{ }}
    location /stream/ {{ limit_rate 192k; }}
    location = /upload {{ client_max_body_size 16m; return 204; }}
    location /api/ {{ default_type application/json; return 200 '{{"ok":true}}'; }}
    location /updates/ {{ default_type application/json; return 200 '{{"next":30,"tasks":[]}}'; }}
{login}  }}
}}
""")
    return ["nginx", "-e", "stderr", "-p", prefix, "-c", conf]


def dnsmasq(tmp, iface, listen, upstream, forward_zones, prefix6):
    """dnsmasq as the network's caching resolver (queries forwarded to `upstream`, or per zone to
    `forward_zones`) and IPv6 router advertisements for `prefix6` (SLAAC, stateless DHCPv6 for the
    DNS server; router lifetime 0: it is not a default router)."""
    lines = ["port=53", "bind-interfaces", f"interface={iface}", "no-resolv", "no-hosts",
             "no-poll", "user=root", f"pid-file={tmp}/dnsmasq.pid", "cache-size=500",
             f"dhcp-leasefile={tmp}/dnsmasq.leases", "enable-ra",
             f"dhcp-range={prefix6},ra-stateless,64,1h", f"ra-param={iface},60,0",
             f"dhcp-option=option6:dns-server,[{listen[-1]}]", f"server={upstream}"]
    lines += [f"listen-address={a}" for a in listen]
    lines += [f"server=/{zone}/{addr}" for zone, addr in forward_zones]
    conf = _write(os.path.join(tmp, "dnsmasq.conf"), "\n".join(lines) + "\n")
    return ["dnsmasq", "-k", "-C", conf]


def chrony_server(tmp, bind, allow):
    conf = _write(os.path.join(tmp, "chrony-server.conf"),
                  f"local stratum 8\nbindaddress {bind}\n" + "".join(f"allow {a}\n" for a in allow)
                  + f"cmdport 0\nbindcmdaddress /\npidfile {tmp}/chrony-server.pid\n")
    return ["chronyd", "-x", "-d", "-u", "root", "-f", conf]


def chrony_client(tmp, name, server, minpoll, maxpoll):
    """An NTP client polling `server` every 2^minpoll..2^maxpoll s; -x: it never sets the clock."""
    conf = _write(os.path.join(tmp, f"chrony-{name}.conf"),
                  f"server {server} iburst minpoll {minpoll} maxpoll {maxpoll}\n"
                  f"cmdport 0\nbindcmdaddress /\npidfile {tmp}/chrony-{name}.pid\n")
    return ["chronyd", "-x", "-d", "-u", "root", "-f", conf]


def mosquitto(tmp, listen):
    conf = _write(os.path.join(tmp, "mosquitto.conf"),
                  "per_listener_settings false\nallow_anonymous true\npersistence false\n"
                  "user root\nlog_dest stderr\nlog_type error\n"
                  + "".join(f"listener 1883 {a}\n" for a in listen))
    return ["mosquitto", "-c", conf]


def postgres_init(tmp, password):
    """initdb of a private cluster (owned by the postgres user, in the lab's temporary folder);
    returns (data dir, socket dir)."""
    user = _user("postgres")
    base = os.path.join(tmp, "pg")
    os.makedirs(base, exist_ok=True)
    os.chown(base, user.pw_uid, user.pw_gid)
    pwfile = _write(os.path.join(base, "pw"), password + "\n", 0o600)
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    data = os.path.join(base, "data")
    subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", data, "-U", "lab",
                    "-A", "scram-sha-256", f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8",
                    "--locale=C"], check=True, capture_output=True, timeout=180)
    with open(os.path.join(data, "pg_hba.conf"), "a") as f:
        f.write("host all all 10.77.0.0/16 scram-sha-256\nhost all all fd77::/64 scram-sha-256\n")
    return data, base


def postgres(data, sockdir, listen):
    return ["runuser", "-u", "postgres", "--", f"{PG_BIN}/postgres", "-D", data, "-c",
            f"listen_addresses={','.join(listen)}", "-c", "port=5432", "-c",
            f"unix_socket_directories={sockdir}", "-c", "fsync=off", "-c", "shared_buffers=16MB",
            "-c", "max_connections=40", "-c", "logging_collector=off", "-c", "log_min_messages=fatal"]


def smtp(bind):
    """An SMTP server (aiosmtpd) that accepts every message and discards it."""
    return [DEBIAN_PYTHON, "-m", "aiosmtpd", "-n", "-l", f"{bind}:25", "-c",
            "aiosmtpd.handlers.Sink"]


def dovecot(tmp, listen, users):
    """dovecot IMAP (port 143, plain logins) with a passwd file of `users` {name: password} and
    maildirs in the lab's temporary folder."""
    base = os.path.join(tmp, "dovecot")
    for d in ("run", "state", "mail"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    mail_user = _user("dovecot")
    os.chown(os.path.join(base, "mail"), mail_user.pw_uid, mail_user.pw_gid)
    passwd = _write(os.path.join(base, "users"),
                    "".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()), 0o644)
    conf = _write(os.path.join(base, "dovecot.conf"), f"""protocols = imap
listen = {", ".join(listen)}
base_dir = {base}/run
state_dir = {base}/state
log_path = /dev/stderr
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {mail_user.pw_uid}
mail_location = maildir:{base}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={base}/mail/%u
}}
""")
    return ["dovecot", "-F", "-c", conf]


def sshd(tmp, listen, client_key):
    """sshd with a throwaway host key; root logs in with the lab clients' key (an authorized keys
    file in the lab's folder, not ~/.ssh), passwords are tried by the brute-force phases and always
    fail (root may log in with a key only)."""
    key = os.path.join(tmp, "ssh_host_ed25519_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True,
                   capture_output=True, timeout=30)
    authorized = os.path.join(tmp, "authorized_keys")
    shutil.copyfile(client_key + ".pub", authorized)
    os.chmod(authorized, 0o600)
    config = _write(os.path.join(tmp, "sshd_config"),
                    "".join(f"ListenAddress {a}\n" for a in listen)
                    + f"HostKey {key}\nPidFile {tmp}/sshd.pid\nAuthorizedKeysFile {authorized}\n"
                    "StrictModes no\nUsePAM no\nPasswordAuthentication yes\n"
                    "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
                    "MaxStartups 100:30:200\nMaxAuthTries 6\nLoginGraceTime 20\n"
                    "Subsystem sftp internal-sftp\n")
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    return ["/usr/sbin/sshd", "-D", "-e", "-f", config]


def client_key(tmp):
    key = os.path.join(tmp, "client_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True,
                   capture_output=True, timeout=30)
    return key
