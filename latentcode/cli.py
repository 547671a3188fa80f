"""The `latentcode` command line. Each subcommand is a few library calls."""
from __future__ import annotations

import argparse
import sys
import time

DEMO_PROGRAMS = {
    "mean (last expression)": "def mean(x):\n    return sum(x) / len(x)\nmean([3, 0, 1, 300, 2])",
    "statistics + print": "import statistics\nxs = [3, 0, 1, 300, 2]\n"
                          "print(statistics.median(xs), statistics.pstdev(xs))",
    "runtime error": "xs = []\nprint(sum(xs) / len(xs))",
    "infinite loop": "while True:\n    pass",
    "memory bomb": "x = [0] * 10**10",
    "output flood": "while True:\n    print('spam' * 1000)",
    "import os": "import os\nos.system('echo pwned')",
    "dunder escape": "().__class__.__base__.__subclasses__()",
}


def cmd_demo(args) -> int:
    import sandbox
    names = list(DEMO_PROGRAMS)
    t0 = time.perf_counter()
    results = sandbox.run_many([DEMO_PROGRAMS[n] for n in names], timeout_s=args.timeout_s,
                               memory_mb=args.memory_mb, max_output_bytes=4096)
    wall = time.perf_counter() - t0
    print(f"{'program':24s} {'status':13s} {'wall s':>7s}  answer / error")
    for name, r in zip(names, results):
        shown = r.value if r.value is not None else (r.stdout.strip().splitlines() or [""])[-1]
        if r.status != "ok":
            shown = r.error or ""
        print(f"{name:24s} {r.status:13s} {r.wall_s:7.3f}  {shown[:60]}")
    layers = sandbox.available_layers()
    print(f"\n{len(names)} programs in {wall:.2f} s; active layers: "
          + ", ".join(f"{k}={v}" for k, v in layers.items()))
    n = args.throughput
    if n:
        progs = [f"x = {i}\nprint(x * x)" for i in range(n)]
        t0 = time.perf_counter()
        ok = sum(r.ok for r in sandbox.run_many(progs))
        dt = time.perf_counter() - t0
        print(f"throughput: {n} distinct programs, {ok} ok, {n / dt:.0f} programs/s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentcode", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="run a few benign and hostile programs through the sandbox")
    d.add_argument("--timeout-s", type=float, default=1.0)
    d.add_argument("--memory-mb", type=int, default=256)
    d.add_argument("--throughput", type=int, default=500, help="also time N small programs (0: skip)")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
