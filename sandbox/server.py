"""The sandbox server: a lean, warm zygote that forks one confined child per program.

A server is its own process, started with ``python -I -S`` (never forked from the caller,
whose memory may hold a model, secrets, or a 2 GB heap that would make every fork slow).
It pre-imports the allow-listed modules, builds their views, the guards and the program's
globals, enters a private network namespace, and then loops: read a request, load the
already-compiled program (the caller compiled it: compiling here, right after a fork has
write-protected the whole heap, cost 4x in page faults), fork, confine the child, run it,
and supervise it with a wall-clock deadline that ends in SIGKILL. The child inherits the
code objects, so it pays no compile and few copy-on-write faults.

Requests are ``<II`` (header length, payload length), a UTF-8 JSON header with the
limits, and the program as ``marshal`` bytes of its (body, last expression) code objects,
compiled by the caller (``sandbox/policy.py``), which is trusted: it is the host. Replies
are a 4-byte little-endian length followed by UTF-8 JSON.
"""
from __future__ import annotations

import gc
import io
import itertools
import json
import os
import select
import signal
import struct
import sys
import time
import traceback
from collections import OrderedDict

import marshal

from sandbox import guards, oslayer

_CACHE_SIZE = 256
_RESULT_FD = 3


# ------------------------------------------------------------------------------------
# framing
# ------------------------------------------------------------------------------------

def read_request(fd: int) -> tuple[dict, bytes] | None:
    head = _read_exact(fd, 8)
    if head is None:
        return None
    n_header, n_payload = struct.unpack("<II", head)
    header = _read_exact(fd, n_header)
    payload = _read_exact(fd, n_payload) if n_payload else b""
    if header is None or payload is None:
        return None
    return json.loads(header), payload


def encode_request(header: dict, payload: bytes) -> bytes:
    body = json.dumps(header).encode()
    return struct.pack("<II", len(body), len(payload)) + body + payload


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, n - got)
        if not b:
            return None
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def encode_frame(obj: dict) -> bytes:
    body = json.dumps(obj).encode()
    return struct.pack("<I", len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ------------------------------------------------------------------------------------
# the server
# ------------------------------------------------------------------------------------

class Server:
    def __init__(self, worker_index: int):
        # Started with env={}, but CPython's locale coercion (PEP 538) adds LC_CTYPE.
        os.environ.clear()
        self.views = guards.build_views()
        self.uid = oslayer.UID_BASE + worker_index if oslayer.IS_ROOT else None
        self.network = oslayer.enter_private_network()
        self.root = oslayer.make_empty_root() if oslayer.can_chroot() else None
        abi = oslayer.landlock_abi()
        self.landlock = oslayer.Landlock(abi) if abi else None
        self.seccomp = oslayer.Seccomp() if oslayer.IS_X86_64 else None
        self.prctl = oslayer._libc.prctl  # resolved here, not in every child
        self.devnull = os.open(os.devnull, os.O_WRONLY)
        # The program's streams, guards and globals are built here, once: in the child
        # they would cost ~1 ms of copy-on-write faults per program. The streams name
        # fds 0-2, which the child re-points at its own pipes before using them.
        self.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                       errors="backslashreplace", newline="\n")
        self.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                       errors="backslashreplace")
        self.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        self.guards = guards.Guards(self.views)
        self.restricted_globals = guards.make_globals(self.guards, self.stdout, self.stderr,
                                                      self.stdin)
        self.cache: OrderedDict = OrderedDict()
        self.layers = {
            "policy": "RestrictedPython + guards",
            "network": self.network, "chroot": self.root is not None,
            "unprivileged_uid": self.uid, "landlock_abi": abi,
            "seccomp": self.seccomp is not None, "rlimits": True,
        }

    def load(self, payload: bytes):
        hit = self.cache.get(payload)
        if hit is not None:
            self.cache.move_to_end(payload)
            return hit
        compiled = marshal.loads(payload)
        self.cache[payload] = compiled
        if len(self.cache) > _CACHE_SIZE:
            self.cache.popitem(last=False)
        return compiled

    def handle(self, req: dict, payload: bytes) -> dict:
        try:
            compiled = self.load(payload)
        except (ValueError, EOFError, TypeError) as e:
            return {"status": "crashed", "error": f"bad code payload: {e}",
                    "error_type": "BadPayload"}
        return self.run_child(compiled, req)

    def run_child(self, compiled, req: dict) -> dict:
        timeout_s, cap = float(req["timeout_s"]), int(req["max_output_bytes"])
        stdin = req.get("stdin", "").encode()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        if stdin:
            _fill_stdin(in_w, stdin)
        os.close(in_w)
        parent_pid = os.getpid()
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child: never returns
            _child(self, compiled, req, parent_pid, in_r, out_w, res_w)
        for fd in (in_r, out_w, res_w):
            os.close(fd)
        try:
            return _supervise(pid, out_r, res_r, t0, timeout_s, cap, req["memory_mb"])
        finally:
            os.close(out_r)
            os.close(res_r)

    def serve(self) -> None:
        write_all(1, encode_frame({"hello": True, "pid": os.getpid(), "root": self.root,
                                   "layers": self.layers}))
        # The server's own garbage is acyclic (ASTs, frames of requests), so its cyclic GC
        # only burns time rescanning the heap after every compile (~0.3 ms a program).
        # It runs every 1000 requests instead; children re-enable it for the program.
        gc.disable()
        gc.freeze()  # children never walk what the server allocated so far
        try:
            for n in itertools.count(1):
                frame = read_request(0)
                if frame is None:
                    return
                if n % 1000 == 0:
                    gc.collect()
                    gc.freeze()
                req, payload = frame
                reply = self.handle(req, payload)
                reply["i"] = req["i"]
                write_all(1, encode_frame(reply))
        finally:
            if self.root:
                oslayer.remove_empty_root(self.root)


