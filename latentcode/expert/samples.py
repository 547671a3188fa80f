"""What the code expert produces: a generation, and a graded sample (a run folder's row)."""
from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass
class Generation:
    text: str
    num_tokens: int
    finished: bool  # ended by end-of-sequence or a closed code block, not the token limit
    prompt_tokens: int = 0  # the prompt it continued (a cost: prefill)


@dataclasses.dataclass
class Sample:
    """One completion for one question, with its execution and grade."""
    task_id: str
    family: str
    index: int
    question: str
    completion: str
    program: str | None
    status: str  # sandbox status, or "no_code" / "truncated" (never run), or "direct"
    stdout: str = ""
    value: str | None = None
    error: str | None = None
    answer: str | None = None
    target: str = ""
    correct: bool = False
    gen_tokens: int = 0
    prompt_tokens: int = 0
    gen_s: float = 0.0
    exec_s: float = 0.0
    lengths: dict = dataclasses.field(default_factory=dict)
    hardcoded: bool = False
    step: int | None = None  # training step that generated it (training runs only)
    run_s: float = 0.0  # this program's own wall time in the sandbox
    checked: str | None = None  # the hard-coding check: "computed", "hardcoded", "unknown" (None: not run)
    reasks: int = 0  # re-asked questions the check ran (generated tasks)
    reasks_wanted: int = 0  # ... and how many it wanted: fewer is a shortfall
    # the sandbox's Result of the run, kept for the hard-coding check; not a column of the row
    result: object = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """The samples.jsonl row (everything but the sandbox Result it came from)."""
        row = dataclasses.asdict(dataclasses.replace(self, result=None))
        del row["result"]
        return row


_ANSWER_LINE = re.compile(r"answer\s*(?:is|:)\s*(.+)", re.I)


def direct_answer(text: str) -> str | None:
    """The answer in a text reply: the last 'Answer: X' line, else the last non-empty line."""
    matches = _ANSWER_LINE.findall(text)
    if matches:
        return matches[-1].strip().rstrip(".")
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else None
