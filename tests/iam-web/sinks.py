#!/usr/bin/python3
"""Local sinks for one-time-code delivery tests.

An SMTP server (just enough of RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET,
NOOP, QUIT) and an HTTP server that takes the SMS gateway webhook, both on
127.0.0.1 with ports chosen by the kernel. Every message is written to
OUT_DIR as mail-N.txt (envelope and data) or sms-N.json (the POST body,
with the Authorization header in sms-N.auth); the ports are written to
OUT_DIR/ports as "smtp PORT\nhttp PORT\n" once both listen.

Usage: sinks.py OUT_DIR   (runs until killed)
"""
import http.server
import os
import socketserver
import sys
import threading

OUT = sys.argv[1]
lock = threading.Lock()
count = {"mail": 0, "sms": 0}


def next_name(kind, ext):
    with lock:
        count[kind] += 1
        return os.path.join(OUT, "%s-%d.%s" % (kind, count[kind], ext))


class SMTP(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 sink ESMTP")
        env = []
        while True:
            line = self.rfile.readline(1024)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb == "EHLO":
                self.reply("250-sink")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 sink")
            elif verb in ("MAIL", "RCPT"):
                env.append(cmd)
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = []
                while True:
                    d = self.rfile.readline(4096)
                    if not d or d in (b".\r\n", b".\n"):
                        break
                    data.append(d.decode("utf-8", "replace"))
                with open(next_name("mail", "txt"), "w") as f:
                    f.write("\n".join(env) + "\n\n" + "".join(data))
                env = []
                self.reply("250 queued")
            elif verb in ("RSET", "NOOP"):
                env = [] if verb == "RSET" else env
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SMS(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(n, 65536))
        name = next_name("sms", "json")
        with open(name[:-5] + ".auth", "w") as f:
            f.write(self.headers.get("Authorization", ""))
        with open(name, "wb") as f:
            f.write(body)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class TS(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class HS(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


smtp = TS(("127.0.0.1", 0), SMTP)
web = HS(("127.0.0.1", 0), SMS)
threading.Thread(target=smtp.serve_forever, daemon=True).start()
tmp = os.path.join(OUT, "ports.tmp")
with open(tmp, "w") as f:
    f.write("smtp %d\nhttp %d\n" % (smtp.server_address[1], web.server_address[1]))
os.rename(tmp, os.path.join(OUT, "ports"))
web.serve_forever()
