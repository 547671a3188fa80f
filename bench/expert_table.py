"""Table of benchmark runs: one row per run folder, from its summary.json and config.

    python bench/expert_table.py runs/*gsm8k* runs/*liststats* [--out bench/results/expert.json]

Each row carries the exact command that produced it (the run's config), so a figure in
docs/benchmarks.md can always be traced back and re-run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from latentcode.runs import flat_settings


def command_of(bench: dict) -> str:
    parts = ["latentcode bench", f"--model {bench['model']}", f"--suite {bench['suite']}",
             f"--n {bench['n']}", f"--samples {bench['samples']}", f"--mode {bench['mode']}"]
    if bench.get("few_shot"):
        parts.append(f"--few-shot {bench['few_shot']}")
    if bench.get("temperature") is not None:
        parts.append(f"--temperature {bench['temperature']}")
    if bench.get("max_new_tokens") != 320:
        parts.append(f"--max-new-tokens {bench['max_new_tokens']}")
    if bench.get("batch_size", 16) != 16:
        parts.append(f"--batch-size {bench['batch_size']}")
    return " ".join(parts)


def row(run: Path) -> dict | None:
    if not (run / "summary.json").exists():
        return None
    s = json.loads((run / "summary.json").read_text())
    bench = flat_settings(json.loads((run / "config.json").read_text()))
    k = s.get("k", 1)
    return {"run": run.name, "suite": bench["suite"], "mode": bench["mode"],
            "few_shot": bench["few_shot"], "questions": s["questions"], "k": k,
            "accuracy": s["accuracy"], "maj@k": s.get(f"maj@{k}"), "pass@k": s.get(f"pass@{k}"),
            "status": s["status"], "tokens_per_s": s.get("tokens_per_s"),
            "mean_program_tokens": s.get("mean_program_tokens"),
            "hardcoded_rate": s.get("hardcoded_rate"), "command": command_of(bench)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    rows = [r for r in (row(Path(x)) for x in args.runs) if r]
    print("| run | suite | mode | shots | n | k | accuracy | maj@k | pass@k | statuses | tokens/s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        st = ", ".join(f"{k} {v}" for k, v in r["status"].items())
        maj = f"{r['maj@k']:.1%}" if r["k"] > 1 else "-"
        pas = f"{r['pass@k']:.1%}" if r["k"] > 1 else "-"
        tps = f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] else "-"
        name = r["run"].split("-", 2)[-1]  # drop the timestamp
        print(f"| {name} | {r['suite']} | {r['mode']} | {r['few_shot']} | {r['questions']} | {r['k']} | "
              f"{r['accuracy']:.1%} | {maj} | {pas} | {st} | {tps} |")
    print()
    for r in rows:
        print(f"- {r['run'].split('-', 2)[-1]}: `{r['command']}`")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
