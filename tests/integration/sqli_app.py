#!/usr/bin/env python3
# A DELIBERATELY SQL-INJECTABLE web application, for t_sqlmap.sh only: it
# builds its query by pasting the `id` parameter into the SQL text. It binds
# 127.0.0.1 only, holds an in-memory SQLite database of made-up rows, and
# appends one line per request (method, path, user agent, X-Forwarded-For)
# to the log file named on the command line, so the test can tell which
# requests reached it. Never run it anywhere else.
#   sqli_app.py PORT_FILE LOG_FILE
import http.server
import sqlite3
import sys
import threading
import urllib.parse

db = sqlite3.connect(":memory:", check_same_thread=False)
db.executescript("""
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL);
INSERT INTO items VALUES (1, 'blue mug', 7.5), (2, 'red pen', 1.2),
                         (3, 'green notebook', 3.9);
CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT, secret TEXT);
INSERT INTO users VALUES (1, 'alice', 'not-a-real-secret');
""")
lock = threading.Lock()
log = open(sys.argv[2], "a", buffering=1)


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        with lock:
            log.write("%s %s ua=%s xff=%s\n" % (
                self.command, self.path, self.headers.get("User-Agent", ""),
                self.headers.get("X-Forwarded-For", "")))
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path.rstrip("/").endswith("/item"):
            ident = q.get("id", ["1"])[0]
            sql = "SELECT name, price FROM items WHERE id = " + ident  # injectable on purpose
            try:
                with lock:
                    rows = db.execute(sql).fetchall()
            except Exception:
                self.reply(500, "<html><body><p>database error</p></body></html>")
                return
            items = "".join("<li>%s: %s</li>" % (n, p) for n, p in rows)
            self.reply(200, "<html><body><h1>Item</h1><ul>%s</ul></body></html>" % items)
            return
        self.reply(200, "<html><body><p>shop</p></body></html>")

    def log_message(self, *a):
        pass


s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
with open(sys.argv[1], "w") as f:
    f.write(str(s.server_address[1]))
s.serve_forever()
