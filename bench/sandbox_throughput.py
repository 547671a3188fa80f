"""Programs per second: the sandbox against the usual ways of running model code.

    python bench/sandbox_throughput.py [--rounds 5] [--out bench/results/sandbox_throughput.json]

Methods, measured side by side and interleaved round by round (this machine is shared
and noisy, so each round's ratio to subprocess is taken, then the median):
- sandbox          sandbox.run_many, every layer on, each program's source unique in a
                   literal (a first line `run_id = <i>`), as re-asked programs differ: the
                   server's compile cache misses, the policy's shape cache hits;
- sandbox-new-shape  the same with every program of a shape never seen (`run_<i> = 0`):
                   both caches miss, the policy's full pass every time;
- sandbox-cached   the same with one repeated source (GRPO groups often repeat a program);
- subprocess       a fresh `subprocess.run([python, "-c", code])` per program, one at a
                   time, as most evaluation harnesses do;
- subprocess-x2    the same with as many threads as cores;
- bare-fork        fork per program from this process, compile + exec, no policy, no
                   limits, as many children at once as cores: the ceiling for one
                   process per program;
- in-process       exec() in this process, no isolation at all.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRIVIAL = "x = 1 + 1\nprint(x)\n"
STATS20 = (ROOT / "tests/corpus/sandbox/benign/065_stats_report_20_lines.py").read_text()
PROGRAMS = {"trivial": TRIVIAL, "stats-20-lines": STATS20}
WORKERS = os.cpu_count() or 2


def unique(code: str, n: int, tag: str) -> list[str]:
    """Sources unique in a literal: what a re-ask changes."""
    base = abs(hash(tag)) % 10**9 * 10**4
    return [f"run_id = {base + i}\n{code}" for i in range(n)]


def new_shapes(code: str, n: int, tag: str) -> list[str]:
    """Sources each of a shape never seen: a name of its own."""
    base = abs(hash(tag)) % 10**9 * 10**4
    return [f"run_{base + i} = 0\n{code}" for i in range(n)]


def m_sandbox(code, n, tag):
    rs = sandbox.run_many(unique(code, n, tag), workers=WORKERS)
    assert all(r.ok for r in rs), rs[0]


def m_sandbox_new_shape(code, n, tag):
    rs = sandbox.run_many(new_shapes(code, n, tag), workers=WORKERS)
    assert all(r.ok for r in rs), rs[0]


def m_sandbox_cached(code, n, tag):
    rs = sandbox.run_many([code] * n, workers=WORKERS)
    assert all(r.ok for r in rs), rs[0]


def _one_subprocess(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr


def m_subprocess(code, n, tag):
    for c in unique(code, n, tag):
        _one_subprocess(c)


def m_subprocess_x2(code, n, tag):
    with ThreadPoolExecutor(WORKERS) as ex:
        list(ex.map(_one_subprocess, unique(code, n, tag)))


def m_bare_fork(code, n, tag):
    running = {}
    for c in unique(code, n, tag):
        if len(running) >= WORKERS:
            _reap(running)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(w, 1)
            try:
                exec(compile(c, "<program>", "exec"), {"__name__": "__main__"})
                sys.stdout.flush()
            finally:
                os._exit(0)
        os.close(w)
        running[pid] = r
    while running:
        _reap(running)


def _reap(running):
    pid, _ = os.wait()
    fd = running.pop(pid)
    while os.read(fd, 65536):
        pass
    os.close(fd)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU time of this process, its reaped children (bare fork's), and every sandbox
    server and zygote of the default pool, with the zygotes' reaped children (the
    programs). On a machine shared with other work, programs per CPU-second is the figure
    that other work cannot bend; with every core busy, wall-clock rates follow it."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    for s in sandbox.default_pool(WORKERS).servers:
        for pid, with_children in ((s.pid, False), ((s.hello or {}).get("zygote"), True)):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, TypeError):
                continue
            ticks = sum(int(x) for x in fields[11:15 if with_children else 13])
            total += ticks / _TICK
    return total


def m_in_process(code, n, tag):
    for c in unique(code, n, tag):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(c, "<program>", "exec"), {"__name__": "__main__"})


METHODS = {  # name -> (function, programs per round)
    "sandbox": (m_sandbox, 600), "sandbox-new-shape": (m_sandbox_new_shape, 600),
    "sandbox-cached": (m_sandbox_cached, 600),
    "subprocess": (m_subprocess, 40), "subprocess-x2": (m_subprocess_x2, 60),
    "bare-fork": (m_bare_fork, 600), "in-process": (m_in_process, 2000),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--scale", type=float, default=1.0, help="multiply programs per round")
    p.add_argument("--out", default=str(ROOT / "bench/results/sandbox_throughput.json"))
    args = p.parse_args(argv)

    layers = sandbox.available_layers()
    sandbox.run_many(["print(1)"] * 20, workers=WORKERS)  # warm the pool
    rates = {prog: {m: [] for m in METHODS} for prog in PROGRAMS}
    per_cpu = {prog: {m: [] for m in METHODS} for prog in PROGRAMS}
    for rnd in range(args.rounds):
        for prog, code in PROGRAMS.items():
            for name, (fn, n) in METHODS.items():
                n = max(4, int(n * args.scale))
                c0, t0 = cpu_seconds(), time.perf_counter()
                fn(code, n, f"{rnd}-{name}")
                rates[prog][name].append(n / (time.perf_counter() - t0))
                per_cpu[prog][name].append(n / max(1e-9, cpu_seconds() - c0))
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

    summary = {}
    print(f"\nprograms/s on {os.cpu_count()} cores, median of {args.rounds} interleaved rounds; "
          "ratio = median of per-round ratios to subprocess\n")
    print(f"| method | {' | '.join(f'{p} (/s) | x subprocess' for p in PROGRAMS)} |")
    print("|---|" + "---:|---:|" * len(PROGRAMS))
    for name in METHODS:
        cells = []
        for prog in PROGRAMS:
            med = statistics.median(rates[prog][name])
            ratio = statistics.median(a / b for a, b in zip(rates[prog][name], rates[prog]["subprocess"]))
            summary.setdefault(name, {})[prog] = {"median_per_s": med, "x_subprocess": ratio,
                                                  "rounds": rates[prog][name]}
            cells.append(f"{med:,.0f} | {ratio:.1f}x")
        print(f"| {name} | {' | '.join(cells)} |")
    goal = {prog: summary["sandbox"][prog]["x_subprocess"] >= 10 for prog in PROGRAMS}
    print(f"\ngoal (sandbox, unique sources, >= 10x subprocess): {goal}")
    # Against the ceiling: the same per-round pairing, sandbox over bare-fork.
    of_fork = {prog: statistics.median(a / b for a, b in zip(rates[prog]["sandbox"],
                                                             rates[prog]["bare-fork"]))
               for prog in PROGRAMS}
    print("sandbox / bare-fork (median of per-round ratios): " +
          ", ".join(f"{p} {100 * r:.0f}%" for p, r in of_fork.items()) +
          f"; goal >= 85%: { {p: r >= 0.85 for p, r in of_fork.items()} }")
    new_of_fork = {prog: statistics.median(a / b for a, b in zip(rates[prog]["sandbox-new-shape"],
                                                                 rates[prog]["bare-fork"]))
                   for prog in PROGRAMS}
    print("sandbox-new-shape / bare-fork: " +
          ", ".join(f"{p} {100 * r:.0f}%" for p, r in new_of_fork.items()))
    cpu_of_fork = {prog: {m: statistics.median(a / b for a, b in zip(per_cpu[prog][m],
                                                                       per_cpu[prog]["bare-fork"]))
                          for m in ("sandbox", "sandbox-new-shape", "sandbox-cached")}
                   for prog in PROGRAMS}
    print("\nprograms per CPU-second (every process involved), median of rounds:")
    for prog in PROGRAMS:
        print(f"  {prog}: " + ", ".join(
            f"{m} {statistics.median(per_cpu[prog][m]):.0f}" for m in
            ("sandbox", "sandbox-new-shape", "sandbox-cached", "bare-fork")) +
            "; over bare-fork: " + ", ".join(f"{m} {100 * r:.0f}%" for m, r in cpu_of_fork[prog].items()))
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "platform": platform.platform()},
           "layers": layers, "rounds": args.rounds, "workers": WORKERS,
           "results": summary, "goal_10x": goal, "sandbox_over_bare_fork": of_fork,
           "new_shape_over_bare_fork": new_of_fork,
           "per_cpu_second": {prog: {m: per_cpu[prog][m] for m in METHODS if m.startswith(("sandbox", "bare"))}
                              for prog in PROGRAMS},
           "per_cpu_over_bare_fork": cpu_of_fork}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
