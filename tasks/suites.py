"""Named suites of tasks, for ``latentcode bench --suite NAME``.

Benchmarks (gsm8k, svamp, mawps, countdown, humaneval, mbpp; gsm8k_train, GSM8K's training
split, which is not shipped in the package: from ../shared/data or $LATENTCODE_DATA) load
their default local file; ``n`` takes the first n records (``seed``, ``difficulty`` and
``wording`` do not apply). Generated families take ``n`` (default 100), ``seed``,
``difficulty`` and ``wording`` ("train", or "heldout": wordings never trained on, see
``tasks.generators``); ``mixed`` takes turns across the first seven families (as when the
recorded figures were made, so their splits reproduce), ``generated`` across every family,
word problems included. A path to a JSONL file of questions is a suite too (``load_file``).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from tasks.base import Task
from tasks.generators import FAMILIES, check_wording, generate
from tasks.jsonl import DatasetError, _parse_line

BENCHMARKS = ("gsm8k", "svamp", "mawps", "countdown", "humaneval", "mbpp", "gsm8k_train")
# a benchmark whose name is not its module: (module, keyword arguments of its load)
_VARIANTS = {"gsm8k_train": ("gsm8k", {"split": "train"})}
# the families ``mixed`` has always drawn from: adding a family must not change its questions
MIXED_FAMILIES = ("liststats", "arithmetic", "strings", "counting", "numtheory", "dates", "sorting")
TAKE_TURNS = {"mixed": MIXED_FAMILIES, "generated": tuple(FAMILIES)}
SUITES = BENCHMARKS + tuple(FAMILIES) + tuple(TAKE_TURNS)
DEFAULT_N = 100  # generated tasks when n is None


def load_suite(name: str, *, n: int | None = None, seed: int = 0, difficulty: int = 1,
               wording: str = "train") -> list[Task]:
    if n is not None and n < 0:
        raise ValueError(f"n ({n}) must be a count of tasks, 0 or more (None for the default)")
    check_wording(wording)
    if wording != "train" and name not in FAMILIES and name not in TAKE_TURNS:
        raise ValueError(f"wording {wording!r} applies to generated suites ({', '.join(FAMILIES)}, "
                         f"{', '.join(TAKE_TURNS)}); {name} is a fixed set of questions with one wording each")
    if name in BENCHMARKS:
        module, kwargs = _VARIANTS.get(name, (name, {}))
        return importlib.import_module(f"tasks.{module}").load(limit=n, **kwargs)
    count = DEFAULT_N if n is None else n
    if name in FAMILIES:
        return generate(name, count, seed=seed, difficulty=difficulty, wording=wording)
    if name in TAKE_TURNS:
        return _mixed(TAKE_TURNS[name], count, seed, difficulty, wording)
    if is_file_suite(name):
        return load_file(name)[:n]
    raise ValueError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)}, or a JSONL file "
                     "of questions (path ending in .jsonl)")


def is_file_suite(name: str) -> bool:
    """Whether ``--suite`` names a JSONL file of questions rather than a suite."""
    return name not in SUITES and (name.endswith(".jsonl") or Path(name).is_file())


def check_suite(name: str) -> None:
    """A one-line error now for a suite that cannot load, before a run folder or a model."""
    if name in SUITES:
        return
    if not is_file_suite(name):
        raise ValueError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)}, or a JSONL file "
                         "of questions (path ending in .jsonl)")
    if not Path(name).is_file():
        raise FileNotFoundError(f"{name}: no such file; --suite takes a suite name ({', '.join(SUITES)}) "
                                "or a JSONL file of questions")


def load_file(path: str | Path) -> list[Task]:
    """Your own questions: a JSONL file, one per line, either ``{"question": ..., "answer": ...}``
    (optional ``id``, ``family``; the family defaults to the file's name) or a task as
    ``Task.to_dict`` writes it (``id``, ``prompt``, ``answer``, ``family``, ``meta``). A bad line
    is named by file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; --suite takes a suite name ({', '.join(SUITES)}) "
                                "or a JSONL file of questions")
    tasks, ids = [], set()
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            row = _parse_line(line, where, ())
            try:
                if "prompt" in row:
                    task = Task.from_dict(row)
                else:
                    if "question" not in row or "answer" not in row:
                        raise ValueError('needs "question" and "answer" (or a task\'s "id", "prompt", '
                                         '"answer", "family")')
                    if not isinstance(row["question"], str) or isinstance(row["answer"], (dict, list, bool)):
                        raise ValueError("question must be a string and answer a string or a number")
                    task = Task(str(row.get("id", f"{path.stem}/{len(tasks)}")), row["question"],
                                str(row["answer"]), str(row.get("family", path.stem)))
            except ValueError as e:
                raise DatasetError(f"{where}: {e}") from None
            if task.id in ids:
                raise DatasetError(f"{where}: id {task.id!r} appears twice; ids name questions in run folders")
            ids.add(task.id)
            tasks.append(task)
    if not tasks:
        raise DatasetError(f"{path}: no questions (the file is empty)")
    return tasks


def program_to_run(task: Task, program: str) -> str:
    """What the sandbox runs for ``task``: a code benchmark's test program around the
    candidate (``tasks/<family>.py``), anything else as written."""
    if task.kind != "code":
        return program
    return importlib.import_module(f"tasks.{task.family}").test_program(task, program)


def _mixed(families, n: int, seed: int, difficulty: int, wording: str) -> list[Task]:
    per_family = -(-n // len(families))  # ceil: then take turns and cut to n
    lists = [generate(f, per_family, seed=seed, difficulty=difficulty, wording=wording) for f in families]
    return [t for round_ in zip(*lists) for t in round_][:n]
