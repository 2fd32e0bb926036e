"""routing.py: gort-proxy's scenarios about where a connection goes: SNI
passthrough, no route, TLS termination, the PROXY protocol both ways, the
ClientHello timeout."""

import os
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .harness import (
    IO_TIMEOUT, check, log, ENV, tool, run, Proc, wait_listening, free_port, connect, addr, Proxy, make_cert,
    Backend, hold_handler, recv_until_eof, Nginx, nginx_temp_paths,
)


# ---------------------------------------------------------------- 1. SNI passthrough


def test_sni():
    """curl reaches two TLS backends (openssl s_server -WWW) through passthrough routes by SNI."""
    openssl, curl = tool("openssl", "openssl"), tool("curl", "curl")
    servers = {}
    for name in ("a", "b"):
        host = f"{name}.test"
        cert, key = make_cert(name, host)
        root = ENV.path(f"www-{name}")
        os.makedirs(root)
        with open(os.path.join(root, "who.txt"), "w") as f:
            f.write(f"backend {name.upper()} ({host})\n")
        port = free_port()
        s = Proc([openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key, "-WWW"],
                 f"s_server-{name}", cwd=root)
        s.wait_line(r"^ACCEPT$", key="out")
        wait_listening(s, port)
        servers[name] = (s, port)
    proxy = Proxy(f'''access_log = "-"
[[listener]]
name = "tls"
address = "127.0.0.1:0"

[[listener.route]]
name = "a"
mode = "passthrough"
sni = ["a.test"]
upstreams = ["127.0.0.1:{servers["a"][1]}"]

[[listener.route]]
name = "b"
mode = "passthrough"
sni = ["b.test"]
upstreams = ["127.0.0.1:{servers["b"][1]}"]
''', listeners=("tls",))
    try:
        for name in ("a", "b", "a"):
            host = f"{name}.test"
            rc, out, err = run([curl, "-v", "-sS", "--max-time", "10", "--cacert", ENV.ca, "--resolve",
                                f"{host}:{proxy.port}:127.0.0.1", f"https://{host}:{proxy.port}/who.txt"])
            check(rc == 0, f"curl https://{host}: status {rc}\n{err}")
            check(out == f"backend {name.upper()} ({host})\n", f"curl https://{host}: page {out!r}")
            check(re.search(rf"subject: .*CN={re.escape(host)}\b", err), f"curl {host}: no subject CN={host}:\n{err}")
            check(f'host "{host}" matched cert\'s "{host}"' in err, f"curl {host}: the name was not verified:\n{err}")
            log(f"curl https://{host}/who.txt -> {out.strip()!r}, certificate CN={host}, verified")
        for name in ("a", "b"):
            rec = proxy.access(sni=f"{name}.test", route=name, end="ok")
            check(rec["upstream"] == f"127.0.0.1:{servers[name][1]}", f"access log upstream: {rec}")
            check(int(rec["up"]) > 0 and int(rec["down"]) > 0, f"access log bytes: {rec}")
        for k, want in (("a", 2), ("b", 1)):  # s_server logs each file it serves on stderr
            s = servers[k][0]
            i, _ = s.wait_line(r"^FILE:who\.txt$")
            if want == 2:
                s.wait_line(r"^FILE:who\.txt$", after=i + 1)
        n = {k: s.text().splitlines().count("FILE:who.txt") for k, (s, _) in servers.items()}
        check(n == {"a": 2, "b": 1}, f"requests seen by the s_servers: {n}")
        log(f"s_server requests: {n}; access log agrees")
    finally:
        proxy.stop()


# ---------------------------------------------------------------- 2. no route


