#!/usr/bin/python3
"""The gateway streams what its WAF does not need, and passes WebSockets
through, against real clients (curl over HTTP/1.1 and HTTP/2, Python's
websockets library from Debian) and real upstreams on loopback:

- a 20 MB download through a route whose max_response is 1 MiB (streamed,
  never buffered), over HTTP/1.1 and HTTP/2, byte-exact;
- a response whose first bytes reach the client while the upstream is
  still waiting (the upstream sends the rest only after the client saw
  the start: a buffering proxy would deadlock here);
- an upload the upstream starts receiving before the client finished
  sending (same trick the other way), with Content-Length and chunked,
  over HTTP/1.1 and HTTP/2; max_body still answers 413;
- WebSocket echo (text, 200 KB binary, subprotocol) through the gateway;
  a route without `websocket: true` does not upgrade; an idle tunnel is
  closed after websocket_idle_timeout.
"""
import asyncio
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import bwtest  # noqa: E402
from bwtest import check, finish  # noqa: E402

import websockets  # noqa: E402  (python3-websockets)

FIRST_SEEN = threading.Event()     # the client got the first response bytes
UPLOAD_STARTED = threading.Event()  # the upstream got the first body bytes
HANG = threading.Event()            # set at the end: hung requests return


def pattern(n):
    block = bytes(range(256)) * 256
    out = bytearray()
    while len(out) < n:
        out += block
    return bytes(out[:n])


def read_chunked(f):
    out = bytearray()
    while True:
        line = f.readline()
        size = int(line.split(b";")[0], 16)
        if size == 0:
            while f.readline() not in (b"\r\n", b""):
                pass
            return bytes(out)
        data = f.read(size)
        if not UPLOAD_STARTED.is_set():
            UPLOAD_STARTED.set()
        out += data
        f.read(2)


def serve_conn(conn):
    f = conn.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            method, path, _ = line.decode().split(" ", 2)
            hdrs = {}
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                k, v = h.decode().split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            if path.startswith("/s/bulk/"):
                n = int(path.rsplit("/", 1)[1])
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: %d\r\n\r\n" % n)
                if method != "HEAD":
                    conn.sendall(pattern(n))
            elif path.startswith("/slow/hang"):
                HANG.wait(8)  # longer than the route's read timeout
                return
            elif path.startswith("/s/dl"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                first = b"a" * 65536
                conn.sendall(b"%x\r\n%s\r\n" % (len(first), first))
                FIRST_SEEN.wait(15)
                rest = b"z" * 1000
                conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
            elif path.startswith("/s/up"):
                if hdrs.get("transfer-encoding", "").lower() == "chunked":
                    body = read_chunked(f)
                else:
                    n = int(hdrs.get("content-length", "0"))
                    body = bytearray()
                    while len(body) < n:
                        part = f.read1(min(65536, n - len(body)))
                        if not part:
                            return
                        UPLOAD_STARTED.set()
                        body += part
                out = json.dumps({"bytes": len(body),
                                  "sha": hashlib.sha256(body).hexdigest(),
                                  "te": hdrs.get("transfer-encoding", ""),
                                  "cl": hdrs.get("content-length", "")}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(out), out))
            else:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def http_upstream():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)

    def loop():
        while True:
            c, _ = ls.accept()
            threading.Thread(target=serve_conn, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return ls.getsockname()[1]


def ws_upstream():
    ready = threading.Event()
    port = []

    async def echo(ws, path=None):
        async for m in ws:
            await ws.send(m)

    async def main():
        srv = await websockets.serve(echo, "127.0.0.1", 0, subprotocols=["chat.v1"],
                                     max_size=1 << 20)
        port.append(srv.sockets[0].getsockname()[1])
        ready.set()
        await asyncio.Future()
    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    ready.wait(10)
    return port[0]


UP = http_upstream()
WS = ws_upstream()
GATEWAY = """gateway:
  max_response: 1m
  upstreams:
    - {{name: app, servers: ["127.0.0.1:{up}"], read_timeout: 20s}}
    - {{name: ws, servers: ["127.0.0.1:{ws}"]}}
    - {{name: slow, servers: ["127.0.0.1:{up}"], read_timeout: 1s, retries: 0}}
  routes:
    - {{name: slow, path: /slow, upstream: slow}}
    - {{name: stream, path: /s, upstream: app}}
    - {{name: ws, path: /ws, upstream: ws, websocket: true, websocket_idle_timeout: 1s}}
    - {{name: nows, path: /nows, upstream: ws}}
""".format(up=UP, ws=WS)

d = bwtest.Daemon(max_body="8m", body_timeout="20s", http_extra=GATEWAY)
try:
    d.start()
except RuntimeError as e:
    print(e)
    check("daemon starts with the streaming gateway config", False)
    finish(d)
G = "https://localhost:%d" % d.gw
tmp = tempfile.mkdtemp(prefix="bwstream.")


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "60", "--cacert", d.ca] + list(args),
                          capture_output=True)


