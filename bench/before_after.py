"""A training step of this tree against the same step of an earlier commit, side by side.

    python bench/before_after.py --before 702bf94 --rounds 2 grpo
    python bench/before_after.py --before 702bf94 --rounds 2 em

The earlier commit is checked out once as a git worktree (``/tmp/latentcode-before-<sha>``),
and each round runs the workload in both trees, alternating which goes first, with the same
seed, model and settings: each tree imports its own ``latentcode``, ``tasks`` and ``sandbox``
(run from its own folder). Workloads:

- ``grpo``: ``bench/grpo_step.py --arms fence --rounds 1 --steps S`` (the default arm: one
  group of 8 completions of a zero-shot list-statistics prompt per step, LoRA r16, 192
  completion tokens at most); the figure is the median seconds per optimizer step.
- ``em``: ``latentcode train em`` for one iteration (``--questions`` questions, ``--samples``
  programs each, then the M-step on the kept ones, no held-out evaluation); the figure is
  the iteration's ``wall_s`` from metrics.jsonl (E-step sampling and grading + M-step; the
  held-out evaluations before and after, on 2 questions, are outside it).

Prints a table and writes the per-round figures and the median ratio to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def worktree(commit: str) -> Path:
    sha = subprocess.run(["git", "rev-parse", "--short", commit], cwd=HERE, check=True,
                         capture_output=True, text=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"latentcode-before-{sha}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=HERE, check=True,
                       capture_output=True)
    return path


def grpo(tree: Path, args, out: Path) -> float:
    subprocess.run([sys.executable, "bench/grpo_step.py", "--arms", "fence", "--rounds", "1",
                    "--steps", str(args.steps), "--seed", str(args.seed), "--out", str(out)],
                   cwd=tree, check=True, env=_env(tree, args))
    steps = json.loads(out.read_text())["results"]["fence"][0]["step_s"]
    return statistics.median(steps)


def em(tree: Path, args, out: Path) -> float:
    runs = out.parent / f"runs-{out.stem}"
    subprocess.run([sys.executable, "-m", "latentcode", "train", "em", "--config", "configs/em.yaml",
                    "--iterations", "1", "--questions", str(args.questions), "--samples", str(args.samples),
                    "--eval-every", "0", "--eval-size", "2", "--seed", str(args.seed), "--runs-dir", str(runs),
                    "--run-name", "iteration"], cwd=tree, check=True, env=_env(tree, args))
    (metrics,) = runs.glob("*iteration/metrics.jsonl")  # later trees prefix the folder with its date
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    return float(rows[-1]["wall_s"])


def _env(tree: Path, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    if args.threads:  # both trees: OMP_NUM_THREADS caps torch (the earlier tree has no governor)
        env["OMP_NUM_THREADS"] = str(args.threads)
    return env


WORKLOADS = {"grpo": grpo, "em": em}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=list(WORKLOADS))
    ap.add_argument("--before", required=True, help="the earlier commit")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2, help="grpo: optimizer steps per round")
    ap.add_argument("--questions", type=int, default=8, help="em: questions in the iteration")
    ap.add_argument("--samples", type=int, default=8, help="em: programs per question")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0,
                    help="OMP_NUM_THREADS for both trees (0: unset; the earlier tree has no thread governor, so "
                         "on a shared machine a fixed count keeps the comparison about the step itself)")
    ap.add_argument("--out", default=None, help="default: bench/results/before_after_<workload>.json")
    args = ap.parse_args()
    trees = {"before": worktree(args.before), "after": HERE}
    run = WORKLOADS[args.workload]
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
                t0 = time.perf_counter()
                s = run(trees[name], args, Path(tmp) / f"{name}-{r}.json")
                seconds[name].append(s)
                print(f"round {r + 1} {name:6s}: {s:.1f} s ({time.perf_counter() - t0:.0f} s with loading)",
                      flush=True)
    ratios = [b / a for b, a in zip(seconds["before"], seconds["after"])]
    print(f"\n| workload | before ({args.before}) s | after s | speed-up (median of rounds) |\n|---|---:|---:|---:|\n"
          f"| {args.workload} | {statistics.median(seconds['before']):.1f} | "
          f"{statistics.median(seconds['after']):.1f} | {statistics.median(ratios):.2f}x |")
    out = Path(args.out or HERE / f"bench/results/before_after_{args.workload}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "seconds": seconds, "ratios": ratios,
                               "load_average_at_end": os.getloadavg()}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
