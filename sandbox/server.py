"""The sandbox server: a supervisor that compiles and watches, and a pristine zygote that forks.

Each worker is two processes, started fresh with ``python -I -S`` (never forked from the
caller, whose memory may hold a model, secrets, or a 2 GB heap that would make every fork
slow):

- the **server** reads requests from the caller, compiles each program (under a time and
  memory cap: a hostile source costs its own limits, not the caller's), asks the zygote
  for a child, feeds the child its program and stdin through a pipe, reads its output and
  its report, kills it at the deadline, and answers the caller;
- the **zygote** is forked from the server at start-up, before the first request, and
  then only ever receives "fork a child with these limits and these three pipes". It has
  never held a program's source, constants, stdin, output or result, so a program that
  searches everything it can reach in its own (copied) memory finds only the zygote's
  start-up state. It learns each child's pid, wait status and resource usage (numbers).

The child reads its compiled program (``marshal`` bytes of the body and the final
expression) from fd 0, which then carries the program's stdin; it writes stdout to fd 1,
stderr to fd 2 (read and dropped, so the child never blocks on it) and its report to fd 3
in a flat, length-prefixed format that the server parses without recursion and validates
field by field: the report is data from an adversary. A child that writes anything
malformed, or two reports, is ``crashed``. Those four pipes are the child's only files:
nothing of the host's (not even /dev/null), so no inode, timestamp or lock is shared.

Requests are ``<III`` (header, code, stdin lengths), a UTF-8 JSON header with the limits,
the source as UTF-8 and the stdin. Replies are a 4-byte little-endian length followed by
a flat UTF-8 JSON object of strings and numbers.
"""
from __future__ import annotations

import gc
import io
import itertools
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import types
from collections import OrderedDict

import marshal

from sandbox import guards, oslayer
from sandbox.limits import MAX_CODE_BYTES

_RESULT_FD = 3
_PIPE_BYTES = 65536  # what a pipe holds without blocking the writer
_LIMITS = "<dIIB"  # timeout_s, memory_mb, max_output_bytes, policy: all the zygote learns
_EXIT = "<iiddq"  # pid, wait status, user s, system s, max RSS kB: all it reports back
_MAX_HEADER = 1 << 16
_MAX_STDIN = 1 << 20
_CACHE_BYTES = 32 << 20  # compiled programs kept by the server (never by the zygote)
_CHILD_STATUSES = ("ok", "error", "memory", "blocked")  # what a child may report
_REPORT_MAGIC = b"LCR1"
_MAX_ERROR_CHARS = 4000
_MAX_NAME_CHARS = 200
COMPILE_KILL_SIGNAL = signal.SIGPROF  # the server's own hard stop for a runaway compile


# ------------------------------------------------------------------------------------
# framing
# ------------------------------------------------------------------------------------

