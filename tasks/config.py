"""Which questions a run uses: one dataclass for the suite, one for the train / held-out split.

    task = TaskConfig(suite="liststats", difficulty=1, task_seed=0)
    train, held_out = load_split(task, SplitConfig(train_size=256, eval_size=48, held_out_min=1000))

``latentcode bench`` reads ``TaskConfig`` (plus its own ``n``); every trainer reads both.
Their fields are the commands' flags (``--suite``, ``--held-out-min`` ...).
"""
from __future__ import annotations

import dataclasses
from dataclasses import field

from tasks.base import Task
from tasks.generators import check_wording
from tasks.splits import split
from tasks.suites import BENCHMARKS, check_suite, is_file_suite, load_suite


@dataclasses.dataclass
class TaskConfig:
    suite: str = field(default="liststats", metadata={"help": "a benchmark (gsm8k, svamp, mawps, countdown, humaneval, mbpp), a generated family (liststats, wordproblems, ...), mixed (seven families), generated (every family) or a JSONL file of questions ({\"question\": ..., \"answer\": ...} per line)"})
    difficulty: int = field(default=1, metadata={"help": "difficulty of generated suites"})
    task_seed: int = field(default=0, metadata={"help": "seed of the generated questions"})
    wording: str = field(default="train", metadata={"help": "wordings of generated questions: train, or heldout (written from scratch, never trained on; for bench; trainers take eval_wording)"})

    def __post_init__(self):
        if self.difficulty < 1:
            raise ValueError(f"difficulty ({self.difficulty}) must be >= 1")
        check_suite(self.suite)
        check_wording(self.wording)


@dataclasses.dataclass
class SplitConfig:
    """Generated suites draw train and held-out tasks from different seeds, so no question is
    in both; a benchmark file holds out its first ``eval_size`` records."""
    train_size: int = field(default=256, metadata={"help": "training questions"})
    eval_size: int = field(default=48, metadata={"help": "held-out questions, evaluated greedily"})
    held_out_families: str = field(default="", metadata={"help": "comma-separated families never trained on (suites mixed, generated)"})
    held_out_min: float | None = field(default=None, metadata={"help": "questions with any number >= this are held out"})
    eval_suite: str | None = field(default=None, metadata={"help": "take the held-out questions from this other suite (train on mawps or gsm8k_train, evaluate on svamp or gsm8k)"})
    eval_difficulty: int | None = field(default=None, metadata={"help": "difficulty of the held-out questions of a generated suite (default: the suite's): larger numbers and longer lists than training"})
    eval_wording: str = field(default="train", metadata={"help": "wordings of the held-out questions of a generated suite: train, or heldout (wordings never trained on)"})

    def __post_init__(self):
        for name in ("train_size", "eval_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be >= 1")
        if self.eval_suite is not None:
            check_suite(self.eval_suite)
        if self.eval_difficulty is not None and self.eval_difficulty < 1:
            raise ValueError(f"eval_difficulty ({self.eval_difficulty}) must be >= 1 (or unset: the suite's)")
        check_wording(self.eval_wording)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in self.held_out_families.split(",") if f.strip())


def load_split(task: TaskConfig, split_config: SplitConfig) -> tuple[list[Task], list[Task]]:
    """(train, held_out). For a benchmark suite (a fixed file) the first ``eval_size``
    records are held out and the next ``train_size`` train; with ``eval_suite`` the first
    ``train_size`` of the suite train and the first ``eval_size`` of the other are held out."""
    s = split_config
    families = s.families
    rng = (s.held_out_min, None) if s.held_out_min is not None else None
    if task.wording != "train":
        raise ValueError(f"wording {task.wording!r} would train on the held-out wordings; train on "
                         f"wording train and set eval_wording {task.wording} to evaluate on them")
    if s.eval_suite is not None:
        if s.eval_suite == task.suite:
            raise ValueError(f"eval_suite is the training suite ({task.suite}); leave it unset to hold "
                             "out part of that suite")
        if families or rng:
            raise ValueError("held_out_families and held_out_min split one generated suite; with "
                             "eval_suite the held-out questions are that other suite's")
        if (s.eval_difficulty is not None or s.eval_wording != "train") and \
                (s.eval_suite in BENCHMARKS or is_file_suite(s.eval_suite)):
            raise ValueError(f"eval_difficulty and eval_wording apply to generated suites; {s.eval_suite} is a fixed benchmark file")
        train = load_suite(task.suite, n=s.train_size, seed=task.task_seed, difficulty=task.difficulty)
        held = load_suite(s.eval_suite, n=s.eval_size, seed=task.task_seed + 10_000,
                          difficulty=s.eval_difficulty or task.difficulty, wording=s.eval_wording)
        return train, held
    if task.suite in BENCHMARKS or is_file_suite(task.suite):
        if families or rng or s.eval_difficulty is not None or s.eval_wording != "train":
            raise ValueError("held_out_families, held_out_min, eval_difficulty and eval_wording apply to "
                             f"generated suites; {task.suite} is a fixed benchmark file")
        tasks = load_suite(task.suite, n=s.eval_size + s.train_size)
        return tasks[s.eval_size:], tasks[:s.eval_size]
    # generated: over-draw, then split by family / number range
    pool_train = load_suite(task.suite, n=4 * s.train_size, seed=task.task_seed,
                            difficulty=task.difficulty)
    pool_eval = load_suite(task.suite, n=4 * s.eval_size, seed=task.task_seed + 10_000,
                           difficulty=s.eval_difficulty or task.difficulty, wording=s.eval_wording)
    train, _ = split(pool_train, held_out_families=families, held_out_range=rng)
    _, held = split(pool_eval, held_out_families=families, held_out_range=rng) \
        if families or rng else ([], pool_eval)
    if not train:
        raise ValueError("every training task is held out: loosen held_out_families / held_out_min")
    if not held:
        raise ValueError("no task is held out: held_out_families / held_out_min select none")
    return train[:s.train_size], held[:s.eval_size]