def test_no_route():
    """An unknown server name (and none at all): closed, nothing dialed, end=no_route."""
    openssl = tool("openssl", "openssl")
    backends = {}
    for name in ("a", "b"):
        cert, key = make_cert(name, f"{name}.test")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        def handler(c, i, ctx=ctx, name=name):
            with ctx.wrap_socket(c, server_side=True) as t:
                t.sendall(f"backend {name}\n".encode())

        backends[name] = Backend(handler, name)
    proxy = Proxy(f'''access_log = "-"
[[listener]]
name = "tls"
address = "127.0.0.1:0"

[[listener.route]]
name = "a"
mode = "passthrough"
sni = ["a.test"]
upstreams = ["{backends["a"].addr}"]

[[listener.route]]
name = "b"
mode = "passthrough"
sni = ["*.b.test", "b.test"]
upstreams = ["{backends["b"].addr}"]
''', listeners=("tls",))
    try:
        for sni_args, sni_log, detail in ((["-servername", "unknown.test"], "unknown.test", "no route for unknown.test"),
                                          (["-servername", "x.a.test"], "x.a.test", "no route for x.a.test"),
                                          (["-noservername"], None, "no server name")):
            t0 = time.monotonic()
            rc, out, err = run([openssl, "s_client", "-connect", f"127.0.0.1:{proxy.port}", *sni_args],
                               timeout=10 * ENV.slow)
            took = time.monotonic() - t0
            check(rc != 0, f"s_client {sni_args}: status 0, a handshake went through:\n{out}")
            check("BEGIN CERTIFICATE" not in out and "subject=" not in out,
                  f"s_client {sni_args} got a certificate:\n{out}")
            want = {"end": "no_route", "detail": detail, "route": "", "upstream": ""}
            if sni_log:
                want["sni"] = sni_log
            rec = proxy.access(**want)
            check(rec["up"] == "0" and rec["down"] == "0", f"bytes forwarded: {rec}")
            log(f"s_client {' '.join(sni_args)}: closed after {took:.2f} s, status {rc}; log: end=no_route "
                f"detail={rec['detail']!r}")
        time.sleep(0.3)  # a dial the proxy started would have reached a backend by now
        check(backends["a"].accepted == 0 and backends["b"].accepted == 0,
              f"a backend was dialed: a {backends['a'].accepted}, b {backends['b'].accepted}")
        log("neither backend saw a connection")
        # The control: a known name does reach its backend, so the count above means something.
        rc, out, err = run([openssl, "s_client", "-connect", f"127.0.0.1:{proxy.port}", "-servername", "v1.b.test",
                            "-CAfile", ENV.ca], timeout=10 * ENV.slow)
        check("CN = b.test" in out or "CN=b.test" in out, f"s_client -servername v1.b.test:\n{out}\n{err}")
        backends["b"].wait(lambda b: b.accepted == 1, "one conn from the control")
        check(backends["a"].accepted == 0, "backend a dialed")
        proxy.access(sni="v1.b.test", route="b")
        log("control: -servername v1.b.test reached backend b (certificate CN = b.test)")
    finally:
        proxy.stop()


# ---------------------------------------------------------------- 3. TLS termination


def test_terminate():
    """curl --cacert through a terminate route to a plain HTTP backend (python http.server)."""
    curl = tool("curl", "curl")
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.path, self.headers.get("Host"), self.client_address[0]))
            body = f"plain backend: {self.path} for {self.headers.get('Host')}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    cert, key = make_cert("site", "site.test", "www.site.test")
    proxy = Proxy(f'''access_log = "-"
[[listener]]
name = "https"
address = "127.0.0.1:0"

[[listener.route]]
name = "site"
mode = "terminate"
sni = ["site.test", "www.site.test"]
cert = "{cert}"
key = "{key}"
next_protos = ["http/1.1"]
upstreams = ["127.0.0.1:{httpd.server_address[1]}"]
''', listeners=("https",))
    try:
        for host, path in (("site.test", "/hello"), ("www.site.test", "/a/b?c=d")):
            rc, out, err = run([curl, "-v", "-sS", "--max-time", "10", "--cacert", ENV.ca, "--resolve",
                                f"{host}:{proxy.port}:127.0.0.1", f"https://{host}:{proxy.port}{path}"])
            check(rc == 0, f"curl https://{host}{path}: status {rc}\n{err}")
            check(out == f"plain backend: {path} for {host}:{proxy.port}\n", f"curl {host}{path}: {out!r}")
            check("SSL certificate verify ok" in err, f"curl {host}: not verified:\n{err}")
            check("ALPN: server accepted http/1.1" in err, f"curl {host}: ALPN:\n{err}")
            rec = proxy.access(sni=host, route="site", end="ok")
            check(int(rec["up"]) > 0 and int(rec["down"]) > len(out), f"access log bytes: {rec}")
            log(f"curl https://{host}{path} -> {out.strip()!r} (TLS ended by gort-proxy, verified with the CA)")
        # A client that does not trust the CA is refused by curl: the certificate is gort-certs'.
        rc, out, err = run([curl, "-sS", "--max-time", "10", "--resolve", f"site.test:{proxy.port}:127.0.0.1",
                            f"https://site.test:{proxy.port}/"])
        check(rc == 60, f"curl without --cacert: status {rc} (want 60, certificate problem)\n{err}")
        check(len(seen) == 2 and all(s[2] == "127.0.0.1" for s in seen), f"backend requests: {seen}")
        log(f"the backend saw {len(seen)} plaintext requests; curl without the CA: status 60")
    finally:
        proxy.stop()
        httpd.shutdown()
        httpd.server_close()


