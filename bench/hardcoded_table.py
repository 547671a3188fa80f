"""The hard-coded table of docs/results.md, from the committed curves JSON alone.

    python bench/hardcoded_table.py [bench/results/train_curves.json]

Held-out: the first and last evaluation's hard-coded rate times its number of questions.
Training: programs flagged in the first and the last 5 logged steps (``hardcoded``, as
``bench/train_curves.py`` wrote it; newer JSON also has ``hardcoded_by_step``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0] if argv else "bench/results/train_curves.json")
    runs = json.loads(path.read_text())
    print("| run | held-out (greedy), start -> end | training programs, first 5 steps -> last 5 |")
    print("|---|---|---|")
    for r in runs:
        a, b = r["evals"][0], r["evals"][-1]
        start = round(a["hardcoded_rate"] * a["questions"])
        end = round(b["hardcoded_rate"] * b["questions"])
        early, late = r["hardcoded"]
        print(f"| {r['run']} | {start} of {a['questions']} -> {end} of {b['questions']} | "
              f"{early.replace('/', ' of ')} -> {late.replace('/', ' of ')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
