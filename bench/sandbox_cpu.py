"""Where a sandboxed program's CPU goes: caller, server, zygote, child, per program.

    python bench/sandbox_cpu.py [--n 600]

Runs n unique programs (trivial and the 20-line stats program) on a 2-worker pool and reads
the CPU each process spent from /proc (the children's from the zygotes' reaped-children
counters), divided by n. A one-shot profile for docs/benchmarks.md, not a timing test.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = {"trivial": "x = 1 + 1\nprint(x)\n",
            "stats-20-lines": (ROOT / "tests/corpus/sandbox/benign/065_stats_report_20_lines.py").read_text()}


def cpu(pid: int) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of a process."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(f[11]) + int(f[12])) / tick, (int(f[13]) + int(f[14])) / tick


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=600)
    args = p.parse_args(argv)
    pool = sandbox.Pool(2)
    pool.run_many(["print(1)"] * 10)
    print("| program | programs/s | caller ms | server ms | zygote ms | child ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, code in PROGRAMS.items():
        progs = [f"{code}\n# {name} {i}\n" for i in range(args.n)]
        procs = [(s.pid, s.hello["zygote"]) for s in pool.servers]
        before = [(cpu(a), cpu(b)) for a, b in procs]
        c0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        results = pool.run_many(progs)
        wall, c1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        after = [(cpu(a), cpu(b)) for a, b in procs]
        per = 1000 / args.n
        caller = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) * per
        server = sum(x[0][0] - y[0][0] for x, y in zip(after, before)) * per
        zygote = sum(x[1][0] - y[1][0] for x, y in zip(after, before)) * per
        child = sum(x[1][1] - y[1][1] for x, y in zip(after, before)) * per
        assert all(r.ok for r in results)
        print(f"| {name} | {args.n / wall:.0f} | {caller:.2f} | {server:.2f} | {zygote:.2f} | "
              f"{child:.2f} (reported {statistics.mean(r.cpu_s for r in results) * 1000:.2f}) |")
    pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