# ---------------------------------------------------------------- 6. PROXY protocol


def test_proxy_protocol_nginx():
    """gort-proxy sends PROXY v2; nginx (http, and stream with ssl) reads the client's address from it."""
    http_port, stream_port = free_port(), free_port()
    cert, key = make_cert("pp", "pp.test")
    p = ENV.path("nginx")
    ngx = Nginx(f'''
http {{
{nginx_temp_paths(p)}  log_format pp '$proxy_protocol_addr:$proxy_protocol_port via $remote_addr';
  access_log {p}/access.log pp;
  server {{
    listen 127.0.0.1:{http_port} proxy_protocol;
    location / {{ return 200 "pp=$proxy_protocol_addr:$proxy_protocol_port remote=$remote_addr\\n"; }}
  }}
}}
stream {{
  server {{
    listen 127.0.0.1:{stream_port} ssl proxy_protocol;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    return "pp=$proxy_protocol_addr:$proxy_protocol_port sni=$ssl_server_name\\n";
  }}
}}
''', http_port, stream=True)
    wait_listening(ngx, stream_port)
    proxy = Proxy(f'''access_log = "-"
[[listener]]
name = "plain"
address = "127.0.0.1:0"

[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:{http_port}"]
proxy_protocol = 2

[[listener]]
name = "tls"
address = "127.0.0.1:0"

[[listener.route]]
mode = "passthrough"
sni = ["pp.test"]
upstreams = ["127.0.0.1:{stream_port}"]
proxy_protocol = 2
''', listeners=("plain", "tls"))
    try:
        # The client from 127.0.0.2: an address the proxy's own dial (from 127.0.0.1) cannot have.
        c = proxy.connect("plain", source="127.0.0.2")
        me = addr(c.getsockname())
        c.sendall(b"GET / HTTP/1.1\r\nHost: pp\r\nConnection: close\r\n\r\n")
        resp, _ = recv_until_eof(c, IO_TIMEOUT)
        c.close()
        check(resp.startswith(b"HTTP/1.1 200"), f"nginx: {resp!r}")
        body = resp.split(b"\r\n\r\n", 1)[1].decode()
        check(body == f"pp={me} remote=127.0.0.1\n", f"nginx http saw {body!r}, the client is {me}")  # remote: the proxy
        proxy.access(listener="plain", client=me, end="ok")
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            with open(f"{p}/access.log") as f:
                logged = f.read()
            if f"{me} via 127.0.0.1" in logged or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(f"{me} via 127.0.0.1" in logged, f"nginx access.log:\n{logged}")
        log(f"nginx http: $proxy_protocol_addr:port = {me}, the client's (response and access.log)")

        # Passthrough: the PROXY header, then the replayed ClientHello, then TLS with nginx.
        ctx = ssl.create_default_context(cafile=ENV.ca)
        raw = proxy.connect("tls", source="127.0.0.2")
        me = addr(raw.getsockname())
        with ctx.wrap_socket(raw, server_hostname="pp.test") as t:
            line, _ = recv_until_eof(t, IO_TIMEOUT)
        check(line.decode() == f"pp={me} sni=pp.test\n", f"nginx stream saw {line!r}, the client is {me}")
        proxy.access(listener="tls", client=me, sni="pp.test")
        log(f"nginx stream ssl: $proxy_protocol_addr:port = {me}, $ssl_server_name = pp.test")
    finally:
        proxy.stop()
        ngx.stop()


