"""The one thing that leaves the sandbox: plain strings and numbers, never objects."""
from __future__ import annotations

import dataclasses
import json

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

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        fields = {f.name for f in dataclasses.fields(cls)}
        r = cls(**{k: v for k, v in d.items() if k in fields})
        if r.status not in STATUSES:
            raise ValueError(f"unknown status {r.status!r}")
        return r
