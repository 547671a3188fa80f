"""What the behavioural hard-coding check costs a reward batch, against running the batch.

    python bench/hardcode_cost.py [--rounds 5] [--out bench/results/hardcode_cost.json]

A GRPO-shaped batch: 4 questions x 8 completions from the mixed generated suite plus a
word problem without a template (so both paths run: re-asked questions and moved values).
Completions are the reference programs (every one correct, so every one is checked: the
worst case; a real batch checks only the programs above ``wrong``). Side by side in each
round: the batch's own sandbox run, then ``hardcode.check`` on it (one more batch); the
ratio is the median of per-round ratios. The check runs as the reward runs it
(``RewardConfig``'s default re-asks); its time is also given as a share of the GRPO step
recorded in ``bench/results/grpo_step.json`` (the default arm, same machine kind).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sandbox  # noqa: E402
from latentcode.expert import hardcode  # noqa: E402
from latentcode.training.rewards import RewardConfig  # noqa: E402
from tasks.base import Task  # noqa: E402
from tasks.generators import generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORD = Task("gsm/1", "Tom has 12 apples. He gives 5 to Ann and buys 30 more. How many apples "
            "does he have now?", "37", "gsm8k", {})


def batch(round_: int):
    families = ["liststats", "strings", "dates", "sorting", "numtheory", "counting", "arithmetic"]
    tasks = [generate(families[(round_ + i) % len(families)], 1, seed=round_ * 10 + i)[0]
             for i in range(3)] + [WORD]
    codes = [t.meta.get("reference_program", "apples = 12 - 5 + 30\nprint(apples)") for t in tasks]
    # 8 completions per question, each a distinct source (a comment makes them unique)
    return ([t for t in tasks for _ in range(8)],
            [f"{c}\n# completion {k}" for c in codes for k in range(8)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "bench/results/hardcode_cost.json"))
    args = p.parse_args(argv)
    pool = sandbox.Pool(os.cpu_count() or 2)
    pool.run_many(["print(1)"] * 8)
    rows = []
    for rnd in range(args.rounds):
        tasks, codes = batch(rnd)
        t0 = time.perf_counter()
        results = pool.run_many(codes)
        t1 = time.perf_counter()
        verdicts = hardcode.check(tasks, codes, results, pool=pool,
                                  variants=RewardConfig().reask_variants)
        t2 = time.perf_counter()
        rows.append({"run_s": t1 - t0, "check_s": t2 - t1, "programs": len(codes),
                     "extra_runs": sum(v.runs for v in verdicts if v),
                     "flagged": sum(bool(v and v.hardcoded) for v in verdicts)})
    pool.close()
    med = {k: statistics.median(r[k] for r in rows) for k in ("run_s", "check_s", "extra_runs")}
    ratio = statistics.median(r["check_s"] / r["run_s"] for r in rows)
    print(f"\n{rows[0]['programs']} completions per batch (4 questions x 8), every one correct, "
          f"median of {args.rounds} rounds, {os.cpu_count()} sandbox workers\n")
    print("| step | seconds | sandbox runs |")
    print("|---|---:|---:|")
    print(f"| run the batch | {med['run_s']:.3f} | {rows[0]['programs']} |")
    print(f"| hard-coding check | {med['check_s']:.3f} | {med['extra_runs']:.0f} |")
    print(f"\ncheck / run (median of per-round ratios): {ratio:.2f}x; "
          f"flagged: {sum(r['flagged'] for r in rows)} of {sum(r['programs'] for r in rows)}")
    step = _grpo_step_s()
    share = med["check_s"] / step if step else None
    if share is not None:
        print(f"check / GRPO step ({step:.1f} s, bench/results/grpo_step.json): {share:.2%}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rounds": rows, "median": med, "check_over_run": ratio,
                                          "reask_variants": RewardConfig().reask_variants,
                                          "grpo_step_s": step, "check_over_grpo_step": share},
                                         indent=2))
    print(f"wrote {args.out}")
    return 0


def _grpo_step_s() -> float | None:
    """The median step time of the default arm of the recorded GRPO step benchmark."""
    try:
        data = json.loads((ROOT / "bench/results/grpo_step.json").read_text())
        steps = [s for r in data["results"]["fence"] for s in r["step_s"]]
        return statistics.median(steps)
    except (OSError, ValueError, KeyError, TypeError, statistics.StatisticsError):
        return None


if __name__ == "__main__":
    sys.exit(main())
