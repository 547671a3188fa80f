"""Layer 2: operating-system confinement of each forked program.

Applied once per *server* (at start-up, inherited by its zygote and every child):
- a private System V IPC / POSIX message-queue namespace, where the kernel allows one;
- a private network namespace (``unshare(CLONE_NEWNET)``): no interface but a loopback
  that is down, so no connection can leave, not even to the host's 127.0.0.1. As root
  this is direct; otherwise inside a new user namespace where the kernel allows one.
- an empty, read-only root directory (created here, removed at exit).

Applied in each *child* after the fork, before the program runs, in this order:
1. rlimits: CPU seconds, address space (the memory limit), file size 0, open files, no
   core dumps; processes/threads per uid when the child has a uid of its own. Soft equals
   hard so they cannot be raised.
2. ``chroot`` into the empty root: no file on the host can be named, not /proc, not /tmp.
3. when started as root: drop to a uid/gid of the server's own (``child_uid``: 2000000000
   + the server's pid, unique among live servers, so across pools) with no supplementary
   groups. Not root: an unprivileged user namespace maps one uid, so the children share
   the server's; ``available_layers()`` states it.
4. Landlock (Linux >= 5.13): a ruleset that handles every filesystem right and grants
   none; TCP bind/connect handled and denied (ABI >= 4); signals and abstract UNIX
   sockets scoped to the program itself (ABI >= 6). Needs no privilege, so it is what
   holds files when chroot is unavailable.
5. seccomp-BPF (x86-64), an allow-list: the system calls a forked CPython needs to
   compute, read and write its pipes, allocate memory, sleep and exit. Everything else is
   EPERM: sockets, exec, clone (no thread, no process), ptrace, signals to other
   processes, System V and POSIX IPC, opening files for writing, file locks and leases,
   timestamps, xattrs, chmod/chown (fchmodat2 too), fanotify/inotify, scheduling and I/O
   priority, setrlimit, mount/namespaces/chroot, io_uring, bpf, keyrings, modules. fcntl
   and ioctl are allowed for their harmless commands only. Any other architecture's
   system call convention (x32, i386) kills the process.

Not covered: CPU time spent *before* the deadline (a program may use its whole
``timeout_s``); side channels; kernel bugs reachable through allowed system calls
(read/write/mmap/futex/...). Each layer is skipped, and reported by
``available_layers()``, where the kernel or privileges do not allow it.
"""
from __future__ import annotations

import ctypes
import math
import os
import platform
import resource
import shutil
import struct
import tempfile

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_THREAD = 0x00010000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

IS_ROOT = os.geteuid() == 0
IS_X86_64 = platform.machine() in ("x86_64", "AMD64")
UID_BASE = 61000  # children's uids when the uid map is too narrow for unique ones
UNIQUE_UID_BASE = 2_000_000_000  # + the server's pid: unique among live servers, any pool
CHILD_NICE = 5  # a program's niceness above its server's


def child_uid(server_pid: int) -> tuple[int, bool]:
    """The uid a root server's children run under, and whether it is unique to this server.

    ``UNIQUE_UID_BASE + server pid``: two live servers never share a pid, so no two pools
    (in this process or another) ever give their children the same uid, and the per-uid
    process limit and permission checks are this server's alone. Where the uid map (a
    container's user namespace) does not cover that range, ``UID_BASE + pid % 1000``,
    reported as not unique."""
    try:
        pid_max = int(open("/proc/sys/kernel/pid_max").read())
        lines = open("/proc/self/uid_map").read().split("\n")
        for line in filter(None, (ln.split() for ln in lines)):
            inside, count = int(line[0]), int(line[2])
            if inside <= UNIQUE_UID_BASE and UNIQUE_UID_BASE + pid_max <= inside + count:
                return UNIQUE_UID_BASE + server_pid, True
    except (OSError, ValueError, IndexError):
        pass
    return UID_BASE + server_pid % 1000, False


# ----------------------------------------------------------------------------------------
# Server-wide: namespaces and the empty root
# ----------------------------------------------------------------------------------------

def enter_private_network() -> str | None:
    """Move the calling process into a new network namespace. Returns how, or None."""
    if _libc.unshare(CLONE_NEWNET) == 0:
        return "netns"
    if IS_ROOT:
        return None
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return None
    try:  # map ourselves to root inside, so chroot works there too
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    except OSError:
        pass
    return "userns+netns"


