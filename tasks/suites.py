"""Named suites of tasks, for ``latentcode bench --suite NAME``.

Benchmarks (gsm8k, svamp, mawps, countdown, humaneval, mbpp; gsm8k_train, GSM8K's training
split, which is not shipped in the package: from ../shared/data or $LATENTCODE_DATA) load
their default local file; ``n`` takes the first n records (``seed`` and ``difficulty`` do not apply). Generated
families take ``n`` (default 100), ``seed`` and ``difficulty``; ``mixed`` takes turns
across all seven families.
"""
from __future__ import annotations

import importlib

from tasks.base import Task
from tasks.generators import FAMILIES, generate

BENCHMARKS = ("gsm8k", "svamp", "mawps", "countdown", "humaneval", "mbpp", "gsm8k_train")
# a benchmark whose name is not its module: (module, keyword arguments of its load)
_VARIANTS = {"gsm8k_train": ("gsm8k", {"split": "train"})}
SUITES = BENCHMARKS + tuple(FAMILIES) + ("mixed",)
DEFAULT_N = 100  # generated tasks when n is None


def load_suite(name: str, *, n: int | None = None, seed: int = 0, difficulty: int = 1) -> list[Task]:
    if n is not None and n < 0:
        raise ValueError(f"n ({n}) must be a count of tasks, 0 or more (None for the default)")
    if name in BENCHMARKS:
        module, kwargs = _VARIANTS.get(name, (name, {}))
        return importlib.import_module(f"tasks.{module}").load(limit=n, **kwargs)
    count = DEFAULT_N if n is None else n
    if name in FAMILIES:
        return generate(name, count, seed=seed, difficulty=difficulty)
    if name == "mixed":
        return _mixed(count, seed, difficulty)
    raise ValueError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)}")


def program_to_run(task: Task, program: str) -> str:
    """What the sandbox runs for ``task``: a code benchmark's test program around the
    candidate (``tasks/<family>.py``), anything else as written."""
    if task.kind != "code":
        return program
    return importlib.import_module(f"tasks.{task.family}").test_program(task, program)


def _mixed(n: int, seed: int, difficulty: int) -> list[Task]:
    per_family = -(-n // len(FAMILIES))  # ceil: then take turns and cut to n
    lists = [generate(f, per_family, seed=seed, difficulty=difficulty) for f in FAMILIES]
    return [t for round_ in zip(*lists) for t in round_][:n]
