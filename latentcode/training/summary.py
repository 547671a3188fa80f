"""What a training run did, in a few lines: printed when `latentcode train grpo|es|em` ends.

Read from the run folder (metrics.jsonl, evals.jsonl), so a resumed run's summary covers the
whole run, and a row that is not what a trainer writes is skipped rather than trusted.
"""
from __future__ import annotations

import math
from pathlib import Path

from latentcode.commands import COMMANDS
from latentcode.metrics import reask_counts
from latentcode.runs import read_jsonl


def _number(row: dict, key: str) -> float | None:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def training_summary(run_path: str | Path, kind: str) -> str:
    """``kind``: a trainer's (``latentcode.config.COMMANDS``, whose row names its step). Steps and completions; the training reward (GRPO, ES) or
    pass@k (EM) at the first and last step; held-out accuracy before -> after; the folder."""
    path = Path(run_path)
    metrics = [r for r in read_jsonl(path / "metrics.jsonl") if _number(r, "step") is not None]
    evals = [r for r in read_jsonl(path / "evals.jsonl")
             if _number(r, "step") is not None and _number(r, "accuracy") is not None]
    lines = []
    if metrics:
        last = metrics[-1]
        unit = COMMANDS[kind].unit if kind in COMMANDS else "steps"
        done = f"{int(last['step'])} {unit if int(last['step']) != 1 else unit[:-1]}"
        completions = _number(last, "completions")
        lines.append(f"trained {done}" + (f", {int(completions)} completions" if completions is not None else ""))
        key = "reward_mean" if _number(metrics[0], "reward_mean") is not None else "pass_at_k"
        first, end = _number(metrics[0], key), _number(last, key)
        if first is not None and end is not None:
            name = "training reward" if key == "reward_mean" else "training pass@k"
            lines.append(f"{name} {first:.3f} (step {int(metrics[0]['step'])}) -> {end:.3f} (step {int(last['step'])})")
    else:
        lines.append("no training step finished")
    if evals:
        a, b = evals[0], evals[-1]
        n = _number(b, "questions")
        lines.append(f"held-out accuracy {a['accuracy']:.1%} (step {int(a['step'])}) -> {b['accuracy']:.1%} "
                     f"(step {int(b['step'])})" + (f" on {int(n)} questions" if n is not None else ""))
    checks = reask_counts(read_jsonl(path / "samples.jsonl"))
    if checks["check_unknown"] or checks["reask_shortfall"]:
        lines.append(f"hard-coding check: {checks['check_unknown']} programs unknown (a re-ask out of "
                     f"time), {checks['reask_shortfall']} checked on fewer re-asks than wanted")
    lines.append(f"run folder: {path}")
    return "\n".join(lines)
