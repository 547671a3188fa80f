"""A task: one question with its reference answer, the same shape for every benchmark.

``answer`` is always a string, compared by ``tasks.check.is_correct``; code benchmarks
(HumanEval, MBPP) have ``answer == ""`` and keep their tests in ``meta``. ``meta`` holds
what grading and analysis need (``numbers``, ``tests``, ``entry_point``,
``reference_program``, ``template``) and stays JSON-serialisable.
"""
from __future__ import annotations

import dataclasses
from decimal import Context, Decimal
from fractions import Fraction

REQUIRED = ("id", "prompt", "answer", "family")
# How a family is graded; every other family is "answer" (its final answer against `answer`).
KINDS = {"humaneval": "code", "mbpp": "code", "countdown": "expression"}


@dataclasses.dataclass(frozen=True)
class Task:
    id: str  # unique across suites: "gsm8k/test/0", "HumanEval/0", "liststats/0-1-7"
    prompt: str  # the question exactly as the model sees it
    answer: str  # reference answer; "" for code benchmarks (graded by their tests)
    family: str  # benchmark or generator family: "gsm8k", "mbpp", "liststats", ...
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def kind(self) -> str:
        """How an answer is graded: "code" (the benchmark's hidden tests run against the
        program), "expression" (Countdown: an arithmetic expression over the given numbers)
        or "answer" (the final answer compared with ``answer``)."""
        return KINDS.get(self.family, "answer")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Task":
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise ValueError(f"task dict is missing {', '.join(missing)}; "
                             f"a task needs {', '.join(REQUIRED)} and optionally meta")
        if not isinstance(d["answer"], str):
            raise ValueError(f"task {d['id']!r}: answer must be a string, not "
                             f"{type(d['answer']).__name__}; write it as str(answer)")
        return cls(d["id"], d["prompt"], d["answer"], d["family"], dict(d.get("meta") or {}))


def format_number(x) -> str:
    """The canonical answer string: "61", "61.2", "10/3" (a fraction when no decimal ends).

    Accepts an int, a float (read as written: 0.1 is 1/10), a Fraction or a numeric string.
    """
    f = x if isinstance(x, Fraction) else Fraction(str(x).replace(",", "").strip())
    if f.denominator == 1:
        return str(f.numerator)
    d = f.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return f"{f.numerator}/{f.denominator}"
    exact = Context(prec=len(str(f.numerator)) + len(str(f.denominator)) + 2)
    return format(exact.divide(Decimal(f.numerator), Decimal(f.denominator)), "f")