# --- responses -------------------------------------------------------------
big = 20_000_000
want = hashlib.sha256(pattern(big)).hexdigest()
for proto, flag in (("HTTP/1.1", "--http1.1"), ("HTTP/2", "--http2")):
    out = os.path.join(tmp, "dl")
    r = curl(flag, "-o", out, "-w", "%{http_code} %{http_version}", G + "/s/bulk/%d" % big)
    got = hashlib.sha256(open(out, "rb").read()).hexdigest() if os.path.exists(out) else ""
    check("%s: a 20 MB response streams past max_response (1 MiB), byte-exact" % proto,
          r.stdout.decode().startswith("200") and got == want, r.stdout + r.stderr)
r = curl("-I", G + "/s/bulk/12345")
check("HEAD keeps the upstream's Content-Length",
      b"content-length: 12345" in r.stdout.lower(), r.stdout)

# the upstream sends the rest only once the client has seen the start
s = d.connect(tls=True, port=d.gw, timeout=15)
s.sendall(b"GET /s/dl HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\n\r\n")
buf = b""
t0 = time.monotonic()
while buf.count(b"a") < 65536 and time.monotonic() - t0 < 10:
    part = s.recv(65536)
    if not part:
        break
    buf += part
check("response bytes reach the client before the upstream finished",
      buf.count(b"a") >= 65536 and b"transfer-encoding: chunked" in buf.lower())
FIRST_SEEN.set()
while not buf.endswith(b"0\r\n\r\n") and time.monotonic() - t0 < 15:
    part = s.recv(65536)
    if not part:
        break
    buf += part
check("... and the end follows once it sends it", buf.count(b"z") == 1000 and
      buf.endswith(b"0\r\n\r\n"))
s.close()

# --- load over HTTP/2 and upstream timeouts -----------------------------------
r = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "10",
                    "https://127.0.0.1:%d/s/bulk/1024" % d.gw], capture_output=True)
check("h2load: 2000 HTTP/2 requests through the proxy all succeed",
      b"2000 succeeded, 0 failed, 0 errored" in r.stdout, r.stdout[-600:])
check("h2load negotiated h2", b"Application protocol: h2" in r.stdout)
open(os.path.join(tmp, "post"), "wb").write(pattern(4096))
r = subprocess.run(["h2load", "-n", "300", "-c", "3", "-m", "5", "-d", os.path.join(tmp, "post"),
                    "https://127.0.0.1:%d/s/up" % d.gw], capture_output=True)
check("h2load: 300 streamed 4 KB uploads all succeed",
      b"300 succeeded, 0 failed, 0 errored" in r.stdout and b"status codes: 300 2xx" in r.stdout,
      r.stdout[-600:])
for proto, flag in (("HTTP/1.1", "--http1.1"), ("HTTP/2", "--http2")):
    t0 = time.monotonic()
    r = curl(flag, "-w", " %{http_code}", G + "/slow/hang")
    check("%s: a hung upstream answers 504 upstream_read_timeout after read_timeout" % proto,
          r.stdout.endswith(b" 504") and b"upstream_read_timeout" in r.stdout and
          time.monotonic() - t0 < 5, r.stdout)

