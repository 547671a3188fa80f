"""MAWPS (Koncel-Kedziorski et al., 2016): arithmetic word problems, MWPToolkit's version.

The text is tokenised ("books as well . If Bryan"); spaces before punctuation are removed
so it reads as written. Answers are as the data gives them, some rounded (0.6667): the
default relative tolerance of ``is_correct`` accepts the exact value.
"""
from __future__ import annotations

import re

from tasks.base import Task, format_number
from tasks.check import numbers_in
from tasks.sources import load_rows

FILE = "mawps/mawps.jsonl"
HUB = "MU-NLPC/Calc-mawps"  # different fields: pass a JSONL with id, original_text, ans
REQUIRED = ("id", "original_text", "ans")
_SPACE_BEFORE_PUNCT = re.compile(r" ([.,?!;:])(?=\s|$)")


def load(source=None, *, limit: int | None = None) -> list[Task]:
    rows = load_rows(source, default=FILE, required=REQUIRED, hub=(HUB, None, "test"))
    return [_task(row) for row in rows[:limit]]


def _task(row: dict) -> Task:
    prompt = _SPACE_BEFORE_PUNCT.sub(r"\1", row["original_text"].strip())
    return Task(f"mawps/{row['id']}", prompt, format_number(row["ans"]), "mawps",
                {"numbers": numbers_in(prompt), "equation": row.get("equation", "")})