def encode_request(header: dict, code: bytes, stdin: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return struct.pack("<III", len(body), len(code), len(stdin)) + body + code + stdin


def read_request(fd: int) -> tuple[dict, bytes, bytes] | None:
    head = _read_exact(fd, 12)
    if head is None:
        return None
    n_header, n_code, n_stdin = struct.unpack("<III", head)
    if n_header > _MAX_HEADER or n_code > MAX_CODE_BYTES or n_stdin > _MAX_STDIN:
        raise ValueError(f"request sizes out of bounds: {n_header}, {n_code}, {n_stdin}")
    header, code, stdin = (_read_exact(fd, n) for n in (n_header, n_code, n_stdin))
    if header is None or code is None or stdin is None:
        return None
    return json.loads(header), code, stdin


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
# the server (supervisor + compiler)
# ------------------------------------------------------------------------------------

class Server:
    def __init__(self, worker_index: int):
        # Started with env={}, but CPython's locale coercion (PEP 538) adds LC_CTYPE.
        os.environ.clear()
        self.views = guards.build_views()
        self.uid, uid_unique = (oslayer.child_uid(os.getpid()) if oslayer.IS_ROOT
                                else (None, False))
        self.network = oslayer.enter_private_network()
        self.ipc = oslayer.enter_private_ipc()
        self.root = oslayer.make_empty_root() if oslayer.can_chroot() else None
        abi = oslayer.landlock_abi()
        self.landlock = oslayer.Landlock(abi) if abi else None
        self.seccomp = oslayer.Seccomp() if oslayer.IS_X86_64 else None
        self.prctl = oslayer._libc.prctl  # resolved here, not in every child
        # The program's streams, guards and globals are built here, once, before the
        # zygote is forked: in each child they would cost ~1 ms of copy-on-write faults.
        # The streams name fds 0-2, which the child points at its own pipes first.
        self.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                       errors="backslashreplace", newline="\n")
        self.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                       errors="backslashreplace")
        self.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8",
                                      errors="replace")
        self.guards = guards.Guards(self.views, self.stdin)
        # The program's globals are the namespace of a module the child registers as
        # __main__: code that library functions generate for the program's classes
        # (dataclasses looks up sys.modules[cls.__module__]) then runs with the
        # sandbox's builtins, never with the server's own __main__ (real builtins, sys).
        self.main_module = types.ModuleType("__main__")
        self.main_module.__dict__.update(guards.make_globals(
            self.guards, self.stdout, self.stderr, self.stdin))
        self.restricted_globals = self.main_module.__dict__
        self.layers = {
            "policy": "RestrictedPython + guards + audit hook",
            "network": self.network, "ipc": self.ipc, "chroot": self.root is not None,
            "unprivileged_uid": self.uid, "landlock_abi": abi,
            "seccomp": self.seccomp is not None, "rlimits": True,
            "zygote": "pristine (forked before the first request)",
            # what root gives, and what stands in for it otherwise (issue 27, item 3)
            "per_child_uid": (f"uid {self.uid}, unique to this server" if uid_unique else
                              f"uid {self.uid}, not unique (the uid map is too narrow)"
                              if self.uid is not None else
                              "refused: not root, and an unprivileged user namespace maps "
                              "one uid (a uid per child needs newuidmap and /etc/subuid); "
                              "the children share this server's uid, and seccomp refuses "
                              "every call that acts on another process"),
            "process_limit": ("seccomp refuses clone: one thread per program, no process"
                              if self.seccomp is not None else
                              "RLIMIT_NPROC only (no seccomp on this architecture)"
                              if self.uid is not None else
                              "refused: no seccomp on this architecture and no uid of "
                              "the children's own to count processes against"),
            "cgroup": "not used: a program is one thread (seccomp), its CPU is bounded by "
                      "RLIMIT_CPU and the wall-clock kill, its memory by RLIMIT_AS",
            "priority": f"programs run at nice +{oslayer.CHILD_NICE} against the servers, "
                        "zygotes and caller, and cannot change it (seccomp)",
        }
        self.zygote_sock, self.zygote_pid = self._start_zygote()
        # Imported only now, so the zygote never carries RestrictedPython's heap.
        from sandbox import policy
        self.policy = policy
        self.cache: OrderedDict = OrderedDict()
        self.cache_bytes = 0
        signal.signal(signal.SIGALRM, _compile_alarm)

    # the zygote ---------------------------------------------------------------------
    def _start_zygote(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                mine.close()
                self.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the server
                if os.getppid() != server_pid:
                    os._exit(0)
                _zygote_loop(self, theirs)
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        theirs.close()
        return mine, pid

    # compiling ----------------------------------------------------------------------
    def compile(self, code: bytes, restricted: bool, timeout_s: float, memory_mb: int):
        """marshal bytes of the program, or a refusal dict. Cached in bytes, LRU."""
        key = (code, restricted)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.move_to_end(key)
            return hit
        out = _bounded_compile(self.policy, code, restricted, timeout_s, memory_mb)
        if isinstance(out, bytes):
            size = len(out) + len(code)
            if size <= _CACHE_BYTES // 8:
                self.cache[key] = out
                self.cache_bytes += size
                while self.cache_bytes > _CACHE_BYTES:
                    (old_code, _), old = self.cache.popitem(last=False)
                    self.cache_bytes -= len(old) + len(old_code)
        return out

    # one request --------------------------------------------------------------------
    def handle(self, req: dict, code: bytes, stdin: bytes) -> dict:
        """One program: compiling and running share its one ``timeout_s``."""
        t0 = time.perf_counter()
        timeout_s, memory_mb = float(req["timeout_s"]), int(req["memory_mb"])
        policy = bool(req.get("policy", True))
        compiled = self.compile(code, policy, timeout_s, memory_mb)
        if isinstance(compiled, dict):
            compiled["wall_s"] = time.perf_counter() - t0
            return compiled
        if time.perf_counter() - t0 >= timeout_s:
            return {"status": "timeout", "error": "wall-clock limit exceeded while compiling",
                    "error_type": "Timeout", "wall_s": time.perf_counter() - t0}
        return self.run_child(compiled, stdin, t0, timeout_s, memory_mb,
                              int(req["max_output_bytes"]), policy)

    def run_child(self, compiled: bytes, stdin: bytes, t0: float, timeout_s: float,
                  memory_mb: int, cap: int, policy: bool) -> dict:
        """Run compiled code in a fresh child; the deadline is ``t0 + timeout_s``. The
        child's fds 0-3 are four pipes of this program's (code and stdin, stdout, stderr,
        report): nothing of the host's, so no inode, timestamp or lock is shared."""
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        feed = struct.pack("<I", len(compiled)) + compiled + stdin
        if len(feed) <= _PIPE_BYTES:  # the usual case: in the pipe before the child exists
            write_all(in_w, feed)
            os.close(in_w)
            in_w, feed = None, b""
        try:
            left = max(0.001, timeout_s - (time.perf_counter() - t0))
            limits = struct.pack(_LIMITS, left, memory_mb, cap, policy)
            socket.send_fds(self.zygote_sock, [limits], [in_r, out_w, err_w, res_w])
        finally:
            for fd in (in_r, out_w, err_w, res_w):
                os.close(fd)
        pid = struct.unpack("<i", self._from_zygote(4))[0]
        try:
            reply = _supervise(self, pid, in_w, feed, out_r, err_r, res_r, t0, timeout_s,
                               cap, memory_mb, oslayer.cpu_limit_s(left))
        finally:
            for fd in (out_r, err_r, res_r):
                os.close(fd)
        return reply

    def _from_zygote(self, n: int) -> bytes:
        msg = self.zygote_sock.recv(64)
        if len(msg) != n:
            raise RuntimeError("the zygote is gone")
        return msg

    def serve(self) -> None:
        write_all(1, encode_frame({"hello": True, "pid": os.getpid(), "zygote": self.zygote_pid,
                                   "root": self.root, "layers": self.layers}))
        gc.disable()  # the server's garbage is acyclic; collect every 1000 requests
        try:
            for n in itertools.count(1):
                frame = read_request(0)
                if frame is None:
                    return
                if n % 1000 == 0:
                    # then freeze what survived (the policy's shape templates, ~1000 AST
                    # nodes each): later collections skip it; freed by reference count
                    gc.collect()
                    gc.freeze()
                req, code, stdin = frame
                reply = self.handle(req, code, stdin)
                reply["i"] = req["i"]
                write_all(1, encode_frame(reply))
        finally:
            if self.root:
                oslayer.remove_empty_root(self.root)


class _CompileTimeout(BaseException):  # not caught by the policy's 'except Exception'
    pass


def _compile_alarm(signum, frame):
    raise _CompileTimeout()


def _bounded_compile(policy, code: bytes, restricted: bool, timeout_s: float, memory_mb: int):
    """Compile under the program's own limits: memory_mb of new address space and
    timeout_s of time. The Python stages (the RestrictedPython pass) stop at a SIGALRM;
    a C stage (the parser, the compiler's constant folding) that runs past
    timeout_s + 0.25 s of CPU (user + system) gets SIGPROF, whose default action ends this server: the
    pool reads that signal as this program's refusal and starts a fresh server."""
    budget = max(0.05, min(timeout_s, 60.0))
    old_as = oslayer.cap_address_space(memory_mb)
    signal.setitimer(signal.ITIMER_PROF, budget + 0.25)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        source = code.decode("utf-8")
        return policy.compile_to_bytes(source, restricted)
    except _CompileTimeout:
        return _refusal(f"compiling the program took more than {budget:g} s")
    except MemoryError:
        return _refusal(f"compiling the program needed more than {memory_mb} MB")
    except UnicodeDecodeError:
        return {"status": "error", "error": "SyntaxError: program is not valid UTF-8",
                "error_type": "SyntaxError"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        oslayer.restore_address_space(old_as)


def _refusal(why: str) -> dict:
    return {"status": "blocked", "error": f"CompileLimit: {why}", "error_type": "CompileLimit"}


# ------------------------------------------------------------------------------------
# the zygote: fork on request, nothing else
# ------------------------------------------------------------------------------------

def _zygote_loop(server: Server, sock: socket.socket) -> None:
    gc.disable()
    gc.freeze()  # children never walk what the zygote allocated
    zygote_pid = os.getpid()
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, 64, 4)
        if not msg:
            return
        if len(msg) != struct.calcsize(_LIMITS) or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            return
        limits = struct.unpack(_LIMITS, msg)
        pid = os.fork()
        if pid == 0:  # child: never returns
            _child(server, limits, zygote_pid, fds)
        for fd in fds:
            os.close(fd)
        sock.send(struct.pack("<i", pid))
        _, wstatus, ru = os.wait4(pid, 0)
        sock.send(struct.pack(_EXIT, pid, wstatus, ru.ru_utime, ru.ru_stime, ru.ru_maxrss))


# ------------------------------------------------------------------------------------
# the server's side of a child: feed, deadline, output cap, exit status
# ------------------------------------------------------------------------------------

def _supervise(server: Server, pid, in_w, feed, out_r, err_r, res_r, t0, timeout_s, cap,
               memory_mb, cpu_limit_s=None) -> dict:
    zfd = server.zygote_sock.fileno()
    poller = select.poll()
    for fd in (out_r, err_r, res_r, zfd):
        poller.register(fd, select.POLLIN)
    feed = memoryview(feed)
    if in_w is not None:
        os.set_blocking(in_w, False)
        poller.register(in_w, select.POLLOUT)
    out, res = bytearray(), bytearray()
    res_cap = 4 * cap + (1 << 16)
    open_fds = {out_r, res_r, err_r}
    killed = None
    exit_record = None
    deadline = t0 + timeout_s
    while exit_record is None:
        left = deadline - time.perf_counter()
        if left <= 0:
            killed = "timeout"
            break
        for fd, ev in poller.poll(max(1, int(left * 1000) + 1)):
            if fd == zfd:
                exit_record = server._from_zygote(struct.calcsize(_EXIT))
            elif fd == in_w:
                try:
                    feed = feed[os.write(in_w, feed):]
                except (BrokenPipeError, OSError):
                    feed = feed[:0]
                if not feed:
                    poller.unregister(in_w)
                    os.close(in_w)
                    in_w = None
            else:
                data = os.read(fd, 1 << 16)
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                if fd != err_r:  # stderr is read so the child never blocks, then dropped
                    (out if fd == out_r else res).extend(data)
        if len(out) > cap or len(res) > res_cap:
            killed = "output_limit"
            break
    if in_w is not None:
        os.close(in_w)
    if exit_record is None:
        _kill(pid)
        exit_record = server._from_zygote(struct.calcsize(_EXIT))
    else:  # drain whatever the child wrote before it exited
        for fd in list(open_fds - {err_r}):
            buf = out if fd == out_r else res
            os.set_blocking(fd, False)
            try:
                while len(buf) <= res_cap:
                    data = os.read(fd, 1 << 16)
                    if not data:
                        break
                    buf.extend(data)
            except BlockingIOError:
                pass
    _, wstatus, utime, stime, maxrss = struct.unpack(_EXIT, exit_record)
    wall = time.perf_counter() - t0
    reply = _classify(killed, wstatus, bytes(res), maxrss, memory_mb, cap, utime + stime,
                      cpu_limit_s)
    if len(out) > cap and killed is None:
        reply["status"] = "output_limit"
    reply.update(stdout=bytes(out[:cap]).decode("utf-8", errors="replace"), wall_s=wall,
                 cpu_s=utime + stime, max_rss_mb=maxrss / 1024)
    return reply


def _kill(pid: int) -> None:
    # The child is the zygote's and unreaped until the zygote reports it, so its pid
    # cannot have been reused yet.
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _classify(killed, wstatus, res: bytes, maxrss_kb, memory_mb, cap, cpu_s=0.0,
              cpu_limit_s=None) -> dict:
    if killed == "timeout":
        return {"status": "timeout", "error": "wall-clock limit exceeded", "error_type": "Timeout"}
    if killed == "output_limit":
        return {"status": "output_limit", "error": "output limit exceeded",
                "error_type": "OutputLimit"}
    if res:
        report = parse_report(res, cap)
        if report is None:
            return {"status": "crashed", "error": "the child's report was malformed "
                    "(the program wrote to the report channel)", "error_type": "BadReport"}
        if os.WIFEXITED(wstatus) and os.WEXITSTATUS(wstatus) == 0:
            return report
    if os.WIFSIGNALED(wstatus):
        sig = os.WTERMSIG(wstatus)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_limit_s is not None
                                     and cpu_s >= cpu_limit_s - 0.05):
            return {"status": "timeout", "error": "CPU-time limit exceeded", "error_type": "Timeout"}
        if maxrss_kb / 1024 >= 0.9 * memory_mb:
            return {"status": "memory", "error": f"killed by {name} at the memory limit",
                    "error_type": "MemoryError"}
        return {"status": "crashed", "error": f"killed by signal {name}", "error_type": name}
    code = os.WEXITSTATUS(wstatus)
    return {"status": "crashed", "error": f"exited with code {code} before reporting a result",
            "error_type": "Exit"}


