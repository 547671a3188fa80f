"""The caller's side: a pool of sandbox servers and the batch scheduler.

``run_many`` keeps every server busy by pipelining (several requests in flight per
server), reads replies with one selector loop, and never loses an input: a server that
dies (killed, crashed, or silent past its deadline) is replaced, its in-flight program is
re-run once and then reported as ``crashed``, and the programs queued behind it are sent
elsewhere untouched. Results come back in input order.

The caller never parses, transforms or compiles a program: it checks the size and sends
the source. Each reply is validated against the ``Result`` schema; a reply that is not
is the server's death, not an exception in the caller. A pool is safe to share between
threads (one batch at a time; the others wait for it).
"""
from __future__ import annotations

import atexit
import collections
import importlib.util
import os
import selectors
import struct
import subprocess
import sys
import threading
import weakref
import time
import json

from sandbox.limits import screen
from sandbox.result import Result
from sandbox.server import COMPILE_KILL_SIGNAL, encode_request

_DEPTH = 2  # requests in flight per server: one running, one waiting in the pipe
_MAX_ATTEMPTS = 2
_GRACE_S = 5.0  # how long past a request's own deadline a silent server is trusted


def _server_cmd(index: int) -> list[str]:
    # The server needs the standard library, this package and RestrictedPython (which it
    # imports after forking its zygote), nothing else from site-packages.
    spec = importlib.util.find_spec("RestrictedPython")
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
             os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))]
    boot = (f"import sys; sys.path[:0] = {paths!r}; "
            f"from sandbox.server import main; sys.exit(main([{str(index)!r}]))")
    # -S: no site-packages processing; its .pth hooks import threading, whose after-fork
    # handler then runs in every child (~0.3 ms each).
    return [sys.executable, "-I", "-S", "-c", boot]


class _Server:
    """One server process and what it has been sent but not yet answered."""

    def __init__(self, index: int):
        self.index = index
        self.proc = subprocess.Popen(_server_cmd(index), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={}, close_fds=True, cwd="/")
        self.rfd, self.wfd = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.pending: collections.deque = collections.deque()  # (index, deadline budget)
        self.busy_since = None
        self.hello: dict | None = None
        self.dead = False  # killed after its batch ended; replaced when the next one starts

    @property
    def pid(self) -> int:
        return self.proc.pid

    def frames(self):
        while len(self.inbuf) >= 4:
            (n,) = struct.unpack_from("<I", self.inbuf)
            if len(self.inbuf) < 4 + n:
                return
            body = bytes(self.inbuf[4:4 + n])
            del self.inbuf[:4 + n]
            try:
                frame = json.loads(body)
            except (ValueError, RecursionError):
                frame = None
            if not isinstance(frame, dict):
                raise _BadReply("a reply that is not a JSON object")
            yield frame

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        root = (self.hello or {}).get("root")
        if root and os.path.basename(root).startswith("sbx-root-"):
            try:  # a killed server cannot remove its empty root directory itself
                os.rmdir(root)
            except OSError:
                pass


class _BadReply(Exception):
    pass


class Pool:
    """A set of warm sandbox servers. Thread-safe (one batch at a time); a forked caller
    gets its own pools from ``default_pool``."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.servers: list[_Server] = []
        self.lock = threading.Lock()
        self.pid = os.getpid()
        # A pool dropped without close() (an expert garbage-collected mid-run) takes its
        # servers with it.
        weakref.finalize(self, _kill_all, self.servers, self.pid)

    # lifecycle -------------------------------------------------------------------------
    def _start(self) -> None:
        """Start missing servers and replace dead ones (under the lock)."""
        for s in [s for s in self.servers if s.dead]:
            self._replace(s)
        fresh = [_Server(i) for i in range(len(self.servers), self.workers)]
        for s in fresh:
            self._await_hello(s)
        self.servers += fresh

    def _await_hello(self, s: _Server, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(s.rfd, selectors.EVENT_READ)
        try:
            while s.hello is None:
                if not sel.select(max(0.0, end - time.monotonic())):
                    raise RuntimeError("sandbox server did not start within 60 s")
                data = os.read(s.rfd, 1 << 16)
                if not data:
                    raise RuntimeError(
                        f"sandbox server exited at start (exit code {s.proc.wait()}); "
                        f"try: {sys.executable} -c 'import sandbox.server'")
                s.inbuf += data
                for frame in s.frames():
                    s.hello = frame
        finally:
            sel.close()
        os.set_blocking(s.wfd, False)

    def _replace(self, s: _Server) -> _Server:
        s.kill()
        new = _Server(s.index)
        self._await_hello(new)
        self.servers[self.servers.index(s)] = new
        return new

    def close(self) -> None:
        with self.lock:
            for s in self.servers:
                s.kill()
            self.servers.clear()

    def layers(self) -> dict:
        with self.lock:
            self._start()
            return dict(self.servers[0].hello["layers"])

    # the batch -------------------------------------------------------------------------
    def run_many(self, codes: list[str], *, timeout_s: float = 2.0, memory_mb: int = 256,
                 max_output_bytes: int = 65536, stdin: str = "",
                 python_policy: bool = True) -> list[Result]:
        """``sandbox.run_many`` on this pool's servers."""
        results, slots = screen(codes, timeout_s, memory_mb, max_output_bytes, stdin)
        if self.pid != os.getpid():
            raise RuntimeError("this sandbox Pool belongs to the process that forked this "
                               "one; make a new Pool (sandbox.default_pool does)")
        header = {"timeout_s": float(timeout_s), "memory_mb": int(memory_mb),
                  "max_output_bytes": int(max_output_bytes), "policy": bool(python_policy)}
        requests = [codes[i].encode("utf-8") for i in slots]
        if requests:
            with self.lock:
                self._start()
                batch = _Batch(self, requests, header, stdin.encode("utf-8", "replace"))
                for i, r in zip(slots, batch.run()):
                    results[i] = r
        return results  # type: ignore[return-value]