def test_proxy_protocol_haproxy():
    """HAProxy's PROXY v2 header read by gort-proxy (accept_proxy) and passed on in v1 to nginx.

    The client's address (127.0.0.2:PORT) shows in gort-proxy's access log and
    in nginx's $proxy_protocol_addr:port; a client that skips HAProxy (no
    header) is closed with end=proxy_header."""
    haproxy = tool("haproxy", "haproxy")
    http_port, front_port = free_port(), free_port()
    p = ENV.path("nginx")
    ngx = Nginx(f'''
http {{
{nginx_temp_paths(p)}  access_log off;
  server {{
    listen 127.0.0.1:{http_port} proxy_protocol;
    location / {{ return 200 "pp=$proxy_protocol_addr:$proxy_protocol_port\\n"; }}
  }}
}}
''', http_port)
    proxy = Proxy(f'''access_log = "-"
[[listener]]
name = "behind-haproxy"
address = "127.0.0.1:0"
accept_proxy = true

[[listener.route]]
mode = "forward"
upstreams = ["127.0.0.1:{http_port}"]
proxy_protocol = 1
''', listeners=("behind-haproxy",))
    cfg = ENV.path("haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f'''global
  maxconn 100
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:{front_port}
  default_backend be
backend be
  server gort 127.0.0.1:{proxy.port} send-proxy-v2
''')
    ha = Proc([haproxy, "-f", cfg, "-db"], "haproxy")
    try:
        wait_listening(ha, front_port)
        c = connect(front_port, source="127.0.0.2")
        me = addr(c.getsockname())
        c.sendall(b"GET / HTTP/1.1\r\nHost: pp\r\nConnection: close\r\n\r\n")
        resp, _ = recv_until_eof(c, IO_TIMEOUT)
        c.close()
        check(resp.startswith(b"HTTP/1.1 200"), f"nginx: {resp!r}")
        body = resp.split(b"\r\n\r\n", 1)[1].decode()
        check(body == f"pp={me}\n", f"nginx saw {body!r}; the client is {me}")
        rec = proxy.access(client=me, end="ok")
        log(f"HAProxy -> gort-proxy (v2 read) -> nginx (v1 written): the client {me} is in gort-proxy's log "
            f"(client={rec['client']}) and nginx's $proxy_protocol_addr:port")
        # A client that skips HAProxy sends no header: refused, end=proxy_header.
        c = proxy.connect()
        c.sendall(b"GET / HTTP/1.1\r\nHost: pp\r\n\r\n")
        data, _ = recv_until_eof(c, IO_TIMEOUT)
        c.close()
        check(data == b"", f"a conn without a PROXY header got {data[:80]!r}")
        rec = proxy.access(end="proxy_header")
        log(f"a direct client without a header: closed, end=proxy_header ({rec.get('detail')})")
    finally:
        proxy.stop()
        ngx.stop()
        ha.kill()


# ---------------------------------------------------------------- 9. hello timeout


def test_hello_timeout():
    """client_hello = "300ms": a silent client, and one that sends half a record header, are cut in about that."""
    be = Backend(hold_handler, "never")
    proxy = Proxy(f'''access_log = "-"
[timeouts]
client_hello = "300ms"

[[listener]]
name = "tls"
address = "127.0.0.1:0"

[[listener.route]]
mode = "passthrough"
sni = ["a.test"]
upstreams = ["{be.addr}"]
''', listeners=("tls",))
    try:
        for what, first in (("silent", b""), ("3 bytes of a record header", b"\x16\x03\x01")):
            c = proxy.connect()
            t0 = time.monotonic()
            if first:
                c.sendall(first)
            data, _ = recv_until_eof(c, 10 * ENV.slow)
            took = time.monotonic() - t0
            me = addr(c.getsockname())
            c.close()
            check(data == b"", f"got {data!r}")
            check(0.28 <= took <= 0.3 + 0.7 * ENV.slow, f"{what}: closed after {took:.3f} s, the timeout is 300 ms")
            rec = proxy.access(client=me, end="hello_timeout")
            log(f"{what} client: closed after {took * 1000:.0f} ms, access log end=hello_timeout "
                f"duration={rec['duration']}")
        check(be.accepted == 0, "the upstream was dialed")
    finally:
        proxy.stop()
