"""The caller's side: a pool of sandbox servers and the batch scheduler.

``run_many`` keeps every server busy by pipelining (several requests in flight per
server), reads replies with one selector loop, and never loses an input: a server that
dies (killed, crashed, or silent past its deadline) is replaced, its in-flight program is
re-run once and then reported as ``crashed``, and the programs queued behind it are sent
elsewhere untouched. Results come back in input order.
"""
from __future__ import annotations

import atexit
import collections
import os
import selectors
import struct
import subprocess
import sys
import threading
import time
import json

from sandbox.policy import CompileRefused, compile_cached
from sandbox.result import Result
from sandbox.server import encode_request

_DEPTH = 2  # requests in flight per server: one running, one waiting in the pipe
_MAX_ATTEMPTS = 2
_GRACE_S = 5.0  # how long past a request's own deadline a silent server is trusted


def _server_cmd(index: int) -> list[str]:
    # The server needs the standard library and this package, nothing from site-packages.
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
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
            yield json.loads(body)

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


class Pool:
    """A set of warm sandbox servers. Thread-safe; re-created after a fork of the caller."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.servers: list[_Server] = []
        self.lock = threading.Lock()
        self.pid = os.getpid()

    # lifecycle -------------------------------------------------------------------------
    def _start(self) -> None:
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
        for s in self.servers:
            s.kill()
        self.servers = []

    def layers(self) -> dict:
        with self.lock:
            if not self.servers:
                self._start()
            return dict(self.servers[0].hello["layers"])

    # the batch -------------------------------------------------------------------------
    def run_many(self, requests: list[dict]) -> list[Result]:
        with self.lock:
            if not self.servers:
                self._start()
            return _Batch(self, requests).run()


class _Batch:
    def __init__(self, pool: Pool, requests: list[dict]):
        self.pool = pool
        self.requests = requests
        self.results: list[Result | None] = [None] * len(requests)
        self.queue = collections.deque(range(len(requests)))
        self.attempts = [0] * len(requests)
        self.left = len(requests)

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
                payload = self._compile(i)
                if payload is None:
                    continue
                header = {k: v for k, v in self.requests[i].items() if k != "code"}
                header["i"] = i
                s.outbuf += encode_request(header, payload)
                if not s.pending:
                    s.busy_since = time.monotonic()
                s.pending.append(i)
            if s.outbuf:
                self._flush(sel, s)

    def _compile(self, i: int) -> bytes | None:
        """Compile here, in the caller, as the program is sent (so compiling the next
        programs overlaps with servers running the previous ones). A refusal is the
        program's result: it never reaches a server."""
        req = self.requests[i]
        t0 = time.perf_counter()
        compiled = compile_cached(req["code"], req.get("policy", True))
        if isinstance(compiled, CompileRefused):
            line = f" (line {compiled.lineno})" if compiled.lineno else ""
            self._done(i, Result(compiled.kind, error=compiled.message + line,
                                 error_type=compiled.message.split(":", 1)[0],
                                 lineno=compiled.lineno, wall_s=time.perf_counter() - t0))
            return None
        return compiled

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
        for frame in s.frames():
            i = frame.pop("i")
            if not s.pending or s.pending[0] != i:
                self._died(sel, s, "server answered out of order")
                return
            s.pending.popleft()
            s.busy_since = time.monotonic()
            self._done(i, Result.from_dict(frame))

    def _watchdog(self, sel) -> None:
        now = time.monotonic()
        for s in list(self.pool.servers):
            if s.pending and s.busy_since is not None:
                budget = float(self.requests[s.pending[0]]["timeout_s"]) + _GRACE_S
                if now - s.busy_since > budget:
                    self._died(sel, s, "server stopped answering")

    def _died(self, sel, s: _Server, why: str) -> None:
        for fd in (s.rfd, s.wfd):
            try:
                sel.unregister(fd)
            except (KeyError, ValueError):
                pass
        pending = list(s.pending)
        if pending:  # the head was running: count an attempt; the rest just go back
            head = pending[0]
            self.attempts[head] += 1
            if self.attempts[head] >= _MAX_ATTEMPTS:
                self._done(head, Result("crashed", error=f"sandbox worker died: {why}",
                                        error_type="WorkerDied"))
                pending = pending[1:]
            self.queue.extendleft(reversed(pending))
        new = self.pool._replace(s)
        sel.register(new.rfd, selectors.EVENT_READ, new)

    def _done(self, i: int, r: Result) -> None:
        if self.results[i] is None:
            self.results[i] = r
            self.left -= 1


_default: Pool | None = None
_default_lock = threading.Lock()


def default_pool(workers: int | None = None) -> Pool:
    """The process-wide pool, created on first use (and again after a fork)."""
    global _default
    with _default_lock:
        if _default is None or _default.pid != os.getpid() or \
                (workers is not None and workers != _default.workers):
            if _default is not None and _default.pid == os.getpid():
                _default.close()
            _default = Pool(workers)
        return _default


@atexit.register
def _close_default() -> None:
    if _default is not None and _default.pid == os.getpid():
        _default.close()
