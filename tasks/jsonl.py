"""Reading JSONL benchmark files, with errors that point at the file and line."""
from __future__ import annotations

import json
from pathlib import Path


class DatasetError(ValueError):
    """A benchmark file or row is not what its loader expects."""


def read_jsonl(path, required: tuple[str, ...] = ()) -> list[dict]:
    """One dict per non-blank line; ``required`` names fields every row must have.

    Raises DatasetError "<path>:<line>: <what is wrong>" (1-based line numbers) for
    invalid JSON, a line that is not an object, or a missing required field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; pass the path of a JSONL file "
                                "(one JSON object a line)")
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                rows.append(_parse_line(line, f"{path}:{lineno}", required))
    return rows


def _parse_line(line: str, where: str, required: tuple[str, ...]) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [k for k in required if k not in row]
    if missing:
        raise DatasetError(f"{where}: missing field(s) {', '.join(missing)}; "
                           f"this loader needs {', '.join(required)}")
    return row
