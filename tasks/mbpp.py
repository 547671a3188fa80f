"""MBPP (Austin et al., 2021): short Python functions, graded by three asserts each.

Splits by task_id as in the paper: prompt 1-10, test 11-510, validation 511-600,
train 601-974 (``split="all"`` for every record). The prompt is the paper's: the
description followed by the tests, which is how the model learns the function's name.
Reads the sanitized release too (``prompt`` for ``text``, ``test_imports`` run before the
tests). See ``tasks/codetest.py`` for what the test harness refuses.
"""
from __future__ import annotations

import ast

from tasks.base import Task
from tasks.codetest import guarded_call, harness, parse, top_level_defs, without_main_block
from tasks.jsonl import DatasetError
from tasks.sources import load_rows

FILE = "mbpp/mbpp.jsonl"
HUB = "google-research-datasets/mbpp"
REQUIRED = ("task_id", "code", "test_list")  # and "text" (full release) or "prompt" (sanitized)
SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600),
          "train": (601, 974), "all": (1, 10**9)}


def load(source=None, *, limit: int | None = None, split: str = "test") -> list[Task]:
    if split not in SPLITS:
        raise ValueError(f"MBPP split must be one of {', '.join(SPLITS)}, not {split!r}")
    lo, hi = SPLITS[split]
    hub_split = "prompt+test+validation+train" if split == "all" else split
    rows = load_rows(source, default=FILE, required=REQUIRED, hub=(HUB, "full", hub_split))
    rows = [r for r in rows if lo <= int(r["task_id"]) <= hi]
    return [_task(row, source or FILE) for row in rows[:limit]]


def _task(row: dict, where) -> Task:
    text = row.get("text") or row.get("prompt")
    if not text:
        raise DatasetError(f"{where}: task_id {row['task_id']}: no description; MBPP rows need "
                           "'text' (full release) or 'prompt' (sanitized release)")
    tests = list(row["test_list"])
    prompt = f"{text.strip()} Your code should pass these tests:\n\n" + "\n".join(tests)
    setup = "\n".join(row.get("test_imports") or []) + "\n" + (row.get("test_setup_code") or "")
    return Task(f"mbpp/{row['task_id']}", prompt, "", "mbpp",
                {"tests": tests, "test_setup_code": setup.strip(),
                 "entry_point": _entry_point(row["code"], tests), "reference_code": row["code"]})


def _entry_point(code: str, tests: list[str]) -> str:
    """The reference's function that the first test calls (its name is the interface)."""
    called = _called(tests[:1])
    functions = [name for name, kind in top_level_defs(code).items() if kind == "function"]
    return next((name for name in called if name in functions), functions[-1] if functions else "")


def _called(tests: list[str]) -> list[str]:
    return [n.func.id for t in tests for n in ast.walk(parse(t))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]


def test_program(task: Task, program: str) -> str:
    """The program to run in the sandbox: passing means status 'ok'."""
    defs = top_level_defs(task.meta["reference_code"])
    called = _called(task.meta["tests"])
    tested = [name for name, kind in defs.items() if kind == "function" and name in called]
    wraps = "".join(f"{name} = {guarded_call(name)}\n" for name in tested)
    setup = task.meta.get("test_setup_code") or ""
    tests = f"{setup}\n{wraps}" + "\n".join(task.meta["tests"])
    return harness(without_main_block(program), tests, allowed=set(defs))


test_program.__test__ = False  # a benchmark helper, not a pytest test
