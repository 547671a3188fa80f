"""What the GRPO and evolution-strategies trainers share: the task split, the held-out
evaluation, and the run folder's logs.

A training run folder holds ``config.json``, ``samples.jsonl`` (every completion generated
for training, with its execution, in ``latentcode bench``'s row format plus ``step``, so
``latentcode inspect`` reads it), ``metrics.jsonl`` (one row per step: completions
generated so far, mean reward and its parts) and ``evals.jsonl`` (held-out accuracy, mean
program length and hard-coded rate at each evaluation).
"""
from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

from latentcode.expert.code_expert import CodeExpert, ExpertConfig
from latentcode.runs import read_jsonl
from tasks.base import Task
from tasks.splits import split
from tasks.suites import BENCHMARKS, load_suite


@dataclasses.dataclass
class TaskSetup:
    """Which tasks train and which are held out. Generated suites draw train and held-out
    tasks from different seeds, so no question is in both."""
    suite: str = "liststats"
    train_size: int = 256
    eval_size: int = 48
    held_out_families: str = ""  # comma-separated families never trained on (suite "mixed")
    held_out_min: float | None = None  # tasks with any number >= this are held out
    difficulty: int = 1
    seed: int = 0


def load_tasks(setup: TaskSetup) -> tuple[list[Task], list[Task]]:
    """(train, held_out). For a benchmark suite (a fixed file) the first ``eval_size``
    records are held out and the next ``train_size`` train."""
    families = tuple(f.strip() for f in setup.held_out_families.split(",") if f.strip())
    rng = (setup.held_out_min, None) if setup.held_out_min is not None else None
    if setup.suite in BENCHMARKS:
        tasks = load_suite(setup.suite, n=setup.eval_size + setup.train_size)
        held, train = tasks[:setup.eval_size], tasks[setup.eval_size:]
        if families or rng:
            raise ValueError("held_out_families and held_out_min apply to generated suites; "
                             f"{setup.suite} is a fixed benchmark file")
        return train, held
    # generated: over-draw, then split by family / number range
    pool_train = load_suite(setup.suite, n=4 * setup.train_size, seed=setup.seed,
                            difficulty=setup.difficulty)
    pool_eval = load_suite(setup.suite, n=4 * setup.eval_size, seed=setup.seed + 10_000,
                           difficulty=setup.difficulty)
    train, _ = split(pool_train, held_out_families=families, held_out_range=rng)
    _, held = split(pool_eval, held_out_families=families, held_out_range=rng) \
        if families or rng else ([], pool_eval)
    if not train:
        raise ValueError("every training task is held out: loosen held_out_families / held_out_min")
    if not held:
        raise ValueError("no task is held out: held_out_families / held_out_min select none")
    return train[:setup.train_size], held[:setup.eval_size]


def evaluate_heldout(model, tokenizer, tasks: list[Task], *, few_shot: int = 0,
                     max_new_tokens: int = 256, batch_size: int = 16, rewards=None) -> dict:
    """Greedy accuracy of the code expert on ``tasks``, with the mean program length (AST
    nodes, tokens) and the hard-coded rate (AST check, plus the metamorphic check when
    ``rewards`` (a CodeRewards) is given)."""
    was_training = model.training
    model.eval()
    expert = CodeExpert(model, tokenizer, ExpertConfig(few_shot=few_shot, batch_size=batch_size,
                                                       max_new_tokens=max_new_tokens))
    t0 = time.perf_counter()
    gens = expert.generate([expert.prompt(t) for t in tasks])
    gen_s = time.perf_counter() - t0
    if rewards is not None:
        outcomes = rewards.evaluate(tasks, [g[0].text for g in gens], [g[0].num_tokens for g in gens])
        samples = [o.sample for o in outcomes]
        reward = statistics.fmean(rewards.total(outcomes)) if outcomes else 0.0
    else:
        samples = [ss[0] for ss in expert.grade_generations(tasks, gens)]
        reward = None
    if was_training:
        model.train()
    programs = [s for s in samples if s.program]
    correct_programs = [s for s in programs if s.correct]

    def mean(xs):
        return statistics.fmean(xs) if xs else None

    by_family: dict[str, list[bool]] = {}
    for s in samples:
        by_family.setdefault(s.family, []).append(s.correct)
    return {
        "accuracy": mean([s.correct for s in samples]) or 0.0,
        "questions": len(samples),
        "reward": reward,
        "ran_ok": mean([s.status == "ok" for s in samples]) or 0.0,
        "hardcoded_rate": mean([s.hardcoded for s in programs]) or 0.0,
        "mean_ast_nodes": mean([s.lengths.get("ast_nodes", 0) for s in programs]),
        "mean_tokens": mean([s.lengths.get("tokens", 0) for s in programs]),
        "mean_ast_nodes_correct": mean([s.lengths.get("ast_nodes", 0) for s in correct_programs]),
        "by_family": {f: statistics.fmean(v) for f, v in sorted(by_family.items())},
        "gen_s": gen_s,
    }


class RunLog:
    """Appends JSON lines to a run folder's files, flushed per write."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def append(self, name: str, rows: list[dict]) -> None:
        with open(self.path / name, "a") as f:
            for r in rows:
                f.write(json.dumps(r, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self, name: str) -> list[dict]:
        return read_jsonl(self.path / name)

    def truncate_after(self, name: str, step: int) -> None:
        """Drop rows logged after ``step`` (a resumed run repeats those steps)."""
        rows = [r for r in self.read(name) if r.get("step") is None or r["step"] <= step]
        tmp = self.path / (name + ".tmp")
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
        os.replace(tmp, self.path / name)

    def samples_callback(self):
        """For ``CodeRewards(on_outcomes=...)``: each new execution becomes a samples.jsonl row."""
        def log(outcomes, step):
            rows = []
            for o in outcomes:
                row = o.sample.to_dict()
                row["reward"] = o.correctness
                row["length"] = o.length
                row["metamorphic"] = o.metamorphic
                rows.append(row)
            self.append("samples.jsonl", rows)
        return log