def enter_private_ipc() -> bool:
    """A private System V IPC and POSIX message-queue namespace (after the network one,
    whose user namespace, if any, makes this allowed). seccomp refuses the IPC calls
    anyway; the namespace makes sure nothing a program could create outlives its server
    or is shared with the host."""
    return _libc.unshare(CLONE_NEWIPC) == 0


def cap_address_space(extra_mb: int):
    """Let this process grow by at most extra_mb of address space from here (the
    server's cap while it compiles a program). Returns the limit to restore."""
    old = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/statm", "rb") as f:
            vm_bytes = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
    resource.setrlimit(resource.RLIMIT_AS, (vm_bytes + extra_mb * 1024 * 1024, old[1]))
    return old


def restore_address_space(old) -> None:
    if old is not None:
        resource.setrlimit(resource.RLIMIT_AS, old)


def make_empty_root() -> str:
    path = tempfile.mkdtemp(prefix="sbx-root-")
    os.chmod(path, 0o555)
    return path


def remove_empty_root(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def can_chroot() -> bool:
    try:
        return os.geteuid() == 0 or bool(
            int(open("/proc/self/status").read().split("CapEff:")[1].split()[0], 16) & (1 << 18))
    except (OSError, IndexError, ValueError):
        return False


# ----------------------------------------------------------------------------------------
# Landlock
# ----------------------------------------------------------------------------------------

_SYS_LANDLOCK_CREATE, _SYS_LANDLOCK_RESTRICT = 444, 446


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable."""
    if not IS_X86_64 and platform.machine() != "aarch64":
        return 0
    r = _libc.syscall(_SYS_LANDLOCK_CREATE, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return max(int(r), 0)


def landlock_ruleset_bytes(abi: int) -> bytes:
    fs = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        fs |= 1 << 13  # refer
    if abi >= 3:
        fs |= 1 << 14  # truncate
    if abi >= 5:
        fs |= 1 << 15  # ioctl_dev
    if abi < 4:
        return struct.pack("Q", fs)
    net = 0b11  # bind_tcp | connect_tcp
    if abi < 6:
        return struct.pack("QQ", fs, net)
    return struct.pack("QQQ", fs, net, 0b11)  # scoped: abstract unix sockets | signals


class Landlock:
    """A ruleset that handles every right this kernel knows and grants none."""

    def __init__(self, abi: int):
        attr = landlock_ruleset_bytes(abi)
        self.buf = ctypes.create_string_buffer(attr, len(attr))
        self.size = len(attr)
        self.syscall = _libc.syscall

    def restrict(self) -> bool:
        fd = self.syscall(_SYS_LANDLOCK_CREATE, self.buf, self.size, 0)
        if fd < 0:
            return False
        ok = self.syscall(_SYS_LANDLOCK_RESTRICT, fd, 0) == 0
        os.close(fd)
        return ok


# ----------------------------------------------------------------------------------------
# seccomp-BPF
# ----------------------------------------------------------------------------------------

_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL = 0x7FFF0000, 0x80000000
_ERRNO = 0x00050000
_EPERM, _ENOSYS = 1, 38
_AUDIT_ARCH_X86_64 = 0xC000003E

# x86-64 system call numbers. An allow-list: what a forked CPython needs to compute, read
# its pipes, allocate memory, sleep and exit. Everything else is refused with EPERM,
# including what a process could use to reach the host or a neighbour without a file or a
# socket: file locks and leases (flock, fcntl F_SETLK/F_OFD_*/F_SETLEASE/F_NOTIFY),
# timestamps (utime*, futimesat), permission and owner changes (chmod*, fchmodat2,
# chown*), extended attributes, fanotify/inotify, scheduling and I/O priority
# (sched_set*, setpriority, ioprio_set), threads and processes (clone), System V and
# POSIX IPC, sockets, exec, ptrace, namespaces, keyrings, io_uring, bpf; and mincore, whose
# view of which shared library pages are resident is a channel between programs.
ALLOWED_SYSCALLS = {
    "read": 0, "write": 1, "close": 3, "stat": 4, "fstat": 5, "lstat": 6, "poll": 7,
    "lseek": 8, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12, "rt_sigaction": 13,
    "rt_sigprocmask": 14, "rt_sigreturn": 15, "readv": 19, "writev": 20, "access": 21,
    "pipe": 22, "select": 23, "sched_yield": 24, "mremap": 25, "madvise": 28, "dup": 32, "dup2": 33, "pause": 34, "nanosleep": 35, "getitimer": 36,
    "alarm": 37, "setitimer": 38, "getpid": 39, "exit": 60, "uname": 63, "getcwd": 79,
    "readlink": 89, "getpriority": 140, "gettimeofday": 96, "getrlimit": 97, "getrusage": 98, "times": 100,
    "getuid": 102, "getgid": 104, "geteuid": 107, "getegid": 108, "getppid": 110,
    "getpgrp": 111, "getgroups": 115, "getresuid": 118, "getresgid": 120, "getpgid": 121,
    "getsid": 124, "rt_sigpending": 127, "rt_sigtimedwait": 128, "rt_sigsuspend": 130,
    "sigaltstack": 131, "arch_prctl": 158, "gettid": 186, "time": 201, "futex": 202,
    "sched_getaffinity": 204, "getdents64": 217, "set_tid_address": 218,
    "restart_syscall": 219, "clock_gettime": 228, "clock_getres": 229,
    "clock_nanosleep": 230, "exit_group": 231, "newfstatat": 262, "readlinkat": 267,
    "faccessat": 269, "pselect6": 270, "ppoll": 271, "set_robust_list": 273, "dup3": 292,
    "pipe2": 293, "getcpu": 309, "getrandom": 318, "statx": 332, "rseq": 334,
    "close_range": 436, "faccessat2": 439,
}
# Allowed with a look at their arguments (see seccomp_program).
_OPEN, _OPENAT, _FCNTL, _IOCTL, _PRLIMIT64 = 2, 257, 72, 16, 302
_KILL_NR, _TGKILL = 62, 234
_CLONE3, _OPENAT2 = 435, 437  # ENOSYS: glibc falls back to the calls checked here
# fcntl: F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC (no lock, lease,
# owner, signal, notify or pipe-size command)
_FCNTL_CMDS = (0, 1, 2, 3, 4, 1030)
# ioctl: TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIONCLEX, FIOCLEX (no TIOCSTI)
_IOCTL_CMDS = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)
# O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE's __O_TMPFILE bit
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000 | 0o20000000
# Refused calls a test names (tests/test_sandbox_channels.py): every one must be EPERM.
REFUSED = {
    "flock": 73, "fchmod": 91, "chmod": 90, "fchmodat": 268, "fchmodat2": 452,
    "fchown": 93, "utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
    "fremovexattr": 199, "fanotify_init": 300, "fanotify_mark": 301, "inotify_init1": 294,
    "sched_setaffinity": 203, "sched_setscheduler": 144, "sched_setparam": 142,
    "sched_setattr": 314, "setpriority": 141, "ioprio_set": 251, "clone": 56, "fork": 57,
    "socket": 41, "execve": 59, "ptrace": 101, "shmget": 29, "msgget": 68, "mq_open": 240,
    "memfd_create": 319, "unshare": 272, "prctl": 157, "fallocate": 285, "ftruncate": 77,
    "mlock": 149, "sysinfo": 99, "mincore": 27, "msync": 26, "process_vm_readv": 310, "pidfd_open": 434,
    "io_uring_setup": 425, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
}


def _arg_low(i: int) -> int:
    return 16 + 8 * i  # offsetof(struct seccomp_data, args[i]), low 32 bits on little-endian


_PID_SLOT = 0x7EADBEEF  # placeholder for the child's pid, patched after the fork


def seccomp_program(own_pid: int = _PID_SLOT) -> bytes:
    """Assemble the filter: a balanced decision tree over system call numbers.

    A tree costs about log2(n) + 4 instructions per system call instead of a linear
    chain's n, which matters twice: on every system call the program makes, and when the
    kernel builds its per-syscall action cache by running the filter for every number at
    install time (that alone took ~0.25 ms per child with a linear chain).
    """
    actions = {nr: "allow" for nr in ALLOWED_SYSCALLS.values()}
    actions.update({_CLONE3: "enosys", _OPENAT2: "enosys", _OPEN: "open1", _OPENAT: "open2",
                    _FCNTL: "fcntl", _IOCTL: "ioctl", _PRLIMIT64: "prlimit",
                    _KILL_NR: "pid0", _TGKILL: "pid0"})
    entries = sorted(actions.items())
    prog: list[tuple] = [
        (_LD_ABS, 4), (_JEQ, _AUDIT_ARCH_X86_64, None, "kill"),
        (_LD_ABS, 0), (_JGE, 0x40000000, "kill", None),
    ]
    counter = iter(range(1 << 20))

    def emit(lo: int, hi: int) -> None:
        if hi - lo <= 4:
            prog.extend((_JEQ, nr, label, None) for nr, label in entries[lo:hi])
            prog.append((_RET, _ERRNO | _EPERM))  # not on the list
            return
        mid, right = (lo + hi) // 2, f"node{next(counter)}"
        prog.append((_JGE, entries[mid][0], right, None))
        emit(lo, mid)
        prog.append((right,))
        emit(mid, hi)

    emit(0, len(entries))
    prog += [
        ("open1",), (_LD_ABS, _arg_low(1)), (_JSET, _WRITE_FLAGS, "eperm", "allow"),
        ("open2",), (_LD_ABS, _arg_low(2)), (_JSET, _WRITE_FLAGS, "eperm", "allow"),
        ("pid0",), (_LD_ABS, _arg_low(0)), (_JEQ, own_pid, "allow", "eperm"),
        ("fcntl",), (_LD_ABS, _arg_low(1)),
        *[(_JEQ, cmd, "allow", None) for cmd in _FCNTL_CMDS], (_RET, _ERRNO | _EPERM),
        ("ioctl",), (_LD_ABS, _arg_low(1)),
        *[(_JEQ, cmd, "allow", None) for cmd in _IOCTL_CMDS], (_RET, _ERRNO | _EPERM),
        # prlimit64(0, resource, NULL, old): reading a limit; any new limit is refused
        ("prlimit",), (_LD_ABS, _arg_low(2)), (_JEQ, 0, None, "eperm"),
        (_LD_ABS, _arg_low(2) + 4), (_JEQ, 0, None, "eperm"),
        (_LD_ABS, _arg_low(0)), (_JEQ, 0, "allow", "eperm"),
        ("allow",), (_RET, _ALLOW),
        ("eperm",), (_RET, _ERRNO | _EPERM),
        ("enosys",), (_RET, _ERRNO | _ENOSYS),
        ("kill",), (_RET, _KILL),
    ]
    labels, pc = {}, 0
    for ins in prog:
        if len(ins) == 1:
            labels[ins[0]] = pc
        else:
            pc += 1
    out, pc = [], 0
    for ins in prog:
        if len(ins) == 1:
            continue
        pc += 1
        if len(ins) == 2:
            out.append(struct.pack("HBBI", ins[0], 0, 0, ins[1]))
        else:
            code, k, jt, jf = ins
            rel = lambda lab: 0 if lab is None else labels[lab] - pc  # noqa: E731
            assert 0 <= rel(jt) < 256 and 0 <= rel(jf) < 256, "BPF jump out of range"
            out.append(struct.pack("HBBI", code, rel(jt), rel(jf), k))
    return b"".join(out)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Seccomp:
    """The filter, assembled and laid out in memory once in the server; a child only
    writes its pid into the one instruction that needs it and calls prctl."""

    def __init__(self):
        program = seccomp_program()
        self.pid_offset = program.index(struct.pack("I", _PID_SLOT))
        self.buf = ctypes.create_string_buffer(program, len(program))
        self.fprog = _SockFprog(len(program) // 8, ctypes.cast(self.buf, ctypes.c_void_p))
        self.fprog_ref = ctypes.byref(self.fprog)
        self.prctl = _libc.prctl

    def install(self, own_pid: int) -> bool:
        struct.pack_into("I", self.buf, self.pid_offset, own_pid)
        return self.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self.fprog_ref, 0, 0) == 0


# ----------------------------------------------------------------------------------------
# Per child
# ----------------------------------------------------------------------------------------

def cpu_limit_s(timeout_s: float) -> int:
    """The CPU-time backstop for a child with ``timeout_s`` of wall clock left: at least
    one whole second past it, so the wall-clock kill (a ``timeout``) always comes first
    for a single-threaded program and the backstop only catches a stalled server."""
    return math.ceil(timeout_s) + 1


def set_rlimits(timeout_s: float, memory_mb: int, own_uid: bool) -> None:
    """Soft == hard, so the program cannot raise them, except the CPU limit: its hard value
    is one second above its soft one, because at soft == hard the kernel sends SIGKILL, not
    SIGXCPU, and a SIGKILL cannot be told from any other kill.
    RLIMIT_NPROC counts every process of the uid, so it is set only when the child runs
    under a uid of its own."""
    cpu = cpu_limit_s(timeout_s)
    limits = [
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_AS, memory_mb * 1024 * 1024),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_NOFILE, 64),
        (resource.RLIMIT_CORE, 0),
    ]
    if own_uid:
        limits.append((resource.RLIMIT_NPROC, 32))
    for res, value in limits:
        resource.setrlimit(res, (value, value + 1 if res == resource.RLIMIT_CPU else value))


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
