"""HumanEval (Chen et al., 2021): complete a Python function; graded by its unit tests.

The model sees the function's signature and docstring. ``test_program`` accepts either a
complete function (what ``latentcode.expert.code_expert`` asks for) or, as in the original harness, a
body that continues the prompt. The prompt's imports and helper functions (``poly``,
``encode_cyclic``) are put back after the program, so a program cannot pass by redefining
a helper the tests call. Graded by the hidden ``check`` (``meta["tests"]``), under the
caller's default time limit unless ``tasks/code_time_limits.json`` gives the task its own
(``meta["timeout_s"]``). See ``tasks/codetest.py`` for what else the harness refuses.
"""
from __future__ import annotations

import ast

from tasks.base import Task
from tasks.codetest import guarded_call, harness, time_limit, top_level_defs, without_main_block
from tasks.sources import load_rows

FILE = "humaneval/HumanEval.jsonl"
HUB = "openai/openai_humaneval"
REQUIRED = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def load(source=None, *, limit: int | None = None) -> list[Task]:
    rows = load_rows(source, default=FILE, required=REQUIRED, hub=(HUB, None, "test"))
    return [_task(row) for row in rows[:limit]]


def _task(row: dict) -> Task:
    prompt = ("Complete the following Python function.\n\n"
              f"```python\n{row['prompt'].rstrip()}\n```")
    meta = {"code_prompt": row["prompt"], "tests": row["test"], "entry_point": row["entry_point"],
            "canonical_solution": row["canonical_solution"]}
    if time_limit(row["task_id"]) is not None:
        meta["timeout_s"] = time_limit(row["task_id"])
    return Task(row["task_id"], prompt, "", "humaneval", meta)


def test_program(task: Task, program: str) -> str:
    """The program to run in the sandbox: passing means status 'ok'."""
    code_prompt, entry = task.meta["code_prompt"], task.meta["entry_point"]
    program = without_main_block(program)
    support = _support(code_prompt, entry)
    if entry in _defined(program):
        candidate = f"{support}\n\n{program}"
    else:  # a body continuing the prompt, as in the original HumanEval harness
        candidate = code_prompt + program
    tests = f"{support}\n\n{task.meta['tests']}\n\ncheck({guarded_call(entry)})\n"
    return harness(candidate, tests, allowed={entry} | set(top_level_defs(code_prompt)))


test_program.__test__ = False  # a benchmark helper, not a pytest test


def _support(code_prompt: str, entry: str) -> str:
    """The prompt without the entry point's stub: its imports and helper functions."""
    tree = ast.parse(code_prompt)
    lines = code_prompt.splitlines()
    keep = [n for n in tree.body if getattr(n, "name", None) != entry]
    first = [min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])]) for n in keep]
    return "\n\n".join("\n".join(lines[a - 1:n.end_lineno]) for a, n in zip(first, keep))


def _defined(program: str) -> set[str]:
    try:
        return set(top_level_defs(program))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
