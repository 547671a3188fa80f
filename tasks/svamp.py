"""SVAMP (Patel et al., 2021): one-unknown word problems with distracting variations.

The question is the Body followed by the Question; a Body without a final full stop
(about a third of them) gets one, so the two read as sentences.
"""
from __future__ import annotations

from tasks.base import Task, format_number
from tasks.check import numbers_in
from tasks.sources import load_rows

FILE = "svamp/svamp.jsonl"
HUB = "ChilleD/SVAMP"
REQUIRED = ("ID", "Body", "Question", "Answer")


def load(source=None, *, limit: int | None = None) -> list[Task]:
    rows = load_rows(source, default=FILE, required=REQUIRED, hub=(HUB, None, "test"))
    return [_task(row) for row in rows[:limit]]


def _task(row: dict) -> Task:
    body = row["Body"].strip()
    if body and body[-1] not in ".?!":
        body += "."
    prompt = f"{body} {row['Question'].strip()}"
    return Task(f"svamp/{row['ID']}", prompt, format_number(row["Answer"]), "svamp",
                {"numbers": numbers_in(prompt), "equation": row.get("Equation", ""),
                 "type": row.get("Type", "")})
