#!/usr/bin/env python3
"""Loads authz_bench's dataset into a running daemon through the
OpenFGA-shaped HTTP API (store, model, tuples in writes of 100 on four
keep-alive connections) and writes the wrk request files for the HTTP check
benchmark: one JSON body per line, the same objects and users as
authz_bench's generator (cached working set: 1,000 documents).

  http_load.py BASE_URL TOKEN MODEL_JSON_FILE TUPLES OUT_DIR

Prints the store id and the load rate; writes OUT_DIR/{direct,nested,ttu}
.bodies (cached working set) and OUT_DIR/ttu-higher.bodies (random
documents, HIGHER_CONSISTENCY: every check evaluated)."""
import http.client
import json
import sys
import threading
import time
import urllib.parse

base, token, model_file, target, out = sys.argv[1:6]
target = int(target)
u = urllib.parse.urlparse(base)
NUSERS, NGROUPS, NORGS = 100000, 2000, 50
HDR = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}


def conn():
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def post(c, path, body):
    c.request("POST", path, body=json.dumps(body), headers=HDR)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit("%s: %d %s" % (path, r.status, data[:300]))
    return json.loads(data) if data else {}


c = conn()
sid = post(c, "/stores", {"name": "bench"})["id"]
mid = post(c, "/stores/%s/authorization-models" % sid,
           json.load(open(model_file)))["authorization_model_id"]

# authz_bench's dataset, in its order
tuples = []
for g in range(NGROUPS):
    for k in range(20):
        tuples.append(("group:%d" % g, "member", "user:%d" % ((g * 20 + k) % NUSERS)))
    if g % 10 == 0 and g >= 3:
        for k in range(1, 4):
            tuples.append(("group:%d" % g, "member", "group:%d#member" % (g - k)))
for r in range(NORGS):
    tuples.append(("org:%d" % r, "member", "group:%d#member" % (r * 10)))
nfolders = target // 20
for f in range(nfolders):
    if f % 4 == 0:
        tuples.append(("folder:%d" % f, "org", "org:%d" % ((f // 4) % NORGS)))
    else:
        tuples.append(("folder:%d" % f, "parent", "folder:%d" % (f - 1)))
# authz_bench's count (it budgets 600 group-in-group tuples, 597 exist)
ndocs = (target - (NGROUPS * 20 + NGROUPS // 10 * 3 + NORGS + nfolders)) // 2
for d in range(ndocs):
    tuples.append(("doc:%d" % d, "parent", "folder:%d" % (d % nfolders)))
    tuples.append(("doc:%d" % d, "owner", "user:%d" % ((d * 7919) % NUSERS)))

batches = [tuples[i:i + 100] for i in range(0, len(tuples), 100)]
nxt = [0]
lock = threading.Lock()


def loader():
    cc = conn()
    while True:
        with lock:
            i = nxt[0]
            nxt[0] += 1
        if i >= len(batches):
            return
        post(cc, "/stores/%s/write" % sid, {
            "authorization_model_id": mid,
            "writes": {"tuple_keys": [{"object": o, "relation": r, "user": us}
                                      for o, r, us in batches[i]]}})


t0 = time.time()
ths = [threading.Thread(target=loader) for _ in range(4)]
for t in ths:
    t.start()
for t in ths:
    t.join()
el = time.time() - t0
print("loaded %d tuples over HTTP in %.1f s (%.0f tuples/s, writes of 100, durable and audited)"
      % (len(tuples), el, len(tuples) / el))


def gen(kind, cached, n):
    """authz_bench's generator (same LCG, same formulas)."""
    seed, out_ = 12345, []
    for _ in range(n):
        seed = (seed * 1103515245 + 12345) & 0xFFFFFFFF
        r = (seed >> 8) % 1000 if cached else seed >> 8
        d = r % ndocs
        if kind == 0:
            o, us, rel = "doc:%d" % d, "user:%d" % ((d * 7919) % NUSERS), "owner"
        elif kind == 1:
            x = ((d % NORGS) * 10 - 1 - (seed % 3)) * 20
            x = x - int(x / NUSERS) * NUSERS  # C's truncating %
            o, us, rel = "org:%d" % (d % NORGS), "user:%d" % x, "member"
        else:
            f = d % nfolders
            org = ((f - f % 4) // 4) % NORGS
            uu = (org * 10 * 20 + (seed >> 4) % 20) % NUSERS if seed & 1 else (r * 31) % (NGROUPS * 20)
            o, us, rel = "doc:%d" % d, "user:%d" % uu, "viewer"
        body = {"tuple_key": {"object": o, "relation": rel, "user": us},
                "authorization_model_id": mid}
        if not cached:
            body["consistency"] = "HIGHER_CONSISTENCY"
        out_.append(json.dumps(body, separators=(",", ":")))
    return out_


for name, kind, cached in (("direct", 0, True), ("nested", 1, True), ("ttu", 2, True),
                           ("ttu-higher", 2, False)):
    with open("%s/%s.bodies" % (out, name), "w") as f:
        f.write("\n".join(gen(kind, cached, 1000 if cached else 20000)) + "\n")
print("store", sid)
