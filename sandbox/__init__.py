"""Run untrusted, model-written Python: safely, fast, in batches.

    >>> import sandbox
    >>> sandbox.run("def mean(x): return sum(x) / len(x)\\nmean([3, 0, 1, 300])").value
    '76.0'
    >>> [r.status for r in sandbox.run_many(["print(1)", "while True: pass"], timeout_s=0.5)]
    ['ok', 'timeout']

Three layers, each assuming the one before it has failed (docs/sandbox.md: the threat model
and what each layer holds on its own):

1. Python policy: RestrictedPython compile-time checks (``sandbox/policy.py``), guarded
   attribute access, curated builtins, read-only views of allow-listed stdlib modules and
   of the standard streams, a one-argument ``type``, helpers that are closures (nothing
   they hand out leads to a guard), the program's namespace registered as ``__main__``
   (code that dataclasses generates runs with the sandbox's builtins), and a stateless
   audit hook (PEP 578) that refuses what library code would do on the program's behalf:
   open a file, import, run source (no forward reference is ever evaluated), reach a
   frame or a code object, load ctypes, touch the os (``sandbox/guards.py``). Turns most
   attempts into a clean ``blocked`` status. Not a security boundary.
2. OS confinement (``sandbox/oslayer.py``), per program, in a child forked from a pristine
   zygote: rlimits (CPU, address space, file size, files), chroot into an empty directory,
   a uid of its own (when started as root; unique across pools), Landlock, a seccomp-BPF
   allow-list (what computation needs; no sockets, exec, threads or processes, ptrace,
   IPC, file locks, timestamps, xattrs, permission changes, scheduling or I/O priority),
   private network and IPC namespaces, an empty environment, four pipes of its own as its
   only files. The server kills the child with SIGKILL at the wall-clock deadline and caps
   its output while reading it.
3. Plain data across every boundary (``sandbox/server.py``, ``sandbox/result.py``): the
   child reports in a flat length-prefixed format the server parses without recursion and
   validates field by field; the caller validates each reply against the ``Result``
   schema (declared types, finite numbers, lone surrogates replaced). Nothing is
   unpickled, no object of the program's reaches the caller, and nothing a program does
   raises out of ``run``/``run_many``: it becomes a status. ``printable`` escapes the
   control characters of a program's output wherever it is shown.

The processes: the caller (a ``Pool``) sends sources to one server per worker; the server
compiles each program under the program's own limits (compiling and running share its one
timeout_s; memory_mb of new address space; a source that exceeds them is ``blocked``, and
a compiler stage stuck in C code past the limit ends the server, which the pool reads as
that program's refusal), then asks its zygote for a child and feeds the child its code and
stdin through a pipe. The zygote was forked before the server read its first request and
only ever forks, so no process that forks a program has held another program's source,
constants, stdin, output or result. The server caches compiled programs and, for the
policy, the transformed tree per program shape (literals abstracted, put back per program).

Covered: file reads and writes outside the program's memory, network, processes and
threads, signals to other processes, CPU and memory exhaustion (all mappings count against
memory_mb), output floods, unread or large stdin, data crossing between programs (a fresh
fork of a zygote that never saw a program; no IPC; no host file, lock, timestamp or xattr
reachable), the policy's own state, a forged or malformed child report, unbounded compile
work in the caller, the host process's memory (servers are started fresh, never forked
from the caller), pools shared between threads, root and non-root alike (what root adds,
and its stand-ins: ``available_layers()``).
Not covered: side channels (timing, the CPU caches, how long a neighbour ran), kernel bugs
reachable through the system calls a computation needs, and a program using its whole
time budget. With ``python_policy=False`` the program controls its own process, so it can
write a well-formed report of its choosing (a status among ok/error/memory/blocked and
strings, the same a program could produce honestly); only the OS layers hold then.
``available_layers()`` says which OS layers this machine allows.

Imports inside functions (the pool, Ray) keep ``import sandbox`` cheap and Ray optional; this
is said here once, not at each import.
"""
from __future__ import annotations

from sandbox.limits import MAX_CODE_BYTES, check_limits, refuse  # noqa: F401
from sandbox.result import STATUSES, Result, printable  # noqa: F401

# The pool (subprocess, selectors, threading) is imported on first use, so that a
# sandbox server, which imports this package too, stays lean: fork cost grows with it.


def default_pool(workers: int | None = None):
    from sandbox.pool import default_pool as _default_pool
    return _default_pool(workers)


def __getattr__(name):
    if name == "Pool":
        from sandbox.pool import Pool
        return Pool
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")

__all__ = ["run", "run_many", "Result", "STATUSES", "Pool", "available_layers", "MAX_CODE_BYTES",
           "printable"]



def run(code: str, *, timeout_s: float = 2.0, memory_mb: int = 256,
        max_output_bytes: int = 65536, stdin: str = "", python_policy: bool = True,
        workers: int | None = None) -> Result:
    """Run one program in the sandbox. See ``run_many``."""
    return run_many([code], workers=workers, timeout_s=timeout_s, memory_mb=memory_mb,
                    max_output_bytes=max_output_bytes, stdin=stdin,
                    python_policy=python_policy)[0]


def run_many(codes: list[str], *, workers: int | None = None, timeout_s: float = 2.0,
             memory_mb: int = 256, max_output_bytes: int = 65536, stdin: str = "",
             python_policy: bool = True) -> list[Result]:
    """Run each program in its own confined process; one Result per input, in order.

    workers: sandbox servers to use (default: one per CPU core); the pool for that many
        workers stays warm between calls and is shared by every thread of this process
        (one batch at a time). A library that wants its own servers makes a ``Pool``.
    python_policy=False switches off layer 1 and exists for testing that the OS layers
        hold on their own; never switch it off for model output.
    """
    return default_pool(workers).run_many(
        codes, timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes,
        stdin=stdin, python_policy=python_policy)


def available_layers() -> dict:
    """Which layers this machine allows (asks a warm server)."""
    return default_pool().layers()