class _Batch:
    def __init__(self, pool: Pool, codes: list[bytes], header: dict, stdin: bytes):
        self.pool = pool
        self.requests = codes
        self.header = header
        self.stdin = stdin
        self.results: list[Result | None] = [None] * len(codes)
        self.queue = collections.deque(range(len(codes)))
        self.attempts = [0] * len(codes)
        self.left = len(codes)

    def run(self) -> list[Result]:
        sel = selectors.DefaultSelector()
        for s in self.pool.servers:
            s.pending.clear()
            s.inbuf.clear()
            s.outbuf.clear()
            sel.register(s.rfd, selectors.EVENT_READ, s)
        try:
            while self.left:
                self._feed(sel)
                for key, events in sel.select(timeout=0.5):
                    self._on_event(sel, key, events)
                self._watchdog(sel)
        finally:
            sel.close()
        return self.results  # type: ignore[return-value]

    def _feed(self, sel) -> None:
        for s in self.pool.servers:
            while self.queue and len(s.pending) < _DEPTH:
                i = self.queue.popleft()
                s.outbuf += encode_request(dict(self.header, i=i), self.requests[i], self.stdin)
                if not s.pending:
                    s.busy_since = time.monotonic()
                s.pending.append(i)
            if s.outbuf:
                self._flush(sel, s)

    def _flush(self, sel, s: _Server) -> None:
        try:
            n = os.write(s.wfd, s.outbuf)
            del s.outbuf[:n]
        except BlockingIOError:
            pass
        except (BrokenPipeError, OSError):
            self._died(sel, s, "server pipe closed")
            return
        if s.outbuf:
            try:
                sel.register(s.wfd, selectors.EVENT_WRITE, s)
            except KeyError:
                pass
        else:
            try:
                sel.unregister(s.wfd)
            except KeyError:
                pass

    def _on_event(self, sel, key, events) -> None:
        s: _Server = key.data
        if s not in self.pool.servers:
            return
        if key.fd == s.wfd:
            self._flush(sel, s)
            return
        try:
            data = os.read(s.rfd, 1 << 20)
        except OSError:
            data = b""
        if not data:
            self._died(sel, s, "server exited")
            return
        s.inbuf += data
        try:
            for frame in s.frames():
                i = frame.pop("i", None)
                if not s.pending or s.pending[0] != i:
                    raise _BadReply("a reply out of order")
                result = Result.from_dict(frame)
                s.pending.popleft()
                s.busy_since = time.monotonic()
                self._done(i, result)
        except (_BadReply, ValueError, TypeError) as e:
            self._died(sel, s, f"malformed reply ({str(e)[:100]})")

    def _watchdog(self, sel) -> None:
        now = time.monotonic()
        for s in list(self.pool.servers):
            if s.pending and s.busy_since is not None:
                # compiling and running share timeout_s (a compile stuck in C code is
                # stopped at timeout_s + 0.25 s of CPU)
                budget = self.header["timeout_s"] + 0.25 + _GRACE_S
                if now - s.busy_since > budget:
                    self._died(sel, s, "server stopped answering")

    def _died(self, sel, s: _Server, why: str) -> None:
        for fd in (s.rfd, s.wfd):
            try:
                sel.unregister(fd)
            except (KeyError, ValueError):
                pass
        pending = list(s.pending)
        if pending and why == "server exited" and _killed_compiling(s):
            # the server's own hard stop for a runaway compile: the program's refusal
            self._done(pending[0], Result(
                "blocked", error="CompileLimit: compiling the program took more than "
                f"{self.header['timeout_s']:g} s of CPU", error_type="CompileLimit"))
            pending = pending[1:]
        elif pending:  # the head was running: count an attempt; the rest just go back
            head = pending[0]
            self.attempts[head] += 1
            if self.attempts[head] >= _MAX_ATTEMPTS:
                self._done(head, Result("crashed", error=f"sandbox worker died: {why}",
                                        error_type="WorkerDied"))
                pending = pending[1:]
            self.queue.extendleft(reversed(pending))
        if not self.left:  # nothing left to run: answer now, start its successor later
            s.kill()
            s.dead = True
            return
        new = self.pool._replace(s)
        sel.register(new.rfd, selectors.EVENT_READ, new)

    def _done(self, i: int, r: Result) -> None:
        if self.results[i] is None:
            self.results[i] = r
            self.left -= 1


def _kill_all(servers: list, pid: int) -> None:
    if pid == os.getpid():
        for s in servers:
            s.kill()
        servers.clear()


def _killed_compiling(s: _Server) -> bool:
    try:
        code = s.proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        return False
    return code == -COMPILE_KILL_SIGNAL


_defaults: dict[int, Pool] = {}
_default_lock = threading.Lock()


def default_pool(workers: int | None = None) -> Pool:
    """The process-wide pool for this many workers (default: one per core), created on
    first use and again after a fork. A call with another ``workers`` gets a pool of its
    own: no pool is ever closed under a batch running in another thread."""
    n = max(1, workers or os.cpu_count() or 1)
    with _default_lock:
        pool = _defaults.get(n)
        if pool is None or pool.pid != os.getpid():
            pool = _defaults[n] = Pool(n)
        return pool


@atexit.register
def _close_defaults() -> None:
    for pool in list(_defaults.values()):
        if pool.pid == os.getpid():
            pool.close()
