#!/usr/bin/env python3
"""gort_certs_test.py: black-box tests of the gort-certs command (tools/certs).

    gort_certs_test.py files GORT_CERTS OPENSSL
    gort_certs_test.py tls   GORT_CERTS OPENSSL
    gort_certs_test.py args  GORT_CERTS OPENSSL

files: what gort-certs writes, checked with the real openssl CLI: `openssl
       verify` of leaf against CA (also for host names and IPs), the SANs and
       extensions in `openssl x509 -text`, the key modes, the CA reused byte
       for byte by a second run, file names, $GORT_CERTS_DIR, --client,
       --rsa, --cert-file/--key-file, and the trust instructions printed.
tls:   real handshakes: `openssl s_server` serves a leaf; Python's ssl (with
       cafile), curl (--cacert) and `openssl s_client` must accept it for a
       listed DNS name, a name under the wildcard and an IP address, and
       reject an unlisted name or IP and an untrusted CA; a --client leaf
       authenticates a client to `s_server -Verify`.
args:  --help, bad arguments (exit 2 and usage, nothing created), errors
       (exit 1, one line: an unwritable directory, a broken or mismatched
       CA, a leaf that would overwrite the CA), the CA never rewritten.

Every run of gort-certs must not print a sanitizer report. Exit 1 on the
first failed check; a watchdog (alarm) bounds the whole test. CTest registers
one test per mode (tools/certs/tests/CMakeLists.txt).
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

IO_TIMEOUT = 20.0  # seconds, for any one connection or command
WATCHDOG = 150  # seconds, the whole test
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer")

GORT_CERTS = OPENSSL = ""
SERVERS = []  # s_server processes, for cleanup


class TestFailure(Exception):
    pass


def check(ok, what):
    if not ok:
        raise TestFailure(what)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def gort_certs(*args, cwd=None, env=None, want=0):
    """Runs gort-certs; checks its exit status and stderr; returns (stdout, stderr)."""
    log("gort-certs " + " ".join(args))
    p = subprocess.run([GORT_CERTS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=IO_TIMEOUT)
    for mark in SANITIZER_MARKS:
        check(mark not in p.stderr, f"sanitizer report from gort-certs {args}:\n{p.stderr}")
    check(p.returncode == want,
          f"gort-certs {args}: exit {p.returncode}, want {want}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p.stdout, p.stderr


def openssl(*args, want=0, stdin=""):
    p = subprocess.run([OPENSSL, *args], input=stdin, capture_output=True, text=True, timeout=IO_TIMEOUT)
    check(p.returncode == want, f"openssl {args}: exit {p.returncode}, want {want}\n{p.stdout}\n{p.stderr}")
    return p.stdout + p.stderr


def read(path):
    with open(path, "rb") as f:
        return f.read()


def mode(path):
    return os.stat(path).st_mode & 0o7777


def cert_text(path):
    return openssl("x509", "-in", path, "-noout", "-text")


# ---------------------------------------------------------------- files


def test_files(tmp):
    d = os.path.join(tmp, "certs")
    out, _ = gort_certs("--dir", d, "example.test", "*.example.test", "localhost", "127.0.0.1", "::1")
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca-key.pem")
    leaf, leaf_key = os.path.join(d, "example.test+4.pem"), os.path.join(d, "example.test+4-key.pem")
    check("Created a new local CA in " + d in out, "first run does not say it created the CA:\n" + out)
    check(sorted(os.listdir(d)) == sorted(["ca.pem", "ca-key.pem", "example.test+4.pem", "example.test+4-key.pem"]),
          f"unexpected files {os.listdir(d)}")
    check(mode(ca_key) == 0o600 and mode(leaf_key) == 0o600, f"key modes {mode(ca_key):o} {mode(leaf_key):o}")
    check(mode(ca) == 0o644 and mode(leaf) == 0o644, f"certificate modes {mode(ca):o} {mode(leaf):o}")

    log("openssl verify: the leaf against the CA, as a server, for its names")
    check("OK" in openssl("verify", "-CAfile", ca, "-purpose", "sslserver", leaf), "openssl verify")
    openssl("verify", "-CAfile", ca, "-verify_hostname", "www.example.test", leaf)
    openssl("verify", "-CAfile", ca, "-verify_ip", "127.0.0.1", leaf)
    openssl("verify", "-CAfile", ca, "-verify_ip", "::1", leaf)
    openssl("verify", "-CAfile", ca, "-verify_hostname", "other.test", leaf, want=2)
    openssl("verify", "-CAfile", ca, "-purpose", "sslclient", leaf, want=2)  # serverAuth only
    openssl("verify", "-CAfile", leaf, ca, want=2)  # sanity: the leaf is no CA

    log("openssl x509 -text: the leaf's names and extensions")
    text = cert_text(leaf)
    sans = "DNS:example.test, DNS:*.example.test, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    for want in (sans,
                 "TLS Web Server Authentication", "CA:FALSE", "Digital Signature", "X509v3 Authority Key Identifier",
                 "X509v3 Subject Key Identifier", "id-ecPublicKey", "P-256", "ecdsa-with-SHA256",
                 "Subject: O = gort development certificate", "CN = example.test", "Issuer: O = gort development CA"):
        check(want in text, f"leaf text lacks {want!r}:\n{text}")
    for unwanted in ("TLS Web Client Authentication", "Key Encipherment", "CA:TRUE"):
        check(unwanted not in text, f"leaf text has {unwanted!r}")
    check(openssl("pkey", "-in", leaf_key, "-pubout") == openssl("x509", "-in", leaf, "-noout", "-pubkey"),
          "the leaf key is not the certificate's")
    check(b"BEGIN PRIVATE KEY" in read(leaf_key), "the key is not PKCS#8")

    log("openssl x509 -text: the CA")
    text = cert_text(ca)
    for want in ("CA:TRUE, pathlen:0", "X509v3 Basic Constraints: critical", "Certificate Sign, CRL Sign",
                 "X509v3 Key Usage: critical", "X509v3 Subject Key Identifier", "CN = gort dev CA "):
        check(want in text, f"CA text lacks {want!r}:\n{text}")
    serial = openssl("x509", "-in", ca, "-noout", "-serial").strip().split("=")[1]
    check(len(serial) >= 32, f"CA serial {serial} has fewer than 128 bits")
    check(serial != openssl("x509", "-in", leaf, "-noout", "-serial").strip().split("=")[1], "same serials")

    log("the trust instructions")
    for want in ("curl --cacert " + ca, "SSL_CERT_FILE=" + ca, f'ssl.create_default_context(cafile="{ca}")',
                 "openssl s_client -CAfile " + ca,
                 "/usr/local/share/ca-certificates/gort-dev-ca.crt && update-ca-certificates"):
        check(want in out, f"output lacks {want!r}:\n{out}")

    log("a second run reuses the CA byte for byte; its leaf verifies against the same ca.pem")
    before = read(ca), read(ca_key)
    out, _ = gort_certs("--dir", d, "*.example.test")
    check("Using the local CA in " + d in out, "second run does not say it reused the CA:\n" + out)
    check((read(ca), read(ca_key)) == before, "the second run changed the CA")
    openssl("verify", "-CAfile", ca, os.path.join(d, "_wildcard.example.test.pem"))
    check(mode(os.path.join(d, "_wildcard.example.test-key.pem")) == 0o600, "key mode")

    log("--client, --rsa, --cert-file, --key-file")
    other = os.path.join(tmp, "elsewhere")
    os.mkdir(other)
    c, k = os.path.join(other, "c.pem"), os.path.join(other, "k.pem")
    gort_certs("--dir=" + d, "--client", "--rsa", "--cert-file", c, "--key-file=" + k, "client.test")
    check(sorted(os.listdir(other)) == ["c.pem", "k.pem"] and mode(k) == 0o600, f"files {os.listdir(other)}")
    openssl("verify", "-CAfile", ca, "-purpose", "sslclient", c)
    openssl("verify", "-CAfile", ca, "-purpose", "sslserver", c)
    text = cert_text(c)
    for want in ("TLS Web Server Authentication, TLS Web Client Authentication", "rsaEncryption", "(2048 bit)",
                 "Digital Signature, Key Encipherment", "DNS:client.test"):
        check(want in text, f"client leaf text lacks {want!r}")
    gort_certs("--dir", d, "--client", "a.test", "b.test")
    check(os.path.exists(os.path.join(d, "a.test+1-client.pem")), "client file name")
    check((read(ca), read(ca_key)) == before, "a later run changed the CA")

    log("the default directory: $GORT_CERTS_DIR, else ./certs")
    env = dict(os.environ, GORT_CERTS_DIR=os.path.join(tmp, "from-env"))
    gort_certs("env.test", cwd=tmp, env=env)
    check(os.path.exists(os.path.join(tmp, "from-env", "ca.pem")), "GORT_CERTS_DIR not used")
    check(os.path.exists(os.path.join(tmp, "from-env", "env.test.pem")), "GORT_CERTS_DIR leaf")
    cwd = os.path.join(tmp, "cwd")
    os.mkdir(cwd)
    env = {k: v for k, v in os.environ.items() if k != "GORT_CERTS_DIR"}
    gort_certs("cwd.test", cwd=cwd, env=env)
    made = sorted(os.listdir(os.path.join(cwd, "certs")))
    check(made == ["ca-key.pem", "ca.pem", "cwd.test-key.pem", "cwd.test.pem"], f"./certs not used: {made}")


# ---------------------------------------------------------------- tls


def start_server(*args):
    """openssl s_server -www on a port of the kernel's choosing; returns its port."""
    argv = [OPENSSL, "s_server", "-accept", "0", "-www", *args]
    log("starting " + " ".join(argv))
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    SERVERS.append(p)
    for line in p.stdout:
        if line.startswith("ACCEPT"):
            # Keep reading what it logs per connection, so that it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return int(line.rsplit(":", 1)[1])
    raise TestFailure(f"s_server exited ({p.wait()}) without ACCEPT")


