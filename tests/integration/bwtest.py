"""Helpers for Python integration tests: start bulwark through lib.sh's
conventions (data dir, port-0 listeners, ports.json) and speak raw HTTP over
TLS or plaintext sockets, so malformed requests reach the daemon byte for
byte."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("BULWARK_BIN") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "../../build/bulwark"))
FAILS = []


def ok(desc):
    print("ok: " + desc)


def check(desc, cond, detail=""):
    if cond:
        ok(desc)
    else:
        FAILS.append(desc)
        print("FAIL: %s %s" % (desc, detail), file=sys.stderr)


def finish(daemon=None):
    if daemon:
        daemon.cleanup(show_log=bool(FAILS))
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    sys.exit(0)


CONFIG = """server:
  data_dir: "{d}"
  workers: {workers}
  shutdown_timeout: {shutdown}
http:
  header_timeout: {header_timeout}
  body_timeout: {body_timeout}
  idle_timeout: {idle_timeout}
  max_body: {max_body}
{http_extra}
listeners:
  - {{name: admin, kind: admin, port: 0, tls: true}}
  - {{name: gateway, kind: gateway, port: 0, tls: true}}
  - {{name: plain, kind: admin, port: 0, tls: false}}
audit:
  sth_every_records: 100
testing:
  clock_control: true
"""


class Daemon:
    def __init__(self, **kw):
        self.dir = tempfile.mkdtemp(prefix="bwit.")
        self.log = self.dir + ".log"
        subprocess.run([BIN, "init", "--dir", self.dir], check=True,
                       stdout=subprocess.DEVNULL)
        self.token = open(os.path.join(self.dir, "bootstrap-token")).read().strip()
        self.ca = os.path.join(self.dir, "tls", "ca.crt")
        self.params = dict(d=self.dir, workers=2, shutdown="5s", header_timeout="5s",
                           body_timeout="5s", idle_timeout="10s", max_body="64k",
                           http_extra="")
        self.params.update(kw)
        self.write_config()
        self.proc = None

    def write_config(self, **kw):
        self.params.update(kw)
        with open(os.path.join(self.dir, "bulwark.yaml"), "w") as f:
            f.write(CONFIG.format(**self.params))

    def start(self):
        ports = os.path.join(self.dir, "run", "ports.json")
        if os.path.exists(ports):
            os.unlink(ports)
        self.proc = subprocess.Popen([BIN, "serve", "-c", os.path.join(self.dir, "bulwark.yaml")],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        for _ in range(300):
            if os.path.exists(ports) and os.path.getsize(ports) > 0:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited: " + open(self.log).read()[-2000:])
            time.sleep(0.05)
        p = json.load(open(ports))
        self.admin, self.gw, self.plain = p["admin"]["port"], p["gateway"]["port"], p["plain"]["port"]
        return self

    def worker_pid(self):
        # The keystore process starts first, the worker last.
        out = subprocess.run(["pgrep", "-n", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return int(out.stdout.split()[0]) if out.stdout.split() else None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        if not self.proc:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        self.proc = None
        return rc

    def log_text(self):
        try:
            return open(self.log, errors="replace").read()
        except OSError:
            return ""

    def cleanup(self, show_log=False):
        if self.proc:
            self.proc.kill()
            subprocess.run(["pkill", "-9", "-P", str(self.proc.pid)])
        if show_log:
            print("--- daemon log\n" + self.log_text()[-4000:], file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.unlink(self.log)
        except OSError:
            pass

    def connect(self, tls=True, port=None, timeout=10):
        port = port or (self.admin if tls else self.plain)
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context(cafile=self.ca)
            s = ctx.wrap_socket(s, server_hostname="localhost")
        return s


_BUFFERS = {}


def _recv(s):
    try:
        return s.recv(65536)
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, socket.timeout):
        return b""


def read_response(s):
    """Reads one HTTP/1.1 response (Content-Length framed), keeping any
    bytes of the next pipelined response for the next call. Returns
    (status, headers dict with lower-case names, body), or
    (None, {}, partial bytes) when the peer closed first."""
    buf = _BUFFERS.pop(id(s), b"")
    while b"\r\n\r\n" not in buf:
        chunk = _recv(s)
        if not chunk:
            return None, {}, buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    if 100 <= status < 200:
        _BUFFERS[id(s)] = rest
        return status, headers, b""
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = _recv(s)
        if not chunk:
            break
        rest += chunk
    if len(rest) > n:
        _BUFFERS[id(s)] = rest[n:]
    return status, headers, rest[:n]


def closed_by_peer(s, wait=3.0):
    """True when the peer closes the connection within `wait` seconds."""
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def exchange(d, raw, tls=False, timeout=10):
    s = d.connect(tls=tls, timeout=timeout)
    s.sendall(raw)
    r = read_response(s)
    s.close()
    return r
