"""harness.py: what gort-proxy's end-to-end scenarios are written with.

  - ENV: the binaries under test, a temporary directory, the sanitizer the
    proxy was built with (SLOW widens timing bounds under it);
  - processes: run() for a command to its end, Proc for a server (stdout and
    stderr collected line by line, wait_line), Proxy for gort-proxy itself
    (a TOML config written, its listeners' ports read back from its log, its
    access log parsed), Nginx; every child in a process group of its own,
    killed at exit, and killed by the kernel if the driver dies;
  - python peers: Backend (a TCP server in a thread, a handler per conn),
    Stream and Sink (a deterministic byte stream and its sha256 at both
    ends), echo, hold and stream handlers;
  - every wait bounded: IO_TIMEOUT for one socket operation, log line or
    short command.
"""
import ctypes
import hashlib
import mmap
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

__all__ = [
    "IO_TIMEOUT", "WATCHDOG", "SKIP", "CHUNK", "SANITIZER_MARKS", "TestFailure", "Skipped", "check", "log",
    "ENV", "tool", "PROCS", "kill_all", "run", "Proc", "port_listening", "wait_listening", "free_port", "connect",
    "addr", "parse_logfmt", "Proxy", "forward_config", "make_cert", "Worker", "BACKENDS", "Backend", "Stream",
    "Sink", "NullSock", "stream_handler", "echo_handler", "hold_handler", "recv_exact", "recv_line",
    "recv_until_eof", "echo_roundtrip", "silent_for", "Nginx", "nginx_temp_paths",
]

IO_TIMEOUT = 20.0  # seconds, for any one socket operation, log line or short command
WATCHDOG = 165  # seconds, the whole test (CTest's TIMEOUT is 180)
SKIP = 77  # CTest's SKIP_RETURN_CODE for these tests
CHUNK = 1 << 20  # the unit of every bulk transfer: 1 MiB
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer")


class TestFailure(Exception):
    pass


class Skipped(Exception):
    pass


def check(ok, what):
    if not ok:
        raise TestFailure(what)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- the environment


class Env:
    """What every scenario shares: the binaries, a temporary directory, the
    sanitizer; set up once by main() (the one instance is ENV)."""

    tmp = None

    def setup(self, proxy, certs):
        self.proxy = os.path.abspath(proxy)
        self.certs = os.path.abspath(certs)
        for b in (self.proxy, self.certs):
            check(os.access(b, os.X_OK), f"{b} is not an executable")
        self.tmp = tempfile.mkdtemp(prefix="gort-e2e-")
        self.certs_dir = os.path.join(self.tmp, "certs")
        self.ca = os.path.join(self.certs_dir, "ca.pem")
        self.sanitizer = sanitizer_of(self.proxy)
        # SLOW widens the upper bound of a timing check (never the lower one).
        self.slow = {"": 1.0, "address": 3.0, "thread": 5.0}[self.sanitizer]
        self.mib = int(os.environ.get("GORT_E2E_MIB", "256"))
        log(f"gort-proxy {self.proxy} (sanitizer: {self.sanitizer or 'none'}); temporary files in {self.tmp}")

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)


def sanitizer_of(binary):
    """'thread', 'address' or '': read from the binary's symbols (its runtime's init function)."""
    with open(binary, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m.find(b"__tsan_init") >= 0:
            return "thread"
        if m.find(b"__asan_init") >= 0:
            return "address"
    return ""


ENV = Env()  # main() calls ENV.setup(...)


def tool(name, package):
    """The path of a peer program, or skip the test naming its Debian package."""
    p = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")  # nginx, haproxy: sbin
    if not p:
        raise Skipped(f"{name} is not installed (Debian package {package}; tools/setup-deps.sh installs it)")
    return p


# ---------------------------------------------------------------- processes

PROCS = []  # every long-running child (Proc), killed (by process group) at exit
_RUNNING = set()  # the Popen of each run() under way, likewise
_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # PR_SET_PDEATHSIG: the child is killed if this script dies (children
    # are started by the main thread only: the signal follows the thread).
    _libc.prctl(1, signal.SIGKILL)


def _popen(argv, **kw):
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=_child_setup, **kw)


