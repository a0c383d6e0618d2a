"""Graceful shutdown: on SIGTERM bulwark stops accepting, closes idle
connections, lets a request in flight finish (answered with
Connection: close) and exits 0; a request that never completes is cut at
the shutdown deadline."""
import signal
import socket
import time

from bwtest import Daemon, check, closed_by_peer, finish, read_response

d = Daemon(shutdown="3s", header_timeout="20s").start()

idle = d.connect(tls=True)
idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
check("idle connection served first", read_response(idle)[0] == 200)

inflight = d.connect(tls=True)
inflight.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # head not finished
time.sleep(0.2)
t0 = time.monotonic()
d.signal(signal.SIGTERM)
check("idle keep-alive connection closed at once", closed_by_peer(idle, wait=2.0))
time.sleep(0.3)
refused = False
try:
    socket.create_connection(("127.0.0.1", d.admin), timeout=1).close()
except OSError:
    refused = True
check("no new connections after SIGTERM", refused)
inflight.sendall(b"\r\n")
st, hd, body = read_response(inflight)
check("request in flight completes", st == 200 and b"ok" in body, str(st))
check("its response says Connection: close", hd.get("connection") == "close", str(hd))
rc = d.proc.wait(10)
check("daemon exits 0 after draining", rc == 0, str(rc))
check("drain took well under the deadline", time.monotonic() - t0 < 2.5)

# A request that never finishes is cut at the deadline (3s).
d.start()
stuck = d.connect(tls=True)
stuck.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
time.sleep(0.2)
t0 = time.monotonic()
d.signal(signal.SIGTERM)
rc = d.proc.wait(15)
el = time.monotonic() - t0
check("stuck request cut at the shutdown deadline", 2.5 < el < 6.0, "%.2fs" % el)
check("exit status 0 even after cutting", rc == 0, str(rc))
d.proc = None
finish(d)
