"""Labels: what each path achieves on the same questions, computed once and reused.

``latentcode bench --mode both`` answers every question with both paths and logs the two
samples (``path``: ``code`` or ``direct``) in one run folder. ``read_labels`` reads such folders
back as one ``Outcome`` per question. A run folder is data from the past: every row is checked
against the fields used here, and a bad one is reported with its file and line.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from latentcode.router.costs import CostConfig
from latentcode.runs import Run

PATHS = ("code", "direct")


@dataclasses.dataclass
class PathResult:
    correct: bool
    status: str
    answer: str | None
    gen_tokens: int
    prompt_tokens: int
    exec_s: float
    gen_s: float

    def cost(self, costs: CostConfig) -> float:
        return costs.cost(self.gen_tokens, self.prompt_tokens, self.exec_s)


@dataclasses.dataclass
class Outcome:
    """One question answered by both paths (their first samples)."""
    task_id: str
    family: str
    suite: str
    question: str
    target: str
    few_shot: int
    code: PathResult
    direct: PathResult


def _number(row: dict, key: str, where: str, integer: bool = False) -> float:
    value = row.get(key, 0)
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {key} is {value!r}, not a number >= 0")
    return value


def _result(row: dict, where: str) -> PathResult:
    if not isinstance(row.get("correct"), bool):
        raise ValueError(f"{where}: correct is {row.get('correct')!r}, not true/false")
    for key in ("status", "task_id", "family", "question", "target"):
        if not isinstance(row.get(key), str):
            raise ValueError(f"{where}: {key} is {row.get(key)!r}, not a string")
    answer = row.get("answer")
    return PathResult(row["correct"], row["status"], answer if isinstance(answer, str) else None,
                      int(_number(row, "gen_tokens", where, integer=True)),
                      int(_number(row, "prompt_tokens", where, integer=True)),
                      float(_number(row, "exec_s", where)), float(_number(row, "gen_s", where)))


def read_labels(paths: list[str | Path]) -> list[Outcome]:
    """The questions of ``latentcode bench --mode both`` run folders, in their order. A question
    is counted once however many runs hold it; one with only one path answered (a run stopped
    half-way) is an error naming the run to resume."""
    out, seen = [], set()
    for path in paths:
        run = Run.open(path)
        config = run.config
        bench = config.get("bench")
        if config.get("kind") != "bench" or not isinstance(bench, dict) or bench.get("mode") != "both":
            raise ValueError(f"{run.path} is not a `latentcode bench --mode both` run folder; "
                             "make labels with: latentcode bench --mode both --suite ... --n ...")
        suite = str((config.get("task") or {}).get("suite", "?"))
        few_shot = (config.get("prompt") or {}).get("few_shot", 0)
        firsts: dict[str, dict[str, PathResult]] = {}
        rows: dict[str, dict] = {}
        file = run.path / "samples.jsonl"
        lines = file.read_text().splitlines() if file.exists() else []
        for n, line in enumerate(lines, 1):
            where = f"{file}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines):
                    continue  # the last line, cut by a kill mid-write
                raise ValueError(f"{where}: not a JSON line") from None
            if not isinstance(row, dict) or row.get("path") not in PATHS:
                raise ValueError(f"{where}: path is {row.get('path') if isinstance(row, dict) else row!r}, "
                                 f"not one of {', '.join(PATHS)}")
            if row.get("index", 0) != 0:
                continue  # a router reads the first sample of each path
            result = _result(row, where)
            firsts.setdefault(row["task_id"], {})[row["path"]] = result
            rows.setdefault(row["task_id"], row)
        for task_id, both in firsts.items():
            if set(both) != set(PATHS):
                raise ValueError(f"{run.path}: question {task_id} has only its {', '.join(both)} answer; "
                                 f"finish the run: latentcode bench --resume {run.path}")
            if task_id in seen:
                continue
            seen.add(task_id)
            row = rows[task_id]
            out.append(Outcome(task_id, row["family"], suite, row["question"], row["target"],
                               int(few_shot) if isinstance(few_shot, int) else 0,
                               both["code"], both["direct"]))
    if not out:
        raise ValueError(f"no labelled questions in {', '.join(map(str, paths))}")
    return out
