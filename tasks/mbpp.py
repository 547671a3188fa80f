"""MBPP (Austin et al., 2021): short Python functions, graded by hidden asserts.

Splits by task_id as in the paper: prompt 1-10, test 11-510, validation 511-600,
train 601-974 (``split="all"`` for every record).

Shown: the description and ONE assert (the first of ``test_list``), which gives the
function's name and call shape ("Your code should pass this test:"); it is kept in
``meta["shown_tests"]``. Graded: ``meta["tests"]``, every assert of ``test_list`` plus the
row's ``challenge_test_list`` when it has a non-empty one, so a program that merely
looks up the shown assert's answer fails the others. (The paper showed all three asserts,
which a lookup table of them passes on 499 of the 500 test tasks.)

Time limit: the caller's default (2 s), unless ``tasks/code_time_limits.json`` gives the
task its own (``meta["timeout_s"]``, at least 4 x what its reference needs; see
``tasks/codetest.py``). Reads the sanitized release too (``prompt`` for ``text``,
``test_imports`` run before the tests). See ``tasks/codetest.py`` for what the test
harness refuses and which imports it adds.
"""
from __future__ import annotations

import ast

from tasks.base import Task
from tasks.codetest import (guarded_call, harness, parse, time_limit, top_level_defs,
                            without_main_block)
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
    tests = _graded_tests(row, where)
    prompt = f"{text.strip()} Your code should pass this test:\n\n{tests[0]}"
    setup = "\n".join(row.get("test_imports") or []) + "\n" + (row.get("test_setup_code") or "")
    task_id = f"mbpp/{row['task_id']}"
    meta = {"tests": tests, "shown_tests": tests[:1], "test_setup_code": setup.strip(),
            "entry_point": _entry_point(row["code"], tests), "reference_code": row["code"]}
    if time_limit(task_id) is not None:
        meta["timeout_s"] = time_limit(task_id)
    return Task(task_id, prompt, "", "mbpp", meta)


def _graded_tests(row: dict, where) -> list[str]:
    """``test_list`` (its first assert is the one shown) + ``challenge_test_list``."""
    tests = list(row["test_list"]) + list(row.get("challenge_test_list") or [])
    if not row["test_list"] or not all(isinstance(t, str) and t.strip() for t in tests):
        raise DatasetError(f"{where}: task_id {row['task_id']}: 'test_list' must be a non-empty "
                           "list of asserts (and 'challenge_test_list' a list of asserts)")
    return tests


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
