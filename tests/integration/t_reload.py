"""Live reload: SIGHUP with a good config takes effect without dropping an
open keep-alive connection; a bad config is refused with its error and the
old configuration keeps running; the admin API can ask for a reload too."""
import json
import signal
import time

from bwtest import Daemon, check, finish, read_response

d = Daemon(max_body="64k").start()
H = "Host: localhost\r\n"
AUTH = "Authorization: Bearer %s\r\n" % d.token


def status_json(s):
    s.sendall(("GET /api/v1/status HTTP/1.1\r\n" + H + AUTH + "\r\n").encode())
    st, _, body = read_response(s)
    return st, json.loads(body) if st == 200 else {}


def post_big(s, n):
    s.sendall(("POST /api/v1/audit/annotations HTTP/1.1\r\n" + H + AUTH +
               "Content-Length: %d\r\n\r\n" % n).encode() + b"x" * n)
    return read_response(s)[0]


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


held = d.connect(tls=True)
st, js = status_json(held)
check("status before reload", st == 200 and js["config_generation"] == 0, str(js))
check("a 2 KB body is accepted (then refused as a bad message)", post_big(d.connect(), 2048) == 400)

# Good config: lower max_body to 1k.
d.write_config(max_body="1k")
d.signal(signal.SIGHUP)
check("reload logged", wait_for(lambda: "configuration reloaded (generation 1)" in d.log_text()))
st, js = status_json(held)
check("held keep-alive connection survives the reload", st == 200, str(st))
check("generation advanced", js.get("config_generation") == 1, str(js))
check("new limit applies to new connections", post_big(d.connect(), 2048) == 413)

# Bad config: an unknown key. Refused with file:line:column; old config stays.
with open(d.dir + "/bulwark.yaml", "a") as f:
    f.write("bogus_section: 1\n")
d.signal(signal.SIGHUP)
check("bad config refused with its location",
      wait_for(lambda: "reload refused" in d.log_text() and "bogus_section" in d.log_text()))
st, js = status_json(held)
check("old config keeps serving", st == 200 and js.get("config_generation") == 1, str(js))
check("old limit still in force", post_big(d.connect(), 2048) == 413)

# Reload through the admin API (audited).
d.write_config(max_body="64k")
s = d.connect(tls=True)
s.sendall(("POST /api/v1/system/reload HTTP/1.1\r\n" + H + AUTH + "Content-Length: 0\r\n\r\n").encode())
st, hd, _ = read_response(s)
check("reload via the API is accepted and audited", st == 202 and "x-audit-seq" in hd, str(st))
check("API reload applied", wait_for(lambda: "configuration reloaded (generation 2)" in d.log_text()))
check("raised limit applies again", post_big(d.connect(), 2048) == 400)
st, js = status_json(held)
check("held connection still alive after two reloads", st == 200, str(st))

# Changing a listener's port on reload rebinds it without touching the others.
check("daemon stops cleanly", d.stop() == 0)
finish(d)
