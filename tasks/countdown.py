"""Countdown (as in TinyZero and d1): reach a target from three numbers with + - * /.

Graded by ``tasks.check.countdown_ok``: the final answer must be an expression using each
of ``meta["numbers"]`` exactly once and equal to the target. Printing the target alone
scores nothing, because the question already states it. Every record of the default file
is solvable (checked by brute force in the tests).
"""
from __future__ import annotations

from tasks.base import Task
from tasks.jsonl import DatasetError
from tasks.sources import load_rows

FILE = "countdown/countdown_cd3_test.jsonl"
HUB = "Jiayi-Pan/Countdown-Tasks-3to4"  # different fields (nums, target): pass a JSONL


def load(source=None, *, limit: int | None = None) -> list[Task]:
    rows = load_rows(source, default=FILE, required=("input", "output"), hub=(HUB, None, "train"))
    return [_task(row, i, source or FILE) for i, row in enumerate(rows[:limit])]


def _task(row: dict, i: int, where) -> Task:
    try:
        numbers = [int(x) for x in str(row["input"]).split(",")]
        target = int(row["output"])
    except ValueError:
        raise DatasetError(f"{where}: record {i + 1}: input must be integers like '3,7,25' and "
                           f"output one integer, got {row['input']!r} -> {row['output']!r}") from None
    return Task(f"countdown/{i}", prompt(numbers, target), str(target), "countdown",
                {"numbers": numbers, "target": target})


def prompt(numbers: list[int], target: int) -> str:
    listed = ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
    return (f"Using the numbers {listed}, write an arithmetic expression that equals {target}. "
            "You may use + - * / and parentheses, and must use each number exactly once. "
            "The final answer is the expression itself, such as (1 + 2) * 3.")
