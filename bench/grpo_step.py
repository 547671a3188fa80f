"""GRPO optimizer-step time, per arm, side by side:

- ``trl``: TRL's own generation (``stop_at_fence`` off);
- ``fence-fp32``: the project's decoder stopping at the closing fence, float32 weights, no
  autocast, transformers' sdpa attention (the configuration before bf16 and the decode
  attention);
- ``fence``: the defaults (bf16 autocast where the machine multiplies bf16 natively, LoRA's
  base weights in bf16, the decode attention on CPU, the prompt start all rows share run
  once in the log-probability forward);
- ``fence-rows``: the defaults but TRL's log-probability forward over every row's prompt and
  sampling through the unmerged LoRA adapters (``--share-prompt-prefix false
  --merge-lora-for-generation false``, the step before issue 29).

Same model, tasks, seed and config otherwise; rounds rotate which arm goes first so machine
noise hits all. Each round builds a fresh trainer (held-out evaluation
left out) and times ``--steps`` optimizer steps; the first step of each trainer is also
timed, but the table's medians are over all steps. Reports seconds per step, completion
tokens per step (TRL's ``completions/mean_length``), the mean reward, and the median of
per-round ratios.

    python bench/grpo_step.py --rounds 2 --steps 2 --arms fence-fp32 fence

The arms sample from torch's global generator under the same seed, but from different
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


ARMS = {"trl": dict(stop_at_fence=False), "fence": dict(stop_at_fence=True),
        "fence-fp32": dict(stop_at_fence=True, bf16=False, attn_implementation="sdpa"),
        "fence-rows": dict(stop_at_fence=True, share_prompt_prefix=False, merge_lora_for_generation=False)}


def one_run(args, arm: str, runs_dir: str) -> dict:
    config = compose(GRPOSetup, **ARMS[arm],
        model=args.model, suite=args.suite, train_size=64, eval_size=4, use_cpu=args.cpu,
        max_steps=args.steps, save_steps=10_000, num_generations=args.generations,
        per_device_train_batch_size=args.generations, max_completion_length=args.max_tokens,
        learning_rate=2e-4, runs_dir=runs_dir, run_name=f"step-{arm}", report_to=[],
        seed=args.seed, eval_every=0)
    trainer, _, _ = build_trainer(config)
    trainer.remove_callback(HeldoutEval)
    clock = _Clock()
    trainer.add_callback(clock)
    phases = _time_phases(trainer)
    trainer.train()
    return {"step_s": clock.steps, "phases_s": phases,
            "tokens": [log["completions/mean_length"] * args.generations for log in clock.logs],
            "reward": [log["reward"] for log in clock.logs]}


def _time_phases(trainer) -> dict[str, float]:
    """Seconds spent, over the whole run, in generation, the log-probability forward, the
    rewards (sandbox runs, re-asks) and the backward + optimizer step (``training_step``
    minus its forward); filled as the trainer runs."""
    phases = {"generation": 0.0, "logps_forward": 0.0, "rewards": 0.0, "training_step": 0.0}

    def timed(name, fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                phases[name] += time.perf_counter() - t0
        return run

    trainer._generate_single_turn = timed("generation", trainer._generate_single_turn)
    trainer._get_per_token_logps_and_entropies = timed("logps_forward", trainer._get_per_token_logps_and_entropies)
    trainer._calculate_rewards = timed("rewards", trainer._calculate_rewards)
    trainer.training_step = timed("training_step", trainer.training_step)
    return phases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--suite", default="liststats")
    ap.add_argument("--generations", type=int, default=8, help="completions per step (one group)")
    ap.add_argument("--max-tokens", type=int, default=192, help="max_completion_length")
    ap.add_argument("--steps", type=int, default=2, help="optimizer steps per trainer")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--arms", nargs="+", default=["trl", "fence-fp32", "fence"], choices=list(ARMS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--out", default="bench/results/grpo_step.json")
    args = ap.parse_args()

    results = {arm: [] for arm in args.arms}
    with tempfile.TemporaryDirectory() as runs_dir:
        for r in range(args.rounds):
            order = args.arms[r % len(args.arms):] + args.arms[:r % len(args.arms)]
            for arm in order:
                res = one_run(args, arm, runs_dir)
                results[arm].append(res)
                print(f"round {r + 1} {arm:10}: steps " + " ".join(f"{s:.1f}s" for s in res["step_s"])
                      + f", tokens/step {statistics.mean(res['tokens']):.0f}, reward "
                      + f"{statistics.mean(res['reward']):.3f}", flush=True)

    def med(arm, key):
        return statistics.median(x for res in results[arm] for x in res[key])

    base = args.arms[0]
    ratios = {arm: [statistics.median(b["step_s"]) / statistics.median(a["step_s"])
                    for b, a in zip(results[base], results[arm])] for arm in args.arms[1:]}
    print(f"\n{args.model}, {args.suite}, {args.generations} completions per step, "
          f"max_completion_length {args.max_tokens}, LoRA r16, {args.rounds} rounds x {args.steps} steps\n")
    print(f"| arm | s per step (median) | completion tokens per step | mean reward | speed-up over {base} |")
    print("|---|---:|---:|---:|---:|")
    for arm in args.arms:
        up = f"{statistics.median(ratios[arm]):.2f}x" if arm in ratios else "1"
        print(f"| {arm} | {med(arm, 'step_s'):.1f} | {med(arm, 'tokens'):.0f} | {med(arm, 'reward'):.3f} | {up} |")
    # training_step holds generation, rewards and both forwards (TRL generates inside it)
    print("\nWhere a step's time goes (seconds per step, median over rounds; backward + optimizer "
          "= training_step - generation - rewards - log-prob forwards):\n")
    print("| arm | generation | rewards (sandbox) | log-prob forward | backward + optimizer | step |")
    print("|---|---:|---:|---:|---:|---:|")
    for arm in args.arms:
        per = {k: statistics.median(res["phases_s"][k] / len(res["step_s"]) for res in results[arm])
               for k in results[arm][0]["phases_s"]}
        rest = per["training_step"] - per["generation"] - per["rewards"] - per["logps_forward"]
        print(f"| {arm} | {per['generation']:.1f} | {per['rewards']:.1f} | {per['logps_forward']:.1f} | "
              f"{rest:.1f} | {med(arm, 'step_s'):.1f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
