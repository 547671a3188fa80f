"""A run folder: runs/<timestamp>-<name>/ with config.json, samples.jsonl, summary.json.

samples.jsonl is append-only and flushed at every append (bench: as each question is
graded), so a run killed half-way keeps every completed sample and ``--resume`` finishes the questions it lacks.
The same format serves benchmark and training runs, so ``latentcode inspect`` reads both.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import json
import os
import re
import sys
from pathlib import Path

from latentcode.commands import COMMANDS


def run_kind(config: dict) -> str:
    """The kind config.json records; a folder from before it did: the command whose section it
    holds (``latentcode.commands``), else ES's (the one trainer whose settings were flat)."""
    if isinstance(config.get("kind"), str):
        return config["kind"]
    return next((kind for kind in COMMANDS if kind in config), "es")


def flat_settings(config: dict) -> dict:
    """{field: value} over a config.json's sections (``{"model": {...}, "task": {...}}``); a
    folder written before configs had sections keeps its flat fields (ES) or one section."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(value)
        elif key not in ("kind", "argv"):
            out.setdefault(key, value)
    if "model_name_or_path" in out:
        out.setdefault("model", out["model_name_or_path"])
    if "num_samples" in out:
        out.setdefault("samples", out["num_samples"])
    return out


@dataclasses.dataclass
class Session:
    """What one command does to run folders: the command line, as typed, that config.json
    records, and the folders it wrote ({path: created by it}), so the command line can say
    what an interrupted command saved and remove a folder a failed start left holding nothing."""
    argv: list[str] | None = None
    written: dict[Path, bool] = dataclasses.field(default_factory=dict)


# the session of the command running in this context (``latentcode.cli.main`` opens one);
# a library call outside any records sys.argv and nothing else
_SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar("latentcode_session", default=None)


@contextlib.contextmanager
def session(argv: list[str] | None = None):
    """A command's session: run folders written inside it are listed in ``written``."""
    current = Session(argv)
    token = _SESSION.set(current)
    try:
        yield current
    finally:
        _SESSION.reset(token)


def _wrote(path: Path, created: bool = False) -> None:
    current = _SESSION.get()
    if current is not None:
        if created:
            current.written[path] = True
        else:
            current.written.setdefault(path, False)


def command_line() -> list[str]:
    current = _SESSION.get()
    return list(current.argv) if current is not None and current.argv is not None else list(sys.argv)