def _fill_stdin(fd: int, data: bytes) -> None:
    try:  # a pipe holds 64 KiB by default; grow it so the whole input fits before the fork
        import fcntl
        fcntl.fcntl(fd, 1031, max(len(data), 65536))  # F_SETPIPE_SZ
    except OSError:
        data = data[:65536]
    write_all(fd, data)


# ------------------------------------------------------------------------------------
# the parent's side: deadline, output cap, exit status
# ------------------------------------------------------------------------------------

def _supervise(pid, out_r, res_r, t0, timeout_s, cap, memory_mb) -> dict:
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    poller = select.poll()
    for fd in (out_r, res_r) + ((pidfd,) if pidfd is not None else ()):
        poller.register(fd, select.POLLIN)
    out, res = bytearray(), bytearray()
    open_fds = {out_r, res_r}
    killed = None
    deadline = t0 + timeout_s
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            killed = "timeout"
            break
        wait_ms = max(1, int(left * 1000) + 1) if pidfd is not None else min(50, int(left * 1000) + 1)
        events = poller.poll(wait_ms)
        exited = False
        for fd, _ in events:
            if fd == pidfd:
                exited = True
                continue
            data = os.read(fd, 1 << 16)
            buf = out if fd == out_r else res
            if not data:
                poller.unregister(fd)
                open_fds.discard(fd)
            buf += data
        if len(out) > cap:
            killed = "output_limit"
            break
        if len(res) > 4 * cap + (1 << 16):
            killed = "output_limit"
            break
        if exited or (pidfd is None and _exited(pid)) or not open_fds:
            break
    _kill(pid)
    if killed is None:  # drain whatever the child wrote before it exited
        for fd in list(open_fds):
            os.set_blocking(fd, False)
            buf = out if fd == out_r else res
            try:
                while len(buf) <= 4 * cap + (1 << 16):
                    data = os.read(fd, 1 << 16)
                    if not data:
                        break
                    buf += data
            except BlockingIOError:
                pass
    _, wstatus, ru = os.wait4(pid, 0)
    if pidfd is not None:
        os.close(pidfd)
    wall = time.perf_counter() - t0
    reply = _classify(killed, wstatus, bytes(res), ru, memory_mb)
    if len(out) > cap and killed is None:
        reply["status"] = "output_limit"
    reply.update(stdout=bytes(out[:cap]).decode("utf-8", errors="replace"), wall_s=wall,
                 cpu_s=ru.ru_utime + ru.ru_stime, max_rss_mb=ru.ru_maxrss / 1024)
    return reply


