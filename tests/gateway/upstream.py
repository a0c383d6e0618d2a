#!/usr/bin/python3
"""A deliberately simple test upstream for the gateway's tests, loopback only.

    upstream.py PORT [NAME]

GET/POST/... /anything   200, JSON echo of method, path, headers, body size
GET /status/NNN          answers with status NNN
GET /slow/MS             waits MS milliseconds, then answers 200
GET /close               closes the connection without answering
GET /health              200 "ok" (or 503 after POST /health/down)

Keep-alive (HTTP/1.1) is on. Not for anything but tests.
"""
import json
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

STATE = {"healthy": True}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bw-test-upstream"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Upstream", self.server.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        p = self.path
        if p == "/close":
            self.close_connection = True
            self.connection.close()
            return
        if p.startswith("/status/"):
            self._send(int(p[8:11]), "{}")
            return
        if p.startswith("/slow/"):
            time.sleep(int(p[6:]) / 1000.0)
        if p == "/health":
            ok = STATE["healthy"]
            self._send(200 if ok else 503, "ok\n" if ok else "down\n", "text/plain")
            return
        if p == "/health/down":
            STATE["healthy"] = False
        if p == "/health/up":
            STATE["healthy"] = True
        self._send(200, json.dumps({
            "upstream": self.server.name,
            "method": self.command,
            "path": p,
            "headers": {k: v for k, v in self.headers.items()},
            "body_bytes": len(body),
        }))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port = int(sys.argv[1])
    srv = Server(("127.0.0.1", port), Handler)
    srv.name = sys.argv[2] if len(sys.argv) > 2 else "up"
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
