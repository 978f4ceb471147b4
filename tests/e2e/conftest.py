"""Shared helpers for the sockbox end-to-end tests (CONVENTIONS §16).

Every test starts the real binary ($SOCKBOX_BIN, default build/sockbox) on port 0, waits for the
readiness line with a deadline, gives every socket operation a timeout and kills what it started
by PID (never by name).  Loops are bounded by deadlines; nothing asserts on speed.
"""

import contextlib
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SEEDS = os.path.join(HERE, "seeds")
SOCKBOX_BIN = os.environ.get("SOCKBOX_BIN") or os.path.join(REPO, "build", "sockbox")
PYTHON = "/usr/bin/python3"

# Functional deadlines (how long to wait before declaring something broken), not speed checks.
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
IO_TIMEOUT = 10.0

LISTENING_RE = re.compile(r"^listening on (\S+)(?: \(.*\))?$")
SUMMARY_RE = re.compile(
    r"^sockbox: served (\d+) connections? \((\d+) refused\), (\d+) bytes in, (\d+) bytes out, "
    r"(\d+) datagrams, (\d+) errors in (\d+\.\d+)s(?:; (.*))?$"
)
LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\w+) ([\w-]+)(.*)$")
KV_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


# --------------------------------------------------------------------------------------------
# markers / skips


def _sanitized(path):
    """True when the binary under test is built with AddressSanitizer (make test-asan): its
    allocator keeps freed memory in quarantine and its shadow memory counts in RSS, so memory
    numbers say nothing about sockbox's own use."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized(SOCKBOX_BIN)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(tool): test runs an external program (skipped if absent)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark in item.iter_markers(name="needs"):
            for tool in mark.args:
                if shutil.which(tool) is None:
                    item.add_marker(pytest.mark.skip(reason=f"{tool} is not installed"))


def needs(*tools):
    return pytest.mark.needs(*tools)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not have_ipv6_loopback(), reason="::1 is not available")


@pytest.fixture(scope="session", autouse=True)
def sockbox_bin():
    if not (os.path.isfile(SOCKBOX_BIN) and os.access(SOCKBOX_BIN, os.X_OK)):
        pytest.fail(f"sockbox binary not found at {SOCKBOX_BIN} (run `make` or set SOCKBOX_BIN)")
    return SOCKBOX_BIN


# --------------------------------------------------------------------------------------------
# child processes


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # If pytest itself dies, do not leave servers behind (all children are started from the
    # main thread, so the thread-exit semantics of PDEATHSIG do not bite).
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def popen(argv, **kw):
    kw.setdefault("preexec_fn", _die_with_parent)
    return subprocess.Popen(argv, **kw)


def kill_proc(p, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Signal p by PID, wait up to timeout, then SIGKILL. Returns the exit code."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(STOP_TIMEOUT)
    return p.returncode


def kill_group(p, timeout=STOP_TIMEOUT):
    """SIGKILL the process group led by p (started with start_new_session=True), so that the
    children a forking peer (ncat -k, socat fork) made go too. Returns the leader's exit code."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    return p.returncode


def run(argv, input=None, timeout=30.0, capture=True, **kw):
    """subprocess.run with a deadline; on timeout the child is killed and the test fails.
    capture=False: only stderr is captured (pass stdin=/stdout= yourself)."""
    if capture:
        kw["capture_output"] = True
    else:
        kw.setdefault("stderr", subprocess.PIPE)
    try:
        return subprocess.run(argv, input=input, timeout=timeout, preexec_fn=_die_with_parent,
                              **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{argv!r} did not finish within {timeout}s; stdout={e.stdout!r:.300} "
                    f"stderr={e.stderr!r:.1000}")


def sockbox(*args, **kw):
    return run([SOCKBOX_BIN, *args], **kw)


# --------------------------------------------------------------------------------------------
# addresses