def _exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _classify(killed, wstatus, res: bytes, ru, memory_mb) -> dict:
    if killed == "timeout":
        return {"status": "timeout", "error": "wall-clock limit exceeded", "error_type": "Timeout"}
    if killed == "output_limit":
        return {"status": "output_limit", "error": "output limit exceeded",
                "error_type": "OutputLimit"}
    if res:
        try:
            reply = json.loads(res.decode("utf-8", errors="replace"))
            if isinstance(reply, dict) and reply.get("status") in ("ok", "error", "memory", "blocked"):
                return {k: reply.get(k) for k in ("status", "value", "error", "error_type", "lineno")}
        except ValueError:
            pass
    if os.WIFSIGNALED(wstatus):
        sig = os.WTERMSIG(wstatus)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU:
            return {"status": "timeout", "error": "CPU-time limit exceeded", "error_type": "Timeout"}
        if ru.ru_maxrss / 1024 >= 0.9 * memory_mb:
            return {"status": "memory", "error": f"killed by {name} at the memory limit",
                    "error_type": "MemoryError"}
        return {"status": "crashed", "error": f"killed by signal {name}", "error_type": name}
    code = os.WEXITSTATUS(wstatus)
    return {"status": "crashed", "error": f"exited with code {code} before reporting a result",
            "error_type": "Exit"}


# ------------------------------------------------------------------------------------
# the child's side: confine, run, report
# ------------------------------------------------------------------------------------

def _child(server: Server, compiled, req, parent_pid, in_r, out_w, res_w):
    code = 70
    try:
        os.dup2(in_r, 0)
        os.dup2(out_w, 1)
        os.dup2(server.devnull, 2)
        os.dup2(res_w, _RESULT_FD)
        os.closerange(_RESULT_FD + 1, 1 << 16)
        gc.freeze()
        gc.enable()
        _confine(server, req, parent_pid)
        report = _run(compiled, req, server)
        write_all(_RESULT_FD, _encode_report(report))
        code = 0
    except BaseException as e:  # confinement failed: report, never run unconfined
        try:
            write_all(2, f"sandbox child setup failed: {e!r}\n".encode())
        except BaseException:
            pass
    finally:
        os._exit(code)


def _confine(server: Server, req, parent_pid: int) -> None:
    server.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the server
    if os.getppid() != parent_pid:
        os._exit(71)
    os.setpgid(0, 0)
    oslayer.set_rlimits(float(req["timeout_s"]), int(req["memory_mb"]), server.uid is not None)
    if server.root:
        os.chroot(server.root)
        os.chdir("/")
    if server.uid is not None:
        oslayer.drop_privileges(server.uid)
    if server.prctl(oslayer.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError("PR_SET_NO_NEW_PRIVS failed")
    if server.landlock and not server.landlock.restrict():
        raise OSError("landlock_restrict_self failed")
    if server.seccomp and not server.seccomp.install(os.getpid()):
        raise OSError("seccomp filter could not be installed")


def _run(compiled, req, server: Server) -> dict:
    body, last = compiled
    out = server.stdout
    sys.stdout, sys.stderr, sys.stdin = out, server.stderr, server.stdin
    if req.get("policy", True):
        server.guards.reset(req.get("stdin", ""))
        g = server.restricted_globals
    else:
        g = {"__builtins__": __builtins__, "__name__": "__main__"}
    report: dict = {"status": "ok"}
    try:
        exec(body, g)
        if last is not None:
            value = eval(last, g)
            if value is not None:
                report["value"] = _capped_repr(value, int(req["max_output_bytes"]))
    except BaseException as e:
        report = _error_report(e)
    try:
        out.flush()
    except BaseException:
        pass
    return report


def _encode_report(report: dict) -> bytes:
    # Hand-rolled for the common case: json.dumps costs ~0.1 ms in a fresh fork.
    if report.keys() <= {"status", "value"}:
        text = '{"status": "%s"' % report["status"]
        if "value" in report:
            text += ', "value": ' + _json_str(report["value"])
        return (text + "}").encode()
    return json.dumps(report).encode()


_json_str = json.encoder.encode_basestring_ascii


def _capped_repr(value, cap: int) -> str:
    text = repr(value)
    if not isinstance(text, str):
        raise TypeError("__repr__ returned a non-string")
    return str.__str__(text)[:cap]


def _error_report(e: BaseException) -> dict:
    status = "error"
    if isinstance(e, MemoryError):
        status = "memory"
    elif isinstance(e, guards.PolicyError):
        status = "blocked"
    lineno = None
    for frame, line in traceback.walk_tb(e.__traceback__):
        if frame.f_code.co_filename == "<program>":
            lineno = line
    try:
        message = str(e)[:2000]
    except BaseException:
        message = "<unprintable exception>"
    name = type(e).__name__
    text = f"{name}: {message}" if message else name
    if lineno is not None:
        text += f" (line {lineno})"
    return {"status": status, "error": text, "error_type": name, "lineno": lineno}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    Server(int(argv[0]) if argv else 0).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
