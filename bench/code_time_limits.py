"""Per-task time limits for the code benchmarks, with a margin over the reference solution.

    python bench/code_time_limits.py [--reps 3] [--out tasks/code_time_limits.json]

Runs every MBPP (all splits) and HumanEval reference solution through its own test
program in the sandbox, ``--reps`` times under a generous limit, and takes the largest
wall or CPU time seen. A task whose reference needs more than a quarter of the default
limit (2 s) gets its own: max(2 s, 4 x that time), rounded up to whole seconds. Only those
tasks are written; the loaders put the limit in ``meta["timeout_s"]``. A reference that
does not pass is reported (and exits 1): its time says nothing.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sandbox  # noqa: E402
from tasks import humaneval, mbpp  # noqa: E402
from tasks.codetest import TIME_LIMITS  # noqa: E402

DEFAULT_S = 2.0  # the caller's default limit (latentcode.expert.grading)
MARGIN = 4  # a reference may use at most 1/MARGIN of its limit
GENEROUS_S = 20.0


def reference_programs() -> dict[str, str]:
    """{task_id: the reference solution's test program}."""
    programs = {t.id: mbpp.test_program(t, t.meta["reference_code"])
                for t in mbpp.load(split="all")}
    programs.update({t.id: humaneval.test_program(t, t.meta["code_prompt"] + t.meta["canonical_solution"])
                     for t in humaneval.load()})
    return programs


def measure(programs: dict[str, str], reps: int) -> tuple[dict[str, float], dict[str, str]]:
    """({task_id: max seconds over reps}, {task_id: error} for references that fail)."""
    ids, codes = list(programs), list(programs.values())
    seconds, failed = dict.fromkeys(ids, 0.0), {}
    for rep in range(reps):
        # a unique comment per repetition: nothing is served from the compile cache
        results = sandbox.run_many([f"{c}\n# rep {rep}\n" for c in codes], timeout_s=GENEROUS_S)
        for task_id, r in zip(ids, results):
            seconds[task_id] = max(seconds[task_id], r.wall_s, r.cpu_s)
            if not r.ok:
                failed[task_id] = f"{r.status}: {r.error}"
    return seconds, failed


def limits(seconds: dict[str, float]) -> dict[str, float]:
    return {task_id: float(max(DEFAULT_S, math.ceil(MARGIN * s)))
            for task_id, s in seconds.items() if s > DEFAULT_S / MARGIN}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=TIME_LIMITS)
    args = ap.parse_args()
    seconds, failed = measure(reference_programs(), args.reps)
    table = limits(seconds)
    args.out.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")
    slowest = sorted(seconds, key=seconds.get, reverse=True)[:10]
    print("slowest references:", ", ".join(f"{k} {seconds[k]:.2f}s" for k in slowest))
    print(f"{len(table)} of {len(seconds)} tasks get their own limit ({args.out}):")
    for task_id, limit in sorted(table.items()):
        print(f"  {task_id}: reference {seconds[task_id]:.2f} s, limit {limit:g} s")
    for task_id, error in sorted(failed.items()):
        print(f"  FAILED {task_id}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