def parse_addr(addr):
    """'127.0.0.1:1', '[::1]:1', 'udp://127.0.0.1:1', 'tcp://..', 'unix:/p' ->
    (kind, family, sockaddr) where kind is 'tcp', 'udp' or 'unix'."""
    kind = "tcp"
    if addr.startswith("unix:"):
        return "unix", socket.AF_UNIX, addr[len("unix:"):]
    m = re.match(r"^(tcp|udp|tls)://(.*)$", addr)
    if m:
        kind, addr = m.group(1), m.group(2)
        kind = "tcp" if kind == "tls" else kind
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", addr)
    if m:
        return kind, socket.AF_INET6, (m.group(1), int(m.group(2)))
    host, _, port = addr.rpartition(":")
    return kind, socket.AF_INET, (host, int(port))


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port that was free a moment ago (for tools that cannot listen on port 0)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def full_backlog_port():
    """A listener whose accept queue is full and that never accepts: a new connect to the
    yielded port gets no answer to its SYN, so it hangs until the client's timeout. Skips the
    test when this kernel still completes such a connect (checked with a probe)."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers = []
    try:
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        port = lst.getsockname()[1]
        for _ in range(4):  # fill the accept queue; nothing accepts, later SYNs are dropped
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
            time.sleep(0.02)
        probe = socket.socket()
        fillers.append(probe)
        probe.setblocking(False)
        probe.connect_ex(("127.0.0.1", port))
        if select.select([], [probe], [], 0.5)[1]:
            pytest.skip("this kernel completes connections past a full accept queue")
        yield port
    finally:
        for c in fillers:
            c.close()
        lst.close()


def tcp_listening(port, host_hex=None):
    """True if some socket is in LISTEN state on this TCP port (from /proc/net/tcp{,6})."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state = parts[1], parts[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def wait_tcp_listening(port, proc=None, timeout=READY_TIMEOUT):
    """Wait (without connecting, so one-shot servers are not consumed) for a listener."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tcp_listening(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"peer exited with {proc.returncode} before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on TCP port {port} within {timeout}s")


def start_peer_server(make_argv, attempts=5, timeout=READY_TIMEOUT, stdout=subprocess.DEVNULL):
    """Start an external server on a free port in its own process group, retrying on a port
    race. make_argv(port) -> argv. Returns (proc, port); stop it with kill_group(proc).
    stdout: where the server's output goes (a file the test reads, say)."""
    last = None
    for _ in range(attempts):
        port = free_port()
        p = popen(make_argv(port), stdin=subprocess.DEVNULL, stdout=stdout,
                  stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_tcp_listening(port, p, timeout)
            return p, port
        except (RuntimeError, TimeoutError) as e:
            last = e
            kill_group(p)
            p.communicate(timeout=STOP_TIMEOUT)
    raise RuntimeError(f"could not start {make_argv(0)!r}: {last}")


@pytest.fixture
def procs():
    """Register external processes; each is killed by PID at teardown."""
    started = []
    yield started
    for p in started:
        kill_proc(p, signal.SIGKILL)
        try:
            p.communicate(timeout=STOP_TIMEOUT)
        except (subprocess.TimeoutExpired, ValueError):
            pass


@pytest.fixture
def short_tmp():
    """A short directory for unix socket paths (sun_path is at most 107 bytes)."""
    d = tempfile.mkdtemp(prefix="sbx-e2e-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# sockets


def connect(addr, timeout=IO_TIMEOUT, kind=None):
    """A connected socket (TCP or unix stream, or a connected UDP socket) with a timeout."""
    k, family, sa = parse_addr(addr)
    kind = kind or k
    stype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    s = socket.socket(family, stype)
    s.settimeout(timeout)
    try:
        s.connect(sa)
    except BaseException:
        s.close()
        raise
    return s


def recv_exact(s, n, timeout=IO_TIMEOUT):
    """Read exactly n bytes or fail (EOF or deadline)."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"got {len(buf)} of {n} bytes before the deadline")
        s.settimeout(left)
        chunk = s.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_until_eof(s, timeout=IO_TIMEOUT, limit=1 << 30):
    """Read until EOF; returns the bytes. Fails on deadline."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) <= limit:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no EOF within {timeout}s ({len(buf)} bytes read)")
        s.settimeout(left)
        chunk = s.recv(1 << 20)
        if not chunk:
            return bytes(buf)
        buf += chunk
    raise AssertionError("peer sent more than the limit")


def expect_closed_without_data(s, timeout=IO_TIMEOUT):
    """The peer must close (EOF or reset) without sending anything."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("connection was not closed by the peer")
        s.settimeout(left)
        try:
            data = s.recv(4096)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return "reset"
        assert data == b"", f"expected EOF/reset without data, got {data!r:.100}"
        return "eof"


def echo_roundtrip(s, payload):
    s.sendall(payload)
    return recv_exact(s, len(payload))


def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --------------------------------------------------------------------------------------------
# log lines


def parse_log_line(line):
    """Text log line -> dict(ts, level, event, **kv) or None."""
    m = LOG_RE.match(line)
    if not m:
        return None
    d = {"ts": m.group(1), "level": m.group(2), "event": m.group(3)}
    for k, v in KV_RE.findall(m.group(4)):
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        d[k] = v
    return d


def parse_summary(text):
    """The text summary line -> dict, or None."""
    for line in text.splitlines():
        m = SUMMARY_RE.match(line)
        if m:
            keys = ("served", "refused", "bytes_in", "bytes_out", "datagrams", "errors")
            d = {k: int(v) for k, v in zip(keys, m.groups())}
            d["seconds"] = float(m.group(7))
            d["notes"] = m.group(8) or ""
            return d
    return None


# --------------------------------------------------------------------------------------------
# the server under test


class Server:
    """`sockbox serve ARGS...` with stderr collected by a background thread.

    start() waits (with a deadline) for one readiness line per listener and exposes the
    addresses in .addrs; stop() sends a signal, waits, SIGKILLs if needed and returns
    (exit code, collected stderr)."""

    def __init__(self, args, listeners=None, log_format="text"):
        self.args = list(args)
        if listeners is None:
            listeners = max(1, sum(1 for a in self.args if a == "-l" or a.startswith("--listen")))
        self.nlisteners = listeners
        self.json = log_format == "json" or "json" in self.args
        self.proc = None
        self.addrs = []
        self.lines = []
        self._cv = threading.Condition(threading.RLock())
        self._eof = False
        self._threads = []
        self.stdout = bytearray()

    # ---- process

    def start(self, timeout=READY_TIMEOUT):
        self.proc = popen([SOCKBOX_BIN, "serve", *self.args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        t = threading.Thread(target=self._read_stderr, daemon=True)
        t.start()
        t2 = threading.Thread(target=self._read_stdout, daemon=True)
        t2.start()
        self._threads = [t, t2]
        try:
            self.addrs = self._wait_ready(timeout)
        except BaseException:
            self.stop(signal.SIGKILL)
            raise
        return self

    def _read_stderr(self):
        f = self.proc.stderr
        for raw in iter(f.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cv:
                self.lines.append(line)
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def _read_stdout(self):
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
            self.stdout += chunk

    def _listening_addr(self, line):
        if self.json:
            try:
                obj = json.loads(line)
            except ValueError:
                return None
            if isinstance(obj, dict) and obj.get("event") == "listening":
                return obj.get("addr")
            return None
        m = LISTENING_RE.match(line)
        return m.group(1) if m else None

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                addrs = [a for a in map(self._listening_addr, self.lines) if a]
                if len(addrs) >= self.nlisteners:
                    return addrs
                if self._eof:
                    self.proc.wait(STOP_TIMEOUT)
                    raise RuntimeError(
                        f"sockbox serve {' '.join(self.args)} exited with {self.proc.returncode} "
                        f"before it was ready; stderr:\n" + "\n".join(self.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no {self.nlisteners} readiness line(s) within {timeout}s; stderr so far:\n"
                        + "\n".join(self.lines))
                self._cv.wait(min(left, 0.5))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal by PID, wait, SIGKILL if needed. Returns (exit code, stderr text)."""
        if self.proc is None:
            return None, ""
        rc = kill_proc(self.proc, sig, timeout)
        for t in self._threads:
            t.join(STOP_TIMEOUT)
        for f in (self.proc.stderr, self.proc.stdout):
            try:
                f.close()
            except Exception:
                pass
        return rc, self.stderr()

    def wait_stdout(self, predicate, timeout=IO_TIMEOUT, what="output on stdout"):
        """Wait until predicate(stdout text) is truthy; returns the text."""
        deadline = time.monotonic() + timeout
        while True:
            text = bytes(self.stdout).decode("utf-8", "replace")
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; stdout:\n{text[-2000:]}")
            time.sleep(0.02)

    def wait_exit(self, timeout):
        """Wait for the process to exit by itself. Returns the code or None on timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    # ---- addresses

    @property
    def addr(self):
        return self.addrs[0]

    def sockaddr(self, i=0):
        return parse_addr(self.addrs[i])[2]

    @property
    def port(self):
        return self.sockaddr(0)[1]

    def connect(self, i=0, timeout=IO_TIMEOUT):
        return connect(self.addrs[i], timeout)

    # ---- stderr

    def stderr(self):
        with self._cv:
            return "\n".join(self.lines)

    def events(self, event=None, level=None):
        """Parsed log lines (text or json), optionally filtered."""
        with self._cv:
            lines = list(self.lines)
        out = []
        for line in lines:
            if self.json:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(d, dict):
                    continue
                d = {k: (str(v) if not isinstance(v, str) else v) for k, v in d.items()}
            else:
                d = parse_log_line(line)
                if d is None:
                    continue
            if event is not None and d.get("event") != event:
                continue
            if level is not None and d.get("level") != level:
                continue
            out.append(d)
        return out

    def wait_for(self, predicate, timeout=IO_TIMEOUT, what="a log line"):
        """Wait until predicate(server) is truthy (checked as stderr lines arrive)."""
        deadline = time.monotonic() + timeout
        with self._cv:  # an RLock: predicate may call events()
            while True:
                v = predicate(self)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise AssertionError(f"timed out waiting for {what}; stderr:\n"
                                         + "\n".join(self.lines[-50:]))
                self._cv.wait(min(left, 0.2))

    def wait_event(self, event, timeout=IO_TIMEOUT, count=1, **match):
        """Wait until `count` log events with these key=value pairs were logged."""
        def pred(srv):
            evs = [e for e in srv.events(event)
                   if all(str(e.get(k)) == str(v) for k, v in match.items())]
            return evs if len(evs) >= count else None
        return self.wait_for(pred, timeout, what=f"{count} x {event} {match}")


@pytest.fixture
def serve():
    """serve(*args, listeners=None) -> started Server; everything is stopped at teardown."""
    started = []

    def _serve(*args, listeners=None, log_format="text"):
        srv = Server(args, listeners=listeners, log_format=log_format)
        started.append(srv)
        return srv.start()

    yield _serve
    for srv in started:
        srv.stop(signal.SIGKILL)


def local_peer(s):
    """How the server names this client socket in its logs: 127.0.0.1:PORT / [::1]:PORT."""
    host, port = s.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --------------------------------------------------------------------------------------------
# certificates (made with the openssl command line, once per session)


class Certs:
    """A test CA and certificates it signed, in one directory:
    ca.pem; server.pem/.key (localhost, 127.0.0.1 and ::1, valid); expired.pem/.key (the same
    names, expired yesterday); other.pem/.key (only other.example); selfsigned.pem/.key
    (localhost and 127.0.0.1, signed by itself). pin(name) is the sha256:BASE64 of a
    certificate's public key, as --pin takes it."""

    SAN = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

    def __init__(self, d):
        self.dir = d
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.path("ca.key"), "-out", self.path("ca.pem"),
                      "-subj", "/CN=sockbox test CA", "-days", "3",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._signed("server", self.SAN, 3)
        self._signed("expired", self.SAN, -1)
        self._signed("other", "subjectAltName=DNS:other.example", 3)
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.path("selfsigned.key"),
                      "-out", self.path("selfsigned.pem"), "-subj", "/CN=localhost",
                      "-days", "3", "-addext", self.SAN)

    def path(self, name):
        return os.path.join(self.dir, name)

    def pair(self, name):
        """--tls-cert/--tls-key arguments for serve."""
        return ["--tls-cert", self.path(name + ".pem"), "--tls-key", self.path(name + ".key")]

    def pin(self, name):
        pub = self._openssl("x509", "-in", self.path(name + ".pem"), "-noout", "-pubkey")
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                             capture_output=True, check=True, timeout=30).stdout
        import base64
        import hashlib
        return "sha256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()

    def _openssl(self, *args):
        r = subprocess.run(["openssl", *args], capture_output=True, timeout=60)
        assert r.returncode == 0, f"openssl {args[0]} failed: {r.stderr.decode()}"
        return r.stdout

    def _signed(self, name, san, days):
        key, csr, ext = self.path(name + ".key"), self.path(name + ".csr"), self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write(san + "\n")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
        self._openssl("x509", "-req", "-in", csr, "-CA", self.path("ca.pem"),
                      "-CAkey", self.path("ca.key"), "-CAcreateserial", "-days", str(days),
                      "-out", self.path(name + ".pem"), "-extfile", ext)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return Certs(str(tmp_path_factory.mktemp("certs")))
