#!/usr/bin/python3
"""Prints an nginx `location /` block that answers like bulwark's demo page.

    nginx_location.py BODYFILE HTMLDIR

BODYFILE holds the exact body bytes bulwark served and BODYFILE.head its
response head (curl -D). The block returns the same body with `return 200`
(as a double-quoted nginx string, backslash and double quote escaped), the
same Content-Type, and every other header of the head except those that are
per request or per server (Date, Content-Length, Connection, Server,
X-Request-Id). nginx expands `$` in `return` text, so a body containing `$`
is written to HTMLDIR/index.html and served as a static file instead.
"""
import sys

SKIP = {"date", "content-length", "connection", "server", "x-request-id",
        "keep-alive", "transfer-encoding"}


def quote(v):
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    body_path, html_dir = sys.argv[1], sys.argv[2]
    with open(body_path, "rb") as f:
        body = f.read().decode("utf-8")
    with open(body_path + ".head", "rb") as f:
        head = f.read().decode("latin-1").split("\r\n")
    ctype, extra = "text/html", []
    for line in head[1:]:
        if ":" not in line:
            continue
        name, value = (p.strip() for p in line.split(":", 1))
        if name.lower() == "content-type":
            ctype = value
        elif name.lower() not in SKIP:
            if "$" in value:
                sys.exit("header %s contains $, which nginx would expand" % name)
            extra.append("add_header %s %s;" % (name, quote(value)))
    out = ["location / {", "    default_type %s;" % quote(ctype)]
    out += ["    " + e for e in extra]
    if "$" in body:
        with open(html_dir + "/index.html", "w", encoding="utf-8") as f:
            f.write(body)
        out += ["    root %s;" % html_dir, "    try_files /index.html =404;"]
    else:
        out.append("    return 200 %s;" % quote(body))
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
