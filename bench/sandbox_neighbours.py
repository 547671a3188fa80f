"""Fair neighbours: how much an honest program slows down when a hostile one runs on
another sandbox server at the same time (issue 27, item 5; the goal is at most 1.5x).

    python bench/sandbox_neighbours.py [--rounds 5] [--out bench/results/sandbox_neighbours.json]

Two pools of one server each: the honest pool runs the 20-line stats program (unique
literals, as re-asks differ) in batches; the hostile pool, in another thread, runs one kind
of hostile program after another, each until its time limit. Rounds alternate 'alone' and
'beside' each hostile kind, and the slowdown is the median of the per-round ratios of honest
programs per second, alone over beside. On a machine of N cores the honest pool holds one
core at most; a fair hostile program takes one core, no more.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STATS20 = (ROOT / "tests/corpus/sandbox/benign/065_stats_report_20_lines.py").read_text()
HOSTILE = {  # name -> (source, python_policy)
    "busy-loop": ("while True:\n    pass\n", True),
    "threads (policy off)": ("import threading\n"
                             "def spin():\n    while True:\n        pass\n"
                             "for _ in range(64):\n"
                             "    try:\n        threading.Thread(target=spin, daemon=True).start()\n"
                             "    except RuntimeError:\n        break\n"
                             "spin()\n", False),
    "forks (policy off)": ("import os\nfor _ in range(16):\n    try:\n        os.fork()\n"
                           "    except OSError:\n        break\nwhile True:\n    pass\n", False),
    "allocate and free": ("while True:\n    x = [0] * (1 << 22)\n    del x\n", True),
}


def honest_rate(pool: sandbox.Pool, n: int, tag: str) -> float:
    codes = [f"run_id = {i}  # {tag}\n{STATS20}" for i in range(n)]
    t0 = time.perf_counter()
    rs = pool.run_many(codes, timeout_s=10.0)
    dt = time.perf_counter() - t0
    assert all(r.ok for r in rs), rs[0]
    return n / dt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--programs", type=int, default=300, help="honest programs per measurement")
    p.add_argument("--out", default=str(ROOT / "bench/results/sandbox_neighbours.json"))
    args = p.parse_args(argv)

    honest, hostile = sandbox.Pool(1), sandbox.Pool(1)
    honest.run_many(["print(1)"] * 10)
    hostile.run_many(["print(1)"] * 2)
    ratios = {name: [] for name in HOSTILE}
    rates = {"alone": [], **{name: [] for name in HOSTILE}}
    try:
        for rnd in range(args.rounds):
            for name, (code, policy) in HOSTILE.items():
                alone = honest_rate(honest, args.programs, f"{rnd}-alone-{name}")
                stop = threading.Event()

                def attack():
                    while not stop.is_set():
                        hostile.run_many([code], timeout_s=2.0, python_policy=policy)

                t = threading.Thread(target=attack)
                t.start()
                time.sleep(0.3)  # the hostile program is running
                beside = honest_rate(honest, args.programs, f"{rnd}-{name}")
                stop.set()
                t.join()
                rates["alone"].append(alone)
                rates[name].append(beside)
                ratios[name].append(alone / beside)
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        honest.close()
        hostile.close()

    print(f"\nhonest 20-line programs/s on one server, {os.cpu_count()} cores, "
          f"median of {args.rounds} rounds\n")
    print("| beside | honest programs/s | slowdown (alone / beside) | goal <= 1.5x |")
    print("|---|---:|---:|---|")
    print(f"| nothing | {statistics.median(rates['alone']):.0f} | 1.00x | |")
    summary = {}
    for name in HOSTILE:
        slow = statistics.median(ratios[name])
        summary[name] = {"median_slowdown": slow, "rounds": ratios[name],
                         "honest_per_s": rates[name]}
        print(f"| {name} | {statistics.median(rates[name]):.0f} | {slow:.2f}x | "
              f"{'met' if slow <= 1.5 else 'MISSED'} |")
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "platform": platform.platform()},
           "layers": sandbox.available_layers(), "rounds": args.rounds,
           "programs": args.programs, "alone_per_s": rates["alone"], "hostile": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
