"""How many threads torch may use: the cores actually free to this process, re-read as it runs.

On a CPU a torch op splits its work over its intra-op threads, and each parallel region
ends at a barrier that waits for the slowest thread. When another process holds one of the
two cores, the thread that shares that core finishes last, so the whole op runs at the
speed of a half core times two, slower than one thread alone (a (64 x 576) @ (576 x 1536)
matmul, float32, AMD EPYC 2 cores: 141 GFLOP/s quiet with 2 threads, 87 with 1; beside a
busy loop 42 with 2 and 86 with 1; beside a busy loop at nice 19, 18 with 2: a niced
neighbour counts as much as any). The project makes such overlaps itself (sandbox programs
run while the next rows decode; several ranks on one machine) and users run it beside other
work.

``Governor`` measures, every ``interval_s``, how much CPU the rest of the machine took from
the cores this process may run on (``/proc/stat``, minus this process's own time), and sets
``torch.set_num_threads`` to the cores left: at most the ceiling (affinity mask, cgroup CPU
quota, ``OMP_NUM_THREADS`` or the count torch started with, divided among the ranks on this
machine; a count someone else sets with ``torch.set_num_threads`` later becomes the new
ceiling), at least one. ``govern(model)`` ticks it before every forward pass of a CPU model,
so generation and training steps both follow the load. ``LATENTCODE_THREADS=<n>`` fixes the
count instead (``0``: leave torch alone).

torch's thread count is per calling thread (OpenMP's setting is), so the tick runs on the
thread that runs the model, not on a thread of its own. A passive OpenMP wait policy was
measured and not adopted: beside a busy loop it helps 2 threads (42 -> 71 GFLOP/s) but one
thread is faster still (86), and on a quiet machine it costs 18% (141 -> 115).
"""
from __future__ import annotations

import math
import os
import resource
import time

import torch

ENV = "LATENTCODE_THREADS"
# a core counts as taken once others use more than this share of it: 0.6 of a core busy
# elsewhere leaves 1.4 free, which floor(1.4 + 0.4) makes 1 thread
ROUND_UP = 0.4


def ceiling_cores() -> int:
    """The most threads this process should ever use: its CPU affinity, a cgroup CPU quota,
    ``OMP_NUM_THREADS`` (else the count torch chose at start-up), shared among the ranks of
    a distributed job on this machine (``LOCAL_WORLD_SIZE``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    omp = os.environ.get("OMP_NUM_THREADS", "")
    cores = min(cores, int(omp) if omp.isdigit() and int(omp) > 0 else _STARTING_THREADS)
    ranks = os.environ.get("LOCAL_WORLD_SIZE", "")
    if ranks.isdigit() and int(ranks) > 1:
        cores = cores // int(ranks)
    return max(1, cores)


def cgroup_cpu_quota() -> float | None:
    """CPUs' worth of time the cgroup allows per period (v2 ``cpu.max``, v1 ``cfs_quota_us``),
    or None when unlimited or unreadable."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read())
        period = int(open("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def threads_for(free_cores: float, ceiling: int) -> int:
    """Threads for ``free_cores`` of CPU left free by the rest of the machine."""
    return max(1, min(ceiling, math.floor(free_cores + ROUND_UP)))


def _cpu_ticks(cpus: set[int] | None) -> tuple[int, int] | None:
    """(busy, total) clock ticks of the given CPUs since boot, from ``/proc/stat``."""
    busy = total = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                name, *fields = line.split()
                if cpus is not None and int(name[3:]) not in cpus:
                    continue
                ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
    except (OSError, ValueError):
        return None
    return (busy, total) if total else None


def _own_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return ru.ru_utime + ru.ru_stime


class Governor:
    """Keeps torch's thread count at the cores the rest of the machine leaves free."""

    def hook(self, module, args) -> None:
        """A forward pre-hook (it must return None: anything else replaces the inputs)."""
        self.tick()

    def __init__(self, interval_s: float = 0.5, ceiling: int | None = None):
        self.interval_s = interval_s
        self.ceiling = ceiling or ceiling_cores()
        self.cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        self.tick_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.threads = torch.get_num_threads()
        self.others = 0.0  # cores the rest of the machine used over the last interval
        self.own_s = 0.0  # CPU seconds this process used over it
        self._last = self._sample()

    def _sample(self):
        return time.monotonic(), _cpu_ticks(self.cpus), _own_cpu_s()

    def measure(self) -> float | None:
        """Cores the rest of the machine used (of this process's CPUs) since the last call,
        or None when ``/proc/stat`` cannot be read."""
        now = self._sample()
        (t0, ticks0, own0), (t1, ticks1, own1) = self._last, now
        self._last = now
        if ticks0 is None or ticks1 is None or t1 - t0 <= 0:
            return None
        busy_s = (ticks1[0] - ticks0[0]) / self.tick_s
        self.own_s = own1 - own0
        self.others = max(0.0, busy_s - self.own_s) / (t1 - t0)
        return self.others

    def tick(self) -> int:
        """Re-measure when ``interval_s`` has passed; returns the thread count in force."""
        if time.monotonic() - self._last[0] < self.interval_s:
            return self.threads
        current = torch.get_num_threads()
        if current != self.threads:  # set by someone else since (a user, a test): that is the ceiling now
            self.ceiling = self.threads = current
        others = self.measure()
        if others is not None:
            want = threads_for(self.ceiling - others, self.ceiling)
            if want != self.threads:
                torch.set_num_threads(want)
                self.threads = want
        return self.threads


_STARTING_THREADS = torch.get_num_threads()
_GOVERNOR: Governor | None = None


def govern(model: torch.nn.Module) -> torch.nn.Module:
    """Tick the process's governor before every forward pass of ``model`` (a CPU model;
    others are left alone). ``LATENTCODE_THREADS=n`` sets n threads once instead, ``0``
    leaves torch's setting as it is. Returns the model."""
    global _GOVERNOR
    setting = os.environ.get(ENV, "auto").strip().lower()
    if getattr(model, "device", torch.device("cpu")).type != "cpu" or setting == "0":
        return model
    if setting != "auto":
        if not setting.isdigit():
            raise ValueError(f"{ENV}={setting!r}: give a number of threads, 0 (leave torch's), or auto")
        torch.set_num_threads(int(setting))
        return model
    if getattr(model, "_latentcode_governed", False):
        return model
    if _GOVERNOR is None:
        _GOVERNOR = Governor()
    governor = _GOVERNOR
    model.register_forward_pre_hook(governor.hook)
    model._latentcode_governed = True
    return model
