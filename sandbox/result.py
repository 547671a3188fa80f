"""The one thing that leaves the sandbox: plain strings and numbers, never objects.

A Result is built from data that crossed a process boundary (a server's reply, which
carries what a hostile program printed), so construction validates every field against
its declared type and makes every string safe to print and encode: lone surrogates are
replaced, numbers must be finite. ``from_dict`` refuses anything else with ValueError.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re

STATUSES = ("ok", "error", "timeout", "memory", "output_limit", "blocked", "crashed")


@dataclasses.dataclass(frozen=True)
class Result:
    status: str  # one of STATUSES
    stdout: str = ""  # what the program printed, capped at max_output_bytes
    value: str | None = None  # repr() of a final bare expression, like a notebook cell
    error: str | None = None  # "ZeroDivisionError: division by zero (line 3)"
    error_type: str | None = None
    lineno: int | None = None  # the program's line the error came from
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_mb: float = 0.0

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {STATUSES}")
        for name in ("stdout", "value", "error", "error_type"):
            text = getattr(self, name)
            if text is None and name != "stdout":
                continue
            if type(text) is not str:
                raise ValueError(f"Result.{name} must be a str, got {type(text).__name__}")
            object.__setattr__(self, name, _clean(text))
        if self.lineno is not None and (type(self.lineno) is not int or self.lineno < 0):
            raise ValueError(f"Result.lineno must be a non-negative int, got {self.lineno!r}")
        for name in ("wall_s", "cpu_s", "max_rss_mb"):
            x = getattr(self, name)
            if type(x) not in (int, float) or not math.isfinite(x) or x < 0:
                raise ValueError(f"Result.{name} must be a finite number >= 0, got {x!r}")
            object.__setattr__(self, name, float(x))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        if not isinstance(d, dict):
            raise ValueError(f"a Result must come from a dict, got {type(d).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


def _clean(text: str) -> str:
    """The text with lone surrogates replaced, so printing or encoding it cannot raise."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


# C0 and C1 controls but newline and tab (ESC starts a terminal's control sequences, CR
# overwrites a line), DEL, and the Unicode line separators and bidirectional overrides
# that reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe to print to a terminal or put in a page: every control character a
    program could have written (terminal escape sequences, carriage returns, bidi
    overrides) shown escaped, ``\\x1b`` or ``\\u202e``; newlines and tabs kept."""
    return _CONTROL.sub(_escape, text)


def _escape(m: re.Match) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
