"""GRPO optimizer-step time: TRL's generation vs completions that stop at the closing fence.

Same model, tasks, seed and config except ``stop_at_fence``; rounds alternate which goes
first so machine noise hits both. Each round builds a fresh trainer (held-out evaluation
left out) and times ``--steps`` optimizer steps; the first step of each trainer is also
timed, but the table's medians are over all steps. Reports seconds per step, completion
tokens per step (TRL's ``completions/mean_length``), the mean reward, and the median of
per-round ratios.

    python bench/grpo_step.py --rounds 2 --steps 2

Both modes sample from torch's global generator under the same seed, but from different
distributions of length (one stops at the fence), so the rewards are not identical; the
reward column shows the stop does not cost reward.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

from latentcode.config import compose
from latentcode.training.grpo import GRPOSetup, HeldoutEval, build_trainer


class _Clock(TrainerCallback):
    def __init__(self):
        self.steps, self.logs, self._t = [], [], None

    def on_step_begin(self, args, state, control, **kwargs):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(time.perf_counter() - self._t)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "reward" in logs:
            self.logs.append(dict(logs))


def one_run(args, stop: bool, runs_dir: str) -> dict:
    config = compose(GRPOSetup, 
        model=args.model, suite=args.suite, train_size=64, eval_size=4, use_cpu=args.cpu,
        max_steps=args.steps, save_steps=10_000, num_generations=args.generations,
        per_device_train_batch_size=args.generations, max_completion_length=args.max_tokens,
        learning_rate=2e-4, runs_dir=runs_dir, run_name=f"step-{stop}", report_to=[],
        stop_at_fence=stop, seed=args.seed, eval_every=0)
    trainer, _, _ = build_trainer(config)
    trainer.remove_callback(HeldoutEval)
    clock = _Clock()
    trainer.add_callback(clock)
    trainer.train()
    return {"step_s": clock.steps,
            "tokens": [log["completions/mean_length"] * args.generations for log in clock.logs],
            "reward": [log["reward"] for log in clock.logs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--suite", default="liststats")
    ap.add_argument("--generations", type=int, default=8, help="completions per step (one group)")
    ap.add_argument("--max-tokens", type=int, default=192, help="max_completion_length")
    ap.add_argument("--steps", type=int, default=2, help="optimizer steps per trainer")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--out", default="bench/results/grpo_step.json")
    args = ap.parse_args()

    results = {"trl": [], "fence": []}
    with tempfile.TemporaryDirectory() as runs_dir:
        for r in range(args.rounds):
            order = [False, True] if r % 2 == 0 else [True, False]
            for stop in order:
                res = one_run(args, stop, runs_dir)
                results["fence" if stop else "trl"].append(res)
                print(f"round {r + 1} {'fence' if stop else 'trl  '}: steps "
                      + " ".join(f"{s:.1f}s" for s in res["step_s"])
                      + f", tokens/step {statistics.mean(res['tokens']):.0f}, reward "
                      + f"{statistics.mean(res['reward']):.3f}", flush=True)

    def med(mode, key):
        return statistics.median(x for res in results[mode] for x in res[key])

    ratios = [statistics.median(t["step_s"]) / statistics.median(f["step_s"])
              for t, f in zip(results["trl"], results["fence"])]
    print(f"\n{args.model}, {args.suite}, {args.generations} completions per step, "
          f"max_completion_length {args.max_tokens}, LoRA r16, {args.rounds} rounds x {args.steps} steps\n")
    print("| generation | s per step (median) | completion tokens per step | mean reward |")
    print("|---|---:|---:|---:|")
    for mode, name in (("trl", "TRL `model.generate`"), ("fence", "stop at the closing fence")):
        print(f"| {name} | {med(mode, 'step_s'):.1f} | {med(mode, 'tokens'):.0f} | "
              f"{med(mode, 'reward'):.3f} |")
    print(f"\nmedian of per-round ratios (TRL / fence): {statistics.median(ratios):.2f}x "
          f"(rounds: {', '.join(f'{x:.2f}x' for x in ratios)})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
