"""GSM8K (Cobbe et al., 2021): grade-school maths word problems.

The answer is the number after ``#### `` in the worked solution, thousands separators
removed; the worked solution itself is kept in ``meta["solution"]``.
"""
from __future__ import annotations

from tasks.base import Task
from tasks.check import numbers_in
from tasks.jsonl import DatasetError
from tasks.sources import load_rows

FILES = {"test": "gsm8k/test.jsonl", "train": "gsm8k/train.jsonl"}
HUB = "openai/gsm8k"


def load(source=None, *, limit: int | None = None, split: str = "test") -> list[Task]:
    if split not in FILES:
        raise ValueError(f"GSM8K split must be one of {', '.join(FILES)}, not {split!r}")
    rows = load_rows(source, default=FILES[split], required=("question", "answer"),
                     hub=(HUB, "main", split))
    return [_task(row, i, split, source or FILES[split]) for i, row in enumerate(rows[:limit])]


def _task(row: dict, i: int, split: str, where) -> Task:
    solution, sep, final = row["answer"].rpartition("#### ")
    answer = final.strip().replace(",", "")
    if not sep or not answer:
        raise DatasetError(f"{where}: record {i + 1}: the answer has no '#### <number>' line")
    return Task(f"gsm8k/{split}/{i}", row["question"].strip(), answer, "gsm8k",
                {"numbers": numbers_in(row["question"]), "solution": solution.strip()})
