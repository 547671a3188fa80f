"""Where benchmark rows come from: a local JSONL file, or a dataset on the Hugging Face hub.

``source=None`` means the benchmark's default file, looked for in ``$LATENTCODE_DATA`` when it
is set (and only there), else in ``<repo root>/../shared/data``, then in the evaluation splits
shipped inside this package (``tasks/data``: GSM8K test, SVAMP, MAWPS, HumanEval, MBPP,
Countdown; their sources and licenses in its README). A source ending in .jsonl/.json, or
naming an existing file, is a path; anything else is a hub dataset name, loaded with
``datasets`` when it is installed and the hub is reachable.
"""
from __future__ import annotations

import os
from pathlib import Path

from tasks.jsonl import DatasetError, read_jsonl

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGED = Path(__file__).resolve().parent / "data"


def data_dirs() -> list[Path]:
    """Where default files are looked for, in order."""
    env = os.environ.get("LATENTCODE_DATA")
    if env:
        if not Path(env).is_dir():
            raise FileNotFoundError(f"LATENTCODE_DATA={env} is not a directory; point it at "
                                    "the folder holding gsm8k/, svamp/, humaneval/, ...")
        return [Path(env)]
    shared = REPO_ROOT.parent / "shared" / "data"
    return [d for d in (shared, PACKAGED) if d.is_dir()]


def data_dir() -> Path:
    """The first data directory (``$LATENTCODE_DATA``, ../shared/data, or the package's)."""
    dirs = data_dirs()
    if not dirs:
        raise FileNotFoundError("no benchmark data directory; set LATENTCODE_DATA to the folder "
                                "holding gsm8k/, svamp/, ... or pass load() a JSONL path")
    return dirs[0]


def find_file(default: str) -> Path:
    """The benchmark file ``default`` ("gsm8k/test.jsonl") from the first data directory
    that has it."""
    dirs = data_dirs()
    for d in dirs:
        if (d / default).is_file():
            return d / default
    looked = ", ".join(str(d) for d in dirs) or "no data directory"
    raise FileNotFoundError(f"{default} is in none of: {looked}; set LATENTCODE_DATA to a folder "
                            f"holding it, or pass load() its path or a hub dataset name")


def load_rows(source, *, default: str, required: tuple[str, ...],
              hub: tuple[str, str | None, str]) -> list[dict]:
    """Rows of a benchmark. ``default``: path under the data dir; ``hub``: (name, config,
    split) used when ``source`` is that hub name (another name loads its ``split``)."""
    if source is None:
        return read_jsonl(find_file(default), required)
    if _is_path(source):
        return read_jsonl(source, required)
    config = hub[1] if source == hub[0] else None
    return _hub_rows(str(source), config, hub[2], required)


def _is_path(source) -> bool:
    s = str(source)
    return isinstance(source, os.PathLike) or s.endswith((".jsonl", ".json")) or Path(s).exists()


def _hub_rows(name: str, config: str | None, split: str, required: tuple[str, ...]) -> list[dict]:
    fix = f"pass load() the path of a local JSONL file instead (e.g. a copy of {name}'s {split} split)"
    try:
        import datasets
    except ImportError:
        raise DatasetError(f"{name!r} is not a file, and loading it from the hub needs the "
                           f"'datasets' package (pip install datasets); or {fix}") from None
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # offline, unknown name, no such split: all mean "use a file"
        raise DatasetError(f"could not load {name!r} (split {split!r}) from the hub: "
                           f"{type(e).__name__}: {e}; {fix}") from None
    rows = [dict(r) for r in ds]
    for i, row in enumerate(rows):
        missing = [k for k in required if k not in row]
        if missing:
            raise DatasetError(f"{name} (hub, split {split}): row {i}: missing field(s) "
                               f"{', '.join(missing)}; this loader needs {', '.join(required)}")
    return rows