def python_get(port, server_hostname, cafile, host="127.0.0.1", client=None):
    """Returns None when an HTTPS GET verifies and answers 200, else the error."""
    ctx = ssl.create_default_context(cafile=cafile)
    if client:
        ctx.load_cert_chain(*client)
    try:
        with socket.create_connection((host, port), timeout=IO_TIMEOUT) as s:
            with ctx.wrap_socket(s, server_hostname=server_hostname) as t:
                t.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := t.recv(65536):
                    data += chunk
    except (ssl.SSLError, ConnectionError) as e:
        return e
    return None if data.startswith(b"HTTP/1.0 200") else f"answer {data[:40]!r}"


def expect_python(port, name, cafile, ok, host="127.0.0.1", client=None, why=""):
    err = python_get(port, name, cafile, host=host, client=client)
    log(f"python ssl {name} via {host}: {err or 'verified'}")
    if ok:
        check(err is None, f"python ssl to {name}: {err}")
    else:
        check(err is not None, f"python ssl accepted {name}")
        if why:
            check(why in str(err), f"python ssl to {name} failed, but not with {why!r}: {err}")


def expect_curl(port, name, cafile, ok):
    if not shutil.which("curl"):
        log("curl not installed: curl checks skipped")
        return
    url_host = f"[{name}]" if ":" in name else name
    argv = ["curl", "-sS", "-o", "/dev/null", "--max-time", str(int(IO_TIMEOUT)), "--cacert", cafile]
    if not name[0].isdigit() and ":" not in name:
        argv += ["--resolve", f"{name}:{port}:127.0.0.1"]
    argv.append(f"https://{url_host}:{port}/")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=IO_TIMEOUT + 5)
    log(f"curl {name}: exit {p.returncode} {p.stderr.strip()}")
    check((p.returncode == 0) == ok, f"curl {name}: exit {p.returncode} {p.stderr}")
    if not ok:
        check(p.returncode == 60, f"curl {name}: exit {p.returncode}, want 60 (certificate not accepted)")


