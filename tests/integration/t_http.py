"""HTTP/1.1 behaviour of a running bulwark over real sockets: malformed and
smuggling-style requests get the right 4xx with a reason, keep-alive and
pipelining keep order, 100-continue, chunked bodies, limits, slow clients cut
by the header timeout, and the rejections counted in /metrics."""
import time

from bwtest import Daemon, check, closed_by_peer, exchange, finish, read_response

d = Daemon(header_timeout="1s", body_timeout="1s", idle_timeout="2s", max_body="4k").start()
H = "Host: localhost\r\n"
AUTH = "Authorization: Bearer %s\r\n" % d.token

BAD = [
    # (description, raw request, status, reason)
    ("CL and TE together (CL.TE)", "POST /healthz HTTP/1.1\r\n" + H +
     "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "cl_and_te"),
    ("duplicate Content-Length", "POST /healthz HTTP/1.1\r\n" + H +
     "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, None),
    ("Content-Length list 5, 5", "POST /healthz HTTP/1.1\r\n" + H +
     "Content-Length: 5, 5\r\n\r\nxxxxx", 400, None),
    ("Content-Length +5", "POST /healthz HTTP/1.1\r\n" + H +
     "Content-Length: +5\r\n\r\nxxxxx", 400, None),
    ("TE with space before colon", "POST /healthz HTTP/1.1\r\n" + H +
     "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "space_before_colon"),
    ("TE xchunked", "POST /healthz HTTP/1.1\r\n" + H +
     "Transfer-Encoding: xchunked\r\n\r\n", 400, "te_not_chunked_last"),
    ("TE gzip, chunked (unsupported coding)", "POST /healthz HTTP/1.1\r\n" + H +
     "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, None),
    ("TE chunked, identity", "POST /healthz HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked, identity\r\n\r\n", 400, None),
    ("obs-fold", "GET /healthz HTTP/1.1\r\n" + H + "X-A: 1\r\n  folded\r\n\r\n", 400, "obs_fold"),
    ("bare LF line ending", "GET /healthz HTTP/1.1\n" + H + "\r\n", 400, None),
    ("bare CR in a header", "GET /healthz HTTP/1.1\r\n" + H + "X-A: a\rb\r\n\r\n", 400, None),
    ("NUL in a header value", "GET /healthz HTTP/1.1\r\n" + H + "X-A: a\x00b\r\n\r\n", 400, None),
    ("invalid header name char", "GET /healthz HTTP/1.1\r\n" + H + "X(A): 1\r\n\r\n", 400, None),
    ("missing Host in HTTP/1.1", "GET /healthz HTTP/1.1\r\n\r\n", 400, "missing_host"),
    ("two Host headers", "GET /healthz HTTP/1.1\r\n" + H + H + "\r\n", 400, "dup_host"),
    ("space in the target", "GET /a b HTTP/1.1\r\n" + H + "\r\n", 400, None),
    ("HTTP/2.0 version", "GET /healthz HTTP/2.0\r\n" + H + "\r\n", 505, None),
    ("bad method char", "G(T /healthz HTTP/1.1\r\n" + H + "\r\n", 400, None),
    ("URI too long", "GET /" + "a" * 9000 + " HTTP/1.1\r\n" + H + "\r\n", 414, None),
    ("headers too large", "GET /healthz HTTP/1.1\r\n" + H +
     "".join("X-%d: %s\r\n" % (i, "v" * 400) for i in range(100)) + "\r\n", 431, None),
    ("too many headers", "GET /healthz HTTP/1.1\r\n" + H +
     "".join("X-%d: v\r\n" % i for i in range(120)) + "\r\n", 431, None),
    ("body over max_body (Content-Length)", "POST /api/v1/audit/annotations HTTP/1.1\r\n" + H +
     "Content-Length: 5000\r\n\r\n", 413, "body_too_large"),
    ("bad chunk size", "POST /healthz HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", 400, None),
]
for desc, raw, status, reason in BAD:
    st, hd, body = exchange(d, raw.encode("latin-1"))
    check("%s -> %d" % (desc, status), st == status, "got %s %r" % (st, body[:80]))
    if reason:
        check("%s names reason %s" % (desc, reason), reason.encode() in body, repr(body[:120]))
    check("%s closes the connection" % desc, hd.get("connection") == "close", str(hd))

# Rejections are also refused over TLS and counted in /metrics.
st, _, _ = exchange(d, b"GET /healthz HTTP/1.1\r\n\r\n", tls=True)
check("missing Host over TLS -> 400", st == 400)
_, _, m = exchange(d, ("GET /metrics HTTP/1.1\r\n" + H + "\r\n").encode(), tls=True)
check("metrics count rejections by reason", b'bulwark_http_rejections_total{reason="cl_and_te"}' in m)

# Keep-alive and pipelining: three requests in one write, answers in order.
s = d.connect(tls=True)
s.sendall(("GET /healthz HTTP/1.1\r\n" + H + "\r\nGET /readyz HTTP/1.1\r\n" + H +
           "\r\nGET /nope HTTP/1.1\r\n" + H + "\r\n").encode())
r1, r2, r3 = read_response(s), read_response(s), read_response(s)
check("pipelined responses in order", (r1[0], r2[0], r3[0]) == (200, 200, 404),
      str((r1[0], r2[0], r3[0])))
check("pipelined bodies match", b"ok" in r1[2] and b"ready" in r2[2])
s.sendall(("GET /healthz HTTP/1.1\r\n" + H + "\r\n").encode())
check("connection stays open after pipelined burst", read_response(s)[0] == 200)
s.close()

# Chunked request body reaches the handler decoded.
body = b'{"message":"chunked body"}'
raw = ("POST /api/v1/audit/annotations HTTP/1.1\r\n" + H + AUTH +
       "Transfer-Encoding: chunked\r\n\r\n").encode() + \
    b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
st, hd, _ = exchange(d, raw, tls=True)
check("chunked POST decoded and handled", st == 201 and "x-audit-seq" in hd, str(st))

# 100-continue: the interim response comes before the body is sent.
s = d.connect(tls=True)
s.sendall(("POST /api/v1/audit/annotations HTTP/1.1\r\n" + H + AUTH +
           "Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)).encode())
st, _, _ = read_response(s)
check("100 Continue before the body", st == 100, str(st))
s.sendall(body)
st, _, _ = read_response(s)
check("final response after the body", st == 201, str(st))
s.close()

# HTTP/1.0 without keep-alive is closed after the response.
s = d.connect(tls=False)
s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
st, hd, _ = read_response(s)
check("HTTP/1.0 answered and closed", st == 200 and closed_by_peer(s))
s.close()

# Slowloris: a head dribbled slower than header_timeout (1s) is cut with 408.
s = d.connect(tls=False)
t0 = time.monotonic()
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: local")
st, _, body = read_response(s)
el = time.monotonic() - t0
check("slow header gets 408 after the header timeout", st == 408 and 0.8 < el < 3.5,
      "status %s after %.2fs" % (st, el))
s.close()

# A slow body is cut by the body timeout.
s = d.connect(tls=False)
s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
st, _, _ = read_response(s)
check("slow body gets 408", st == 408, str(st))
s.close()

# An idle keep-alive connection is closed after idle_timeout (2s).
s = d.connect(tls=False)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
read_response(s)
check("idle keep-alive closed after idle_timeout", closed_by_peer(s, wait=4.0))
s.close()

check("daemon stops cleanly", d.stop() == 0)
finish(d)
