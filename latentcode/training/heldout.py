"""The held-out evaluation and the run folder's logs, which every trainer writes through the
harness (``training/harness.py``; the task split is ``tasks.config.load_split``).

A training run folder holds ``config.json``, ``samples.jsonl`` (every completion generated
for training, with its execution, in ``latentcode bench``'s row format plus ``step``, so
``latentcode inspect`` reads it), ``metrics.jsonl`` (one row per step: completions
generated so far, mean reward and its parts) and ``evals.jsonl`` (held-out accuracy, mean
program length and hard-coded rate at each evaluation).
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

from latentcode.expert.code_expert import CodeExpert, ExpertConfig
from latentcode.expert.prompts import PromptConfig
from latentcode.models import bf16_autocast
from latentcode.runs import append_lines, read_jsonl
from latentcode.training.rewards import log_row
from tasks.base import Task


# Rows decoded together in every trainer's held-out evaluation. One figure for all of them:
# greedy decoding under bf16 autocast depends slightly on the batch (padding changes the
# kernels' reduction order), and curves from different trainers are compared on one plot.
HELDOUT_BATCH_SIZE = 64


def evaluate_heldout(model, tokenizer, tasks: list[Task], *, prompt: PromptConfig | None = None,
                     max_new_tokens: int = 256, batch_size: int = HELDOUT_BATCH_SIZE, rewards=None,
                     on_rows=None, bf16: bool = False, progress: bool | None = None) -> dict:
    """Greedy accuracy of the code expert on ``tasks``, with the mean program length (AST
    nodes, tokens) and the hard-coded rate (AST check, plus the metamorphic check when
    ``rewards`` (a CodeRewards) is given). ``on_rows``, if given, receives one row per
    question, in task order (bench's row format, plus reward, length and metamorphic verdict
    when ``rewards`` is given): every answer, repeated ones too, so a trainer can log what
    each evaluation saw. ``bf16``: generate under bf16 autocast, as every trainer samples.
    ``progress``: a bar with an ETA over the questions (None: where stderr is a terminal)."""
    from tqdm import tqdm
    was_training = model.training
    model.eval()
    expert = CodeExpert(model, tokenizer, ExpertConfig(batch_size=batch_size, max_new_tokens=max_new_tokens),
                        prompt=prompt, sandbox_config=rewards.sandbox if rewards is not None else None)
    t0 = time.perf_counter()
    bar = tqdm(total=len(tasks), desc="held-out", unit="question", leave=False,
               disable=None if progress is None else not progress)
    expert.on_generated = lambda: bar.update(1)
    with bf16_autocast(model, bf16)():
        gens = expert.generate([expert.prompt(t) for t in tasks])
    bar.close()
    gen_s = time.perf_counter() - t0
    if rewards is not None:
        scored = rewards.evaluate(tasks, [g[0].text for g in gens], [g[0].num_tokens for g in gens])
        samples = [s.sample for s in scored]
        rows = [log_row(s) for s in scored]
        reward = statistics.fmean(rewards.total(scored)) if scored else 0.0
    else:
        samples = [ss[0] for ss in expert.grade_generations(tasks, gens)]
        rows = [s.to_dict() for s in samples]
        reward = None
    if was_training:
        model.train()
    if on_rows is not None:
        on_rows(rows)
    return {**heldout_figures(samples), "reward": reward, "gen_s": gen_s}


def heldout_figures(samples) -> dict:
    """Accuracy (plain, and computed: right and not hard-coded), the share that ran, the
    hard-coded rate and mean program lengths, and the accuracy per task family."""
    programs = [s for s in samples if s.program]
    correct_programs = [s for s in programs if s.correct]

    def mean(xs):
        return statistics.fmean(xs) if xs else None

    by_family: dict[str, list[bool]] = {}
    for s in samples:
        by_family.setdefault(s.family, []).append(s.correct)
    return {
        "accuracy": mean([s.correct for s in samples]) or 0.0,
        # right answers whose program passed the hard-coding check (what training pays for)
        "accuracy_computed": mean([s.correct and not s.hardcoded for s in samples]) or 0.0,
        "questions": len(samples),
        "ran_ok": mean([s.status == "ok" for s in samples]) or 0.0,
        "hardcoded_rate": mean([s.hardcoded for s in programs]) or 0.0,
        "mean_ast_nodes": mean([s.lengths.get("ast_nodes", 0) for s in programs]),
        "mean_tokens": mean([s.lengths.get("tokens", 0) for s in programs]),
        "mean_ast_nodes_correct": mean([s.lengths.get("ast_nodes", 0) for s in correct_programs]),
        "by_family": {f: statistics.fmean(v) for f, v in sorted(by_family.items())},
    }


class RunLog:
    """Appends JSON lines to a run folder's files, flushed per write."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def append(self, name: str, rows: list[dict]) -> None:
        append_lines(self.path / name, rows)

    def read(self, name: str) -> list[dict]:
        return read_jsonl(self.path / name)

    def truncate_after(self, name: str, step: int) -> None:
        """Drop rows logged after ``step`` (a resumed run repeats those steps)."""
        rows = [r for r in self.read(name) if r.get("step") is None or r["step"] <= step]
        tmp = self.path / (name + ".tmp")
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
        os.replace(tmp, self.path / name)

    def rows_writer(self, name: str, step: int):
        """For ``evaluate_heldout(on_rows=...)``: its rows appended to ``name``, labelled ``step``."""
        return lambda rows: self.append(name, [{**r, "step": step} for r in rows])

    def samples_callback(self):
        """For ``CodeRewards(on_scored=...)``: each new execution becomes a samples.jsonl row."""
        return lambda scored, step: self.append("samples.jsonl", [log_row(s) for s in scored])