def test_tls(tmp):
    d = os.path.join(tmp, "certs")
    gort_certs("--dir", d, "example.test", "*.example.test", "127.0.0.1", "::1")
    ca = os.path.join(d, "ca.pem")
    leaf, key = os.path.join(d, "example.test+3.pem"), os.path.join(d, "example.test+3-key.pem")
    untrusted = os.path.join(tmp, "other")
    gort_certs("--dir", untrusted, "example.test")

    port = start_server("-cert", leaf, "-key", key)
    expect_python(port, "example.test", ca, True)
    expect_python(port, "www.example.test", ca, True)  # the wildcard
    expect_python(port, "127.0.0.1", ca, True)  # an IP SAN (Python checks it)
    expect_python(port, "a.b.example.test", ca, False, why="Hostname mismatch")
    expect_python(port, "other.test", ca, False, why="Hostname mismatch")
    expect_python(port, "127.0.0.2", ca, False, why="IP address mismatch")
    expect_python(port, "example.test", os.path.join(untrusted, "ca.pem"), False, why="unable to get local issuer")
    try:
        socket.create_connection(("::1", port), timeout=IO_TIMEOUT).close()
        expect_python(port, "::1", ca, True, host="::1")
    except OSError as e:
        log(f"no IPv6 loopback ({e}): the ::1 check is skipped")

    expect_curl(port, "example.test", ca, True)
    expect_curl(port, "www.example.test", ca, True)
    expect_curl(port, "127.0.0.1", ca, True)
    expect_curl(port, "other.test", ca, False)
    expect_curl(port, "example.test", os.path.join(untrusted, "ca.pem"), False)

    for name, want in (("example.test", 0), ("other.test", 1)):
        log(f"openssl s_client -verify_hostname {name}")
        openssl("s_client", "-connect", f"127.0.0.1:{port}", "-servername", name, "-CAfile", ca,
                "-verify_hostname", name, "-verify_return_error", "-brief", want=want, stdin="")

    log("a --client leaf authenticates to s_server -Verify; a server-only leaf does not")
    gort_certs("--dir", d, "--client", "client.test")
    client = (os.path.join(d, "client.test-client.pem"), os.path.join(d, "client.test-client-key.pem"))
    port = start_server("-cert", leaf, "-key", key, "-Verify", "1", "-CAfile", ca, "-verify_return_error")
    expect_python(port, "example.test", ca, True, client=client)
    expect_python(port, "example.test", ca, False, client=(leaf, key))
    expect_python(port, "example.test", ca, False)