# ------------------------------------------------------------------------------------
# the report: flat, length-prefixed, parsed without recursion
# ------------------------------------------------------------------------------------

def encode_report(status: str, value=None, error=None, error_type=None, lineno=None) -> bytes:
    parts = [_REPORT_MAGIC, struct.pack("<Bi", _CHILD_STATUSES.index(status),
                                        -1 if lineno is None else lineno)]
    for text in (value, error, error_type):
        if text is None:
            parts.append(struct.pack("<i", -1))
        else:
            data = text.encode("utf-8", errors="backslashreplace")
            parts += [struct.pack("<i", len(data)), data]
    return b"".join(parts)


def parse_report(data: bytes, cap: int) -> dict | None:
    """The child's report as a dict of the Result schema, or None if it is malformed."""
    try:
        if not data.startswith(_REPORT_MAGIC):
            return None
        pos = len(_REPORT_MAGIC)
        status_i, lineno = struct.unpack_from("<Bi", data, pos)
        pos += 5
        texts = []
        for limit in (cap, _MAX_ERROR_CHARS, _MAX_NAME_CHARS):
            (n,) = struct.unpack_from("<i", data, pos)
            pos += 4
            if n == -1:
                texts.append(None)
                continue
            if n < 0 or pos + n > len(data):
                return None
            texts.append(data[pos:pos + n].decode("utf-8", errors="replace")[:limit])
            pos += n
        if pos != len(data) or status_i >= len(_CHILD_STATUSES):
            return None  # trailing bytes: a second report, forged by the program
    except struct.error:
        return None
    value, error, error_type = texts
    return {"status": _CHILD_STATUSES[status_i], "value": value, "error": error,
            "error_type": error_type, "lineno": lineno if 0 <= lineno < 1 << 24 else None}


