"""TRL callbacks that bring the harness's logs into TRL's training loop (GRPO's): the held-out
evaluation, metrics.jsonl rows, and a one-line progress report per step."""
from __future__ import annotations

import time

from transformers import ProgressCallback, TrainerCallback, TrainerControl

from latentcode.training.heldout import RunLog


class HeldoutEval(TrainerCallback):
    """Greedy held-out evaluation at step 0, every ``eval_every`` steps and at the last
    step: a row in evals.jsonl, scalars through the trainer's callbacks (TensorBoard).

    The scalars go to ``callback_handler.on_log``, not ``trainer.log``: GRPOTrainer.log
    also flushes the step's reward means, which would then miss their own log row."""

    def __init__(self, eval_every: int, tokenizer, heldout):
        self.eval_every, self.tokenizer, self.heldout = eval_every, tokenizer, heldout  # heldout: harness.HeldOut
        self.handler = None  # the trainer's callback_handler, set once the trainer exists

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0 and state.is_world_process_zero:  # a resumed run evaluated its checkpoint's step
            self.evaluate(args, state, control, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        every = self.eval_every
        due = (every and state.global_step % every == 0) or state.global_step >= state.max_steps
        if due and state.is_world_process_zero:  # the other ranks wait at the next step's all-reduce
            self.evaluate(args, state, control, model)

    def evaluate(self, args, state, control, model):
        self.heldout.progress = False if args.disable_tqdm else None
        result = self.heldout.evaluate(model, self.tokenizer, state.global_step)
        scalars = {f"heldout/{k}": result[k] for k in ("accuracy", "mean_ast_nodes", "hardcoded_rate")
                   if result[k] is not None}
        if self.handler is not None:  # a fresh control: on_log clears should_log, due after this step
            self.handler.on_log(args, state, TrainerControl(), logs=scalars)


class MetricsLog(TrainerCallback):
    """One metrics.jsonl row per training log: completions so far (``first``: those generated
    before training, by the curriculum filter), rewards, loss, wall time (continued across a
    resume)."""

    def __init__(self, completions_per_step: int, log: RunLog, first: int = 0):
        self.per_step, self.log, self.first = completions_per_step, log, first
        previous = [r["wall_s"] for r in log.read("metrics.jsonl") if r.get("wall_s") is not None]
        self.offset = previous[-1] if previous else 0.0
        self.t0 = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "reward" not in logs or not state.is_world_process_zero:  # summary, held-out scalars
            return
        row = {"step": state.global_step, "completions": self.first + state.global_step * self.per_step,
               "reward_mean": logs["reward"]}
        row.update({k: v for k, v in logs.items() if k.startswith("rewards/") and k.endswith("/mean")})
        row["loss"] = logs.get("loss")
        row["wall_s"] = self.offset + time.perf_counter() - self.t0
        self.log.append("metrics.jsonl", [row])


class StepLine(ProgressCallback):
    """transformers' progress bar, writing one short line per logged step (step, reward, the
    reward functions' means, completion length, loss, seconds) and per held-out evaluation
    instead of the whole log dict (30-odd keys)."""

    def __init__(self):
        super().__init__()
        self.t0 = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        if "reward" in logs:
            parts = [f"step {state.global_step}/{state.max_steps}", f"reward {logs['reward']:+.3f}"]
            parts += [f"{k.split('/')[1]} {v:+.3f}" for k, v in logs.items()
                      if k.startswith("rewards/") and k.endswith("/mean") and isinstance(v, float)]
            if isinstance(logs.get("completions/mean_length"), float):
                parts.append(f"{logs['completions/mean_length']:.0f} tokens")
            if isinstance(logs.get("loss"), float):
                parts.append(f"loss {logs['loss']:+.4f}")
            now = time.perf_counter()
            parts.append(f"{now - self.t0:.0f} s")
            self.t0 = now
            self.training_bar.write(" | ".join(parts))
        elif "heldout/accuracy" in logs:
            self.training_bar.write(f"step {state.global_step}: held-out accuracy {logs['heldout/accuracy']:.1%}")