# ---------------------------------------------------------------- args


def test_args(tmp):
    out, _ = gort_certs("--help")
    check(out.startswith("usage: gort-certs") and "GORT_CERTS_DIR" in out and "--cert-file" in out, "help:\n" + out)

    for args, why in ((("--dir", os.path.join(tmp, "x")), "no names given"),
                      (("1.2.3.256",), 'invalid name "1.2.3.256"'),
                      (("ok.test", "[::1]"), 'invalid name "[::1]"'),
                      (("user@example.test",), "email addresses are not supported"),
                      (("ok.test", "bad..name"), 'invalid name "bad..name"'),
                      (("--bogus", "ok.test"), "unknown option --bogus"),
                      (("ok.test", "--dir"), "--dir needs a value"),
                      (("--cert-file=", "ok.test"), "--cert-file needs a value")):
        _, err = gort_certs(*args, cwd=tmp, want=2)
        check(why in err and "usage: gort-certs" in err, f"{args}: stderr lacks {why!r} or usage:\n{err}")
    check(os.listdir(tmp) == [], f"bad arguments created files: {os.listdir(tmp)}")

    def error(*args, why):
        _, err = gort_certs(*args, want=1)
        check(why in err and err.startswith("gort-certs: ") and err.count("\n") == 1,
              f"{args}: want one line with {why!r}:\n{err}")

    afile = os.path.join(tmp, "a-file")
    open(afile, "w").close()
    error("--dir", os.path.join(afile, "sub"), "ok.test", why="cannot create directory " + os.path.join(afile, "sub"))

    d = os.path.join(tmp, "certs")
    gort_certs("--dir", d, "ok.test")
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca-key.pem")
    good = read(ca), read(ca_key)
    error("--dir", d, "ca", why="would overwrite the CA")  # ca.pem is the CA's
    error("--dir", d, "--key-file", ca_key, "x.test", why="would overwrite the CA")
    missing = os.path.join(tmp, "no")
    error("--dir", d, "--cert-file", os.path.join(missing, "c.pem"), "x.test", why="cannot create " + missing)
    check((read(ca), read(ca_key)) == good, "the CA was changed")

    with open(ca, "wb") as f:
        f.write(good[0][:200])
    error("--dir", d, "ok.test", why=ca + " is not a PEM certificate")
    check(read(ca) == good[0][:200], "a broken ca.pem was rewritten")

    with open(ca, "wb") as f:
        f.write(good[0])
    os.rename(ca_key, ca_key + ".away")
    error("--dir", d, "ok.test", why=ca + " exists but " + ca_key + " does not")
    check(not os.path.exists(ca_key), "a missing ca-key.pem was made")

    other = os.path.join(tmp, "other")
    gort_certs("--dir", other, "ok.test")
    shutil.copy(os.path.join(other, "ca-key.pem"), ca_key)
    error("--dir", d, "ok.test", why=ca_key + " is not the private key of " + ca)

    os.replace(ca_key + ".away", ca_key)
    out, _ = gort_certs("--dir", d, "ok.test")
    check("Using the local CA" in out and (read(ca), read(ca_key)) == good, "the restored CA is not used as it was")


# ---------------------------------------------------------------- main


def main():
    global GORT_CERTS, OPENSSL
    if len(sys.argv) != 4 or sys.argv[1] not in ("files", "tls", "args"):
        print(__doc__, file=sys.stderr)
        return 2
    GORT_CERTS, OPENSSL = os.path.abspath(sys.argv[2]), sys.argv[3]
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TestFailure(f"watchdog: over {WATCHDOG} s")))
    signal.alarm(WATCHDOG)
    tmp = tempfile.mkdtemp(prefix="gort-certs-test-")
    try:
        {"files": test_files, "tls": test_tls, "args": test_args}[sys.argv[1]](tmp)
    except TestFailure as e:
        log(f"FAIL: {e}")
        return 1
    finally:
        for p in SERVERS:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
