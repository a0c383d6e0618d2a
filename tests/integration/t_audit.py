"""The audit log under fire: several clients write audited actions, the
worker is killed with SIGKILL mid-stream, the supervisor restarts it, and
afterwards `bulwark audit verify` passes and every acknowledged record is
present. Then tampering (an altered byte, a removed line, swapped lines,
a forged tree head) is detected at the right line, and proofs verify."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time

from bwtest import BIN, Daemon, check, finish, read_response

d = Daemon().start()
acked = []
lock = threading.Lock()
stop = threading.Event()


def writer(n):
    i = 0
    while not stop.is_set():
        try:
            s = d.connect(tls=True, timeout=5)
            while not stop.is_set():
                body = json.dumps({"message": "w%d-%d" % (n, i)}).encode()
                s.sendall(("POST /api/v1/audit/annotations HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                           % (d.token, len(body))).encode() + body)
                st, hd, _ = read_response(s)
                if st is None:
                    break
                if st == 201:
                    with lock:
                        acked.append((int(hd["x-audit-seq"]), "w%d-%d" % (n, i)))
                i += 1
            s.close()
        except OSError:
            time.sleep(0.05)


threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
while len(acked) < 300:
    time.sleep(0.01)
victim = d.worker_pid()
os.kill(victim, signal.SIGKILL)
killed_at = len(acked)
deadline = time.monotonic() + 15
while time.monotonic() < deadline and (d.worker_pid() in (None, victim) or len(acked) < killed_at + 200):
    time.sleep(0.05)
stop.set()
for t in threads:
    t.join()
check("worker was restarted by the supervisor", d.worker_pid() not in (None, victim))
check("writes continued after the restart", len(acked) >= killed_at + 200, "%d/%d" % (len(acked), killed_at))
check("daemon stops cleanly", d.stop() == 0)

log = os.path.join(d.dir, "audit.log")
out = subprocess.run([BIN, "audit", "verify", log], capture_output=True, text=True)
check("audit log verifies after kill -9", out.returncode == 0, out.stderr + out.stdout)
records = {}
for line in open(log):
    r = json.loads(line)
    if r.get("type") == "record":
        records[r["seq"]] = r
missing = [s for s, m in acked if s not in records or records[s]["details"].get("message") != m]
check("every acknowledged record is present (%d acked)" % len(acked), not missing, str(missing[:5]))

# Proofs from the CLI.
n = max(records) + 1
out = subprocess.run([BIN, "audit", "proof", "inclusion", log, "7"], capture_output=True, text=True)
check("inclusion proof produced", out.returncode == 0 and '"proof":[' in out.stdout, out.stderr)
out = subprocess.run([BIN, "audit", "proof", "consistency", log, "10", str(n)], capture_output=True, text=True)
check("consistency proof produced", out.returncode == 0 and '"second":%d' % n in out.stdout, out.stderr)
out = subprocess.run([BIN, "audit", "export", log], capture_output=True, text=True)
check("export prints every record", out.returncode == 0 and len(out.stdout.splitlines()) == len(records))

# Tampering, each on a copy.
lines = open(log).read().splitlines(keepends=True)


def verify_copy(mut):
    p = log + ".tampered"
    with open(p, "w") as f:
        f.writelines(mut)
    r = subprocess.run([BIN, "audit", "verify", p], capture_output=True, text=True)
    os.unlink(p)
    return r.returncode, r.stderr


alt = list(lines)
alt[5] = alt[5].replace('"outcome":"success"', '"outcome":"failure"')
rc, err = verify_copy(alt)
check("an altered record is detected at line 6", rc != 0 and "line 6" in err, err)
rc, err = verify_copy(lines[:8] + lines[9:])
check("a removed record is detected at line 9", rc != 0 and "line 9" in err, err)
sw = list(lines)
sw[10], sw[11] = sw[11], sw[10]
rc, err = verify_copy(sw)
check("swapped records are detected at line 11", rc != 0 and "line 11" in err, err)
sth = [i for i, l in enumerate(lines) if '"type":"sth"' in l]
if sth:
    forged = list(lines)
    r = json.loads(forged[sth[0]])
    r["root_hash"] = "00" * 32
    forged[sth[0]] = json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n"
    rc, err = verify_copy(forged)
    check("a forged tree head is detected", rc != 0 and "line %d" % (sth[0] + 1) in err, err)
else:
    check("the log has signed tree heads", False)
finish(d)