def killpg(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_all():
    for p in PROCS:
        killpg(p.p)
    for p in list(_RUNNING):
        killpg(p)


def run(argv, timeout=IO_TIMEOUT, env=None, cwd=None):
    """Runs argv to its end: (status, stdout, stderr). Fails if it takes longer than timeout."""
    p = _popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    _RUNNING.add(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"{argv[0]} did not finish within {timeout} s: {' '.join(argv)}")
    finally:
        killpg(p)  # its group: what a `bash -c` left behind, or all of it after a timeout
        _RUNNING.discard(p)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


class Proc:
    """A long-running child: stdout and stderr collected line by line."""

    def __init__(self, argv, name, env=None, cwd=None):
        self.name = name
        log(f"starting {name}: {' '.join(argv)}")
        self.p = _popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                        cwd=cwd)
        PROCS.append(self)
        self.lines = {"out": [], "err": []}
        self.eof = {"out": False, "err": False}
        self.cv = threading.Condition()
        for key, f in (("out", self.p.stdout), ("err", self.p.stderr)):
            threading.Thread(target=self._drain, args=(f, key), daemon=True).start()

    def _drain(self, f, key):
        for raw in iter(f.readline, b""):
            with self.cv:
                self.lines[key].append(raw.decode(errors="replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.eof[key] = True
            self.cv.notify_all()

    def text(self, key="err", last=None):
        with self.cv:
            lines = self.lines[key] if last is None else self.lines[key][-last:]
            return "\n".join(lines)

    def mark(self, key="err"):
        """The number of lines so far: a wait_line(after=...) sees only later ones."""
        with self.cv:
            return len(self.lines[key])

    def wait_line(self, pattern, key="err", timeout=IO_TIMEOUT, after=0):
        """(index, match) of the first line from `after` on matching the regex, waiting for it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            i = after
            while True:
                while i < len(self.lines[key]):
                    m = rx.search(self.lines[key][i])
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if self.eof[key] or left <= 0:
                    why = "the stream ended" if self.eof[key] else f"{timeout} s passed"
                    raise TestFailure(f"{self.name}: no line matching {pattern!r} ({why}); std{key}:\n"
                                      + "\n".join(self.lines[key][-40:]))
                self.cv.wait(min(left, 0.5))

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"{self.name} did not exit within {timeout:.1f} s; stderr:\n{self.text(last=30)}")

    def running(self):
        return self.p.poll() is None

    def kill(self):
        killpg(self.p)

    # gort-proxy's access log, when it goes to stderr (access_log = "-", and the demo's).
    def access_lines(self):
        with self.cv:
            return [parse_logfmt(ln) for ln in self.lines["err"] if ACCESS_LINE.match(ln)]

    def access(self, timeout=IO_TIMEOUT, **want):
        """The first access log line whose fields include want (values compared as strings)."""
        want = {k: str(v) for k, v in want.items()}
        deadline = time.monotonic() + timeout
        while True:
            ended = self.eof["err"]  # read before the lines: once it is set, no line is still to come
            for rec in self.access_lines():
                if all(rec.get(k) == v for k, v in want.items()):
                    return rec
            if time.monotonic() > deadline or ended:
                raise TestFailure(f"no access log line with {want}; stderr:\n{self.text(last=30)}")
            with self.cv:
                self.cv.wait(0.2)

    def check_sanitizers(self):
        with self.cv:  # the drain threads see the end of the output soon after the exit
            self.cv.wait_for(lambda: self.eof["err"], timeout=5)
        text = self.text()
        bad = [m for m in SANITIZER_MARKS if m in text]
        check(not bad, f"sanitizer report on {self.name}'s stderr:\n{text}")


def port_listening(port):
    """Whether some socket listens on 127.0.0.1:port (or 0.0.0.0:port), from /proc/net/tcp."""
    want = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] in want and fields[3] == "0A":
                return True
    return False


def wait_listening(proc, port, timeout=IO_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not port_listening(port):
        check(proc.running(), f"{proc.name} exited with status {proc.p.returncode}; stderr:\n{proc.text(last=30)}")
        check(time.monotonic() < deadline, f"{proc.name} is not listening on port {port} after {timeout} s")
        time.sleep(0.05)


def free_port():
    """A port the kernel just gave out and took back: for peers that cannot report theirs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port, host="127.0.0.1", source=None, timeout=IO_TIMEOUT):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def addr(sockname):
    return f"{sockname[0]}:{sockname[1]}"


# ---------------------------------------------------------------- gort-proxy


ACCESS_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z listener=")
LOGFMT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line):
    out = {}
    for k, v in LOGFMT_FIELD.findall(line):
        if v.startswith('"'):
            v = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v[1:-1])
        out[k] = v
    return out