# --- uploads ---------------------------------------------------------------
body = pattern(3_000_000)
sha = hashlib.sha256(body).hexdigest()
s = d.connect(tls=True, port=d.gw, timeout=15)
s.sendall(b"POST /s/up HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\n"
          b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(body))
s.sendall(body[:1_000_000])
started = UPLOAD_STARTED.wait(10)
check("the upstream receives the body before the client finished sending it", started)
s.sendall(body[1_000_000:])
st, h, resp = bwtest.read_response(s)
s.close()
j = json.loads(resp or b"{}")
check("a streamed 3 MB upload arrives whole, with its length",
      st == 200 and j.get("sha") == sha and j.get("cl") == str(len(body)), resp[:200])

upfile = os.path.join(tmp, "up")
open(upfile, "wb").write(body)
r = curl("--http1.1", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + upfile,
         G + "/s/up")
j = json.loads(r.stdout or b"{}")
check("a chunked upload is re-chunked upstream, byte-exact",
      j.get("sha") == sha and j.get("te") == "chunked", r.stdout + r.stderr)
r = curl("--http2", "--data-binary", "@" + upfile, "-w", "\n%{http_version}", G + "/s/up")
lines = r.stdout.split(b"\n")
j = json.loads(lines[0] or b"{}")
check("an HTTP/2 upload streams upstream, byte-exact",
      j.get("sha") == sha and lines[-1] == b"2", r.stdout + r.stderr)
open(upfile, "wb").write(pattern(9_000_000))
for flag in ("--http1.1", "--http2"):
    r = curl(flag, "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + upfile,
             G + "/s/up")
    check("%s: an upload over http.max_body is still refused with 413" % flag,
          r.stdout == b"413", r.stdout + r.stderr)
    r = curl(flag, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Transfer-Encoding: chunked",
             "--data-binary", "@" + upfile, G + "/s/up")
    check("%s: a chunked upload over http.max_body is refused (413 or cut)" % flag,
          r.stdout in (b"413", b"000", b"100"), r.stdout + r.stderr)

# --- WebSocket ---------------------------------------------------------------
ctx = ssl.create_default_context(cafile=d.ca)


async def ws_checks():
    url = "wss://localhost:%d/ws/chat" % d.gw
    async with websockets.connect(url, ssl=ctx, subprotocols=["chat.v1"],
                                  max_size=1 << 20) as ws:
        check("WebSocket upgrade passes through with its subprotocol",
              ws.subprotocol == "chat.v1")
        await ws.send("hello through bulwark")
        check("text message echoed", await ws.recv() == "hello through bulwark")
        blob = os.urandom(200_000)
        await ws.send(blob)
        check("200 KB binary message echoed", await ws.recv() == blob)
        msgs = ["m%d" % i for i in range(200)]
        for m in msgs:
            await ws.send(m)
        got = [await ws.recv() for _ in msgs]
        check("200 messages in order", got == msgs)
    # idle tunnel: websocket_idle_timeout is 1 s (the library's pings off)
    async with websockets.connect(url, ssl=ctx, ping_interval=None) as ws:
        await ws.send("x")
        await ws.recv()
        try:
            await asyncio.wait_for(ws.recv(), 6)
            closed = False
        except websockets.ConnectionClosed:
            closed = True
        except asyncio.TimeoutError:
            closed = False
        check("an idle tunnel is closed after websocket_idle_timeout", closed)
    try:
        async with websockets.connect("wss://localhost:%d/nows/chat" % d.gw, ssl=ctx):
            upgraded = True
    except (websockets.InvalidStatusCode, websockets.InvalidHandshake):
        upgraded = False
    check("a route without websocket: true does not upgrade", not upgraded)

try:
    asyncio.run(asyncio.wait_for(ws_checks(), 60))
except Exception as e:  # a broken tunnel shows up as an exception
    check("WebSocket checks ran to the end", False, repr(e))

HANG.set()
subprocess.run(["rm", "-rf", tmp])
finish(d)
