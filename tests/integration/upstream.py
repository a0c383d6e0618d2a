"""A loopback HTTP upstream for the gateway tests.

The tests put bulwark's gateway in front of a real server and look at what
reached it. Each test only says what its upstream answers: a function taking
the request handler and returning (status, object) — the object is sent as
JSON — or (status, bytes) for a raw body. serve() binds port 0 on 127.0.0.1,
writes the port to a file the shell test waits for, and serves forever.
"""
import http.server
import json
import sys


def serve(answer, port_file, ssl_context=None, keep_alive=False):
    class Handler(http.server.BaseHTTPRequestHandler):
        # HTTP/1.1 lets the gateway keep its pooled connection open.
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_GET(self):
            status, body = answer(self)
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
                ctype = "application/json"
            else:
                ctype = "application/octet-stream"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    sys.exit("upstream.py is a module: import it from a test's upstream script")