class Proxy(Proc):
    """gort-proxy --config FILE, FILE written from config_text; ports read from its log."""

    def __init__(self, config_text, listeners=("main",), name="gort-proxy", env=None):
        self.config_path = ENV.path(f"{name}.toml")
        self.write_config(config_text)
        super().__init__([ENV.proxy, "--config", self.config_path], name, env=env)
        self.ports = {}
        for ln in listeners:
            _, m = self.wait_line(rf'^gort-proxy: listener "{re.escape(ln)}" on 127\.0\.0\.1:(\d+)$')
            self.ports[ln] = int(m.group(1))
            check(self.ports[ln] != 0, f"listener {ln} reported port 0")
        self.port = self.ports[listeners[0]]
        log(f"{name} listening: {self.ports}")

    def write_config(self, text):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)  # SIGHUP never reads half a file

    def connect(self, listener=None, **kw):
        return connect(self.ports[listener] if listener else self.port, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signals it, waits for exit status 0 and checks for sanitizer reports."""
        timeout = timeout or 10 * ENV.slow
        if self.running():
            self.p.send_signal(sig)
        rc = self.wait_exit(timeout)
        check(rc == 0, f"{self.name} exited with status {rc}; stderr:\n{self.text(last=40)}")
        self.check_sanitizers()
        log(f"{self.name} stopped with status 0")


def forward_config(upstream, **top):
    """A config with one listener, "main", on 127.0.0.1:0 and one forward route."""
    head = "".join(f"{k} = {v}\n" for k, v in top.items())
    return (f'{head}access_log = "-"\n\n[[listener]]\nname = "main"\naddress = "127.0.0.1:0"\n\n'
            f'[[listener.route]]\nname = "fwd"\nmode = "forward"\nupstreams = ["{upstream}"]\n')


def make_cert(name, *hosts):
    """A certificate for hosts from gort-certs (the CA in ENV.certs_dir): (cert path, key path)."""
    cert, key = os.path.join(ENV.certs_dir, f"{name}.pem"), os.path.join(ENV.certs_dir, f"{name}-key.pem")
    rc, out, err = run([ENV.certs, "--dir", ENV.certs_dir, "--cert-file", cert, "--key-file", key, *hosts])
    check(rc == 0, f"gort-certs {' '.join(hosts)}: status {rc}\n{out}{err}")
    return cert, key


# ---------------------------------------------------------------- python peers


class Worker(threading.Thread):
    """A thread whose exception, if any, join() raises."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args, self.err, self.result = fn, args, None, None
        self.start()

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:  # reported by join()
            self.err = e

    def join(self, timeout=IO_TIMEOUT):
        super().join(timeout)
        check(not self.is_alive(), f"a worker thread ({self.fn.__name__}) did not finish within {timeout} s")
        if self.err:
            raise TestFailure(f"{self.fn.__name__}: {type(self.err).__name__}: {self.err}")
        return self.result


BACKENDS = []


class Backend:
    """A TCP server in this process on 127.0.0.1:0: handler(conn, index) per conn, in a thread."""

    def __init__(self, handler, name):
        self.name, self.handler = name, handler
        self.ls = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.accepted = 0
        self.errors = []
        self.done = []  # indexes of conns whose handler returned
        self.cv = threading.Condition()
        self.stopping = False
        BACKENDS.append(self)
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(IO_TIMEOUT)
            with self.cv:
                i = self.accepted
                self.accepted += 1
                self.cv.notify_all()
            threading.Thread(target=self._serve, args=(c, i), daemon=True).start()

    def _serve(self, c, i):
        try:
            self.handler(c, i)
        except Exception as e:
            with self.cv:
                self.errors.append(f"conn {i}: {type(e).__name__}: {e}")
        finally:
            c.close()
            with self.cv:
                self.done.append(i)
                self.cv.notify_all()

    def wait(self, pred, what, timeout=IO_TIMEOUT):
        with self.cv:
            check(self.cv.wait_for(lambda: pred(self), timeout), f"backend {self.name}: {what} within {timeout} s")

    def close(self):
        self.stopping = True
        self.ls.close()


def block_of(seed):
    return random.Random(seed).randbytes(CHUNK)


class Stream:
    """The deterministic byte stream `seed`, total bytes long: 1 MiB blocks, each
    starting with its index (so a lost, repeated or reordered block shows), sent
    in parts with send(); sha256 of what was sent so far in h."""

    def __init__(self, seed, total):
        self.buf = bytearray(block_of(seed))
        self.total, self.pos, self.h = total, 0, hashlib.sha256()

    def send(self, s, upto=None):
        upto = self.total if upto is None else min(upto, self.total)
        while self.pos < upto:
            off = self.pos % CHUNK
            if off == 0:
                self.buf[:8] = (self.pos // CHUNK).to_bytes(8, "big")
            n = min(CHUNK - off, upto - self.pos)
            mv = memoryview(self.buf)[off:off + n]
            self.h.update(mv)
            s.sendall(mv)
            self.pos += n

    def digest(self):
        return self.h.hexdigest()


class Sink:
    """Bytes received, counted and hashed; recv() reads up to a count or EOF."""

    def __init__(self):
        self.buf = bytearray(CHUNK)
        self.n, self.h, self.eof = 0, hashlib.sha256(), False

    def recv(self, s, upto=None):
        mv = memoryview(self.buf)
        while not self.eof and (upto is None or self.n < upto):
            want = CHUNK if upto is None else min(CHUNK, upto - self.n)
            k = s.recv_into(mv[:want])
            if k == 0:
                self.eof = True
                break
            self.h.update(mv[:k])
            self.n += k

    def digest(self):
        return self.h.hexdigest()


class NullSock:
    """sendall() into nothing: Stream's digest without a socket."""

    def sendall(self, b):
        pass


def stream_handler(results, seed, total):
    """A backend handler: sends Stream(seed, total) then half-closes, while it
    reads all the client sends; results[index] = (Sink, Stream)."""

    def handler(c, i):
        tx, rx = Stream(seed, total), Sink()

        def send():
            tx.send(c)
            c.shutdown(socket.SHUT_WR)

        w = Worker(send)
        rx.recv(c)
        w.join(timeout=120)
        results[i] = (rx, tx)

    return handler


def echo_handler(tag=None):
    """A backend handler: says tag (a line) first if given, then echoes until EOF."""

    def handler(c, i):
        if tag:
            c.sendall(f"{tag}\n".encode())
        while True:
            data = c.recv(65536)
            if not data:
                return
            c.sendall(data)

    return handler


def hold_handler(c, i):
    """A backend handler: reads until EOF, says nothing."""
    while c.recv(65536):
        pass


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(n - len(buf), CHUNK))
        check(chunk, f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_line(s):
    buf = bytearray()
    while not buf.endswith(b"\n"):
        b = s.recv(1)
        check(b, f"EOF before a full line; got {bytes(buf)!r}")
        buf += b
    return buf.decode().rstrip("\n")


def recv_until_eof(s, timeout):
    """(data, seconds) until EOF or a reset; fails after timeout."""
    t0 = time.monotonic()
    data = bytearray()
    s.settimeout(timeout)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise TestFailure(f"no EOF within {timeout} s (got {len(data)} bytes)")
    return bytes(data), time.monotonic() - t0


def echo_roundtrip(s, rng, n):
    data = rng.randbytes(n)
    s.sendall(data)
    check(recv_exact(s, n) == data, f"echo of {n} bytes differs")


def silent_for(s, seconds):
    """Whether nothing (not even EOF) arrives on s for that long."""
    s.settimeout(seconds)
    try:
        data = s.recv(1)
    except socket.timeout:
        return True
    finally:
        s.settimeout(IO_TIMEOUT)
    raise TestFailure(f"expected nothing for {seconds} s, got {data!r}")


# ---------------------------------------------------------------- nginx


def nginx_temp_paths(prefix):
    """An http block's *_temp_path lines, under prefix (nginx checks them even when unused)."""
    return "".join(f"  {k}_temp_path {prefix}/tmp/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


class Nginx(Proc):
    """nginx in the foreground, one process, everything under its own prefix."""

    def __init__(self, body, port, name="nginx", stream=False):
        exe = tool("nginx", "nginx")
        prefix = ENV.path(name)
        os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
        load = ""
        if stream:
            mod = "/usr/lib/nginx/modules/ngx_stream_module.so"
            if not os.path.exists(mod):
                raise Skipped(f"{mod} is missing (Debian package libnginx-mod-stream)")
            load = f"load_module {mod};\n"
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"{load}daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\n"
                    f"error_log {prefix}/error.log info;\nevents {{ worker_connections 256; }}\n{body}")
        self.prefix = prefix
        super().__init__([exe, "-p", prefix + "/", "-c", conf, "-e", f"{prefix}/error.log"], name)
        wait_listening(self, port)

    def stop(self):
        self.p.send_signal(signal.SIGQUIT)  # graceful
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