class Run:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, config: dict) -> "Run":
        """A new folder ``<runs_dir>/<stamp>-<name>`` (``-2``, ``-3``, ... when another
        process made that name in the same second: mkdir is the atomic claim); its
        config.json is ``config`` with the command line (``argv``)."""
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            path = Path(runs_dir) / (f"{stamp}-{safe}" if n == 1 else f"{stamp}-{safe}-{n}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
        _wrote(path, created=True)
        run = cls(path)
        run.write_json("config.json", {**config, "argv": config.get("argv", command_line())})
        return run

    def holds_nothing(self) -> bool:
        """Only config.json (and empty folders): a start that failed before any result."""
        return all(p.name == "config.json" or (p.is_dir() and not any(p.rglob("*")))
                   for p in self.path.iterdir())

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} is not a run folder (no config.json); "
                                    "pass a folder under runs/ that a bench or train command wrote")
        return cls(path)

    @property
    def config(self) -> dict:
        """config.json as a dict; anything else (cut, edited, not an object) is a one-line
        ValueError naming the file."""
        try:
            config = json.loads((self.path / "config.json").read_text())
        except ValueError as e:
            raise ValueError(f"{self.path}/config.json is not JSON ({e})") from None
        if not isinstance(config, dict):
            raise ValueError(f"{self.path}/config.json is not a JSON object")
        return config

    @property
    def kind(self) -> str:
        """bench, grpo or es (folders written before config.json recorded it: from their sections)."""
        return run_kind(self.config)

    @property
    def settings(self) -> dict:
        """Every recorded setting by field name, whatever section holds it."""
        return flat_settings(self.config)

    def write_json(self, name: str, obj) -> None:
        _wrote(self.path)
        tmp = self.path / (name + ".tmp")
        tmp.write_text(json.dumps(obj, indent=2, default=str))
        os.replace(tmp, self.path / name)

    def append_samples(self, samples: list[dict]) -> None:
        self.append_jsonl("samples.jsonl", samples)

    def append_jsonl(self, name: str, rows: dict | list[dict]) -> None:
        """Append rows to a JSON-lines log, flushed to disk (``append_lines``)."""
        _wrote(self.path)
        append_lines(self.path / name, [rows] if isinstance(rows, dict) else rows)

    def write_jsonl(self, name: str, rows: list[dict]) -> None:
        """Replace a JSON-lines file as a whole (written beside it, then renamed)."""
        _wrote(self.path)
        tmp = self.path / (name + ".tmp")
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
        os.replace(tmp, self.path / name)

    def samples(self, held_out: bool = False) -> list[dict]:
        """samples.jsonl; ``held_out``: a training run's held-out evaluations instead
        (``eval_samples.jsonl`` of EM, GRPO and ES)."""
        if not held_out:
            return read_jsonl(self.path / "samples.jsonl")
        if not (self.path / "eval_samples.jsonl").exists():
            raise FileNotFoundError(f"{self.path} has no held-out samples (eval_samples.jsonl): "
                                    "only training runs (EM, GRPO, ES) log them")
        return read_jsonl(self.path / "eval_samples.jsonl")

    def completed_tasks(self, samples_per_task: int) -> set[str]:
        counts: dict[str, int] = {}
        for s in self.samples():
            counts[s["task_id"]] = counts.get(s["task_id"], 0) + 1
        return {t for t, c in counts.items() if c >= samples_per_task}

    def drop_partial(self, samples_per_task: int) -> None:
        """Rewrite samples.jsonl without tasks that have fewer samples than they should."""
        keep = self.completed_tasks(samples_per_task)
        self.write_jsonl("samples.jsonl", [s for s in self.samples() if s["task_id"] in keep])


def find_runs(root: str | Path, kind: str | None = None) -> list[Run]:
    """The run folders under ``root`` (its children and grandchildren: runs/<run>,
    runs/router/<run>), oldest first by their timestamped names; ``kind``: only bench, grpo,
    es, em or router runs. A folder whose config.json is damaged is left out."""
    root = Path(root)
    found = []
    for config in sorted(root.glob("*/config.json")) + sorted(root.glob("*/*/config.json")):
        run = Run(config.parent)
        try:
            found_kind = run.kind
        except ValueError:
            continue
        if kind is None or found_kind == kind:
            found.append(run)
    return sorted(found, key=lambda r: r.path.name)


def latest_run(root: str | Path, kind: str | None = None) -> Run:
    """The newest run under ``root`` (of ``kind``); a clear FileNotFoundError when there is none."""
    runs = find_runs(root, kind)
    if not runs:
        what = f"{kind} run" if kind else "run folder"
        raise FileNotFoundError(f"no {what} under {root}: make one first (`latentcode bench --suite liststats "
                                f"--n 20`, `latentcode train ...`) or point at a folder of your own")
    return runs[-1]


def append_lines(path: str | Path, rows: list[dict]) -> None:
    """Append rows to a JSON-lines file in one write under an exclusive lock, then fsync: the
    processes of a distributed run (each logging its own completions) never interleave lines."""
    import fcntl
    if not rows:
        return
    data = "".join(json.dumps(r, default=str) + "\n" for r in rows).encode()
    with open(path, "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_jsonl(path: str | Path) -> list[dict]:
    """Every complete line of a JSON-lines log; a line cut by a kill mid-write is dropped
    (and only that). A missing file is an empty log."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
