"""Turning an execution (or a text reply) into an answer and a grade, per task family.

The answer checking itself lives in ``tasks/check.py``; this module decides what runs in
the sandbox (a code benchmark's function plus its tests; anything else as written) and
what text counts as the answer.
"""
from __future__ import annotations

import sandbox
from tasks.check import CODE_FAMILIES


def program_for(task, program: str) -> str:
    """What the sandbox runs: a code benchmark appends its tests to the function."""
    if task.family == "humaneval":
        from tasks.humaneval import test_program
        return test_program(task, program)
    if task.family == "mbpp":
        from tasks.mbpp import test_program
        return test_program(task, program)
    return program


def grade_program(task, result: sandbox.Result) -> tuple[str | None, bool]:
    from tasks.check import final_answer, grade
    answer = "tests passed" if task.family in CODE_FAMILIES and result.ok else \
        (final_answer(result.stdout, result.value) if result.ok else None)
    return answer, bool(grade(task, result))


def grade_direct(task, text: str) -> tuple[str | None, bool]:
    """Grade a text reply the way a program's final printed line is graded."""
    from latentcode.expert import direct_answer
    if task.family in CODE_FAMILIES:
        raise ValueError(f"{task.family} is graded by running code; use mode 'code'")
    answer = direct_answer(text)
    if answer is None:
        return None, False
    from tasks.check import grade
    return answer, bool(grade(task, sandbox.Result("ok", stdout=answer + "\n")))