# ------------------------------------------------------------------------------------
# the child's side: confine, read the program, run, report
# ------------------------------------------------------------------------------------

def _child(server: Server, limits, zygote_pid, fds):
    timeout_s, memory_mb, cap, policy = limits
    code = 70
    try:
        in_r, out_w, err_w, res_w = fds
        os.dup2(in_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(res_w, _RESULT_FD)
        os.closerange(_RESULT_FD + 1, 1 << 16)
        gc.freeze()
        gc.enable()
        _confine(server, timeout_s, memory_mb, zygote_pid)
        head = _read_exact(0, 4)
        payload = _read_exact(0, struct.unpack("<I", head)[0]) if head else None
        if payload is None:
            os._exit(72)
        report = _run(marshal.loads(payload), server, bool(policy), cap)
        write_all(_RESULT_FD, report)
        code = 0
    except BaseException as e:  # confinement failed: report, never run unconfined
        try:
            write_all(2, f"sandbox child setup failed: {e!r}\n".encode())
        except BaseException:
            pass
    finally:
        os._exit(code)


def _confine(server: Server, timeout_s, memory_mb, parent_pid: int) -> None:
    os.setpgid(0, 0)
    # Below the servers, zygotes and the caller: a program that spins takes its share of
    # a core from other programs, never from the machinery that runs its neighbours.
    # Relative, so a server started under nice keeps its place; seccomp then refuses
    # any change back.
    os.nice(oslayer.CHILD_NICE)
    oslayer.set_rlimits(float(timeout_s), int(memory_mb), server.uid is not None)
    if server.root:
        os.chroot(server.root)
        os.chdir("/")
    if server.uid is not None:
        oslayer.drop_privileges(server.uid)
    # PR_SET_PDEATHSIG: die with the zygote. Set after the uid change, which clears it.
    server.prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(71)
    if server.prctl(oslayer.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError("PR_SET_NO_NEW_PRIVS failed")
    if server.landlock and not server.landlock.restrict():
        raise OSError("landlock_restrict_self failed")
    if server.seccomp and not server.seccomp.install(os.getpid()):
        raise OSError("seccomp filter could not be installed")


def _run(compiled, server: Server, policy: bool, cap: int) -> bytes:
    """Run the program and build its report. With the policy on, the audit gate is
    installed first and never switched off: the program's own code can still run after
    ``exec`` returns (``__repr__`` of the value, ``__str__`` of an exception, a
    generator's ``finally`` at garbage collection), and it must not run ungated."""
    body, last = compiled
    sys.stdout, sys.stderr, sys.stdin = server.stdout, server.stderr, server.stdin
    if policy:
        server.guards.reset()
        g = server.restricted_globals
        sys.modules["__main__"] = server.main_module
        sys.addaudithook(guards.make_audit_hook(g, globals()))
    else:
        g = {"__builtins__": __builtins__, "__name__": "__main__"}
    try:
        exec(body, g)
        value = eval(last, g) if last is not None else None
        report = encode_report("ok", value=None if value is None else _capped_repr(value, cap))
    except SystemExit as e:
        report = encode_report("ok") if _clean_exit(e) else _error_report(e)
    except BaseException as e:
        report = _error_report(e)
    try:
        server.stdout.flush()
    except BaseException:
        pass
    return report


def _clean_exit(e: SystemExit) -> bool:
    """sys.exit(), sys.exit(None), sys.exit(0): the program ended normally and its output
    stands; any other code (sys.exit(1), sys.exit("message")) is an error."""
    if type(e) is not SystemExit:
        return False
    args = e.args
    return args == () or (len(args) == 1 and (args[0] is None or
                                             (type(args[0]) in (int, bool) and args[0] == 0)))


def _capped_repr(value, cap: int) -> str:
    text = repr(value)
    if not isinstance(text, str):
        raise TypeError("__repr__ returned a non-string")
    return str.__str__(text)[:cap]


def _error_report(e: BaseException) -> bytes:
    status = "error"
    if isinstance(e, MemoryError):
        status = "memory"
    elif isinstance(e, guards.PolicyError):
        status = "blocked"
    lineno = None
    try:  # reads tb_frame and f_code, which the audit gate allows this function alone
        tb = e.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<program>":
                lineno = tb.tb_lineno
            tb = tb.tb_next
    except BaseException:
        pass
    try:
        message = str.__str__(str(e))[:2000]
    except BaseException:
        message = "<unprintable exception>"
    name = str.__str__(type(e).__name__)
    text = f"{name}: {message}" if message else name
    if lineno is not None:
        text += f" (line {lineno})"
    return encode_report(status, error=text, error_type=name, lineno=lineno)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # A child that exits without reading its stdin closes the pipe the server feeds:
    # that must be EPIPE for the one write, never a signal that ends the server.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    Server(int(argv[0]) if argv else 0).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
