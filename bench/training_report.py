"""Held-out accuracy of training runs (EM, GRPO, ES) with 95% intervals, against completions
generated and against training time; the length of the programs they write; their hard-coded
rate. The figures of docs/results.md.

    python bench/training_report.py runs/em/*-d2-* --out docs/img/em_liststats \\
        --json bench/results/em_liststats.json

Reads each run folder's config.json, metrics.jsonl, evals.jsonl and the held-out answers
(eval_samples.jsonl) when present. Prints one markdown table of
evaluations (accuracy with its Wilson interval) and one of program lengths and hard-coding at
the first and last evaluation; draws ``OUT.png`` and ``OUT.svg`` (matplotlib): accuracy with
its interval against completions and against hours of training (evaluation time left out),
evaluation points marked, the legend outside the axes.

Training time: EM and ES log each iteration's seconds, GRPO a running total from the
trainer's start, from which the report takes the generation time of the held-out evaluations
done by then (their grading, a second or two each, stays in). A run warm-started from
another (GRPO's ``--init-from RUN/checkpoints/iter-N``) starts its axes at what its source
had spent by iteration N, so EM -> GRPO is drawn at its whole budget.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from latentcode.checkpoints import split_checkpoint
from latentcode.metrics import wilson
from latentcode.runs import flat_settings, read_jsonl, run_kind


def load(path: Path) -> dict:
    config = json.loads((path / "config.json").read_text())
    kind = run_kind(config)
    settings = flat_settings(config)
    metrics = read_jsonl(path / "metrics.jsonl")
    raw_evals = read_jsonl(path / "evals.jsonl")
    source = _warm_start(settings.get("init_from"))
    completions, hours = _budget(kind, metrics, raw_evals,
                                 (source["completions"], source["hours"]) if source else (0, 0.0))
    held = _held_out_answers(path)
    evals = []
    for e in raw_evals:
        n = e["questions"]
        k = round(e["accuracy"] * n)
        lo, hi = wilson(k, n) if n else (0.0, 0.0)
        answers = held.get(e["step"], [])
        right = [a for a in answers if a.get("correct") and a.get("program")]
        computed = (sum(1 for a in answers if a.get("correct") and not a.get("hardcoded")) / len(answers)
                    if len(answers) == n and n else e.get("accuracy_computed"))
        evals.append({"step": e["step"], "completions": completions.get(e["step"]), "hours": hours.get(e["step"]),
                      "accuracy": e["accuracy"], "right": k, "questions": n, "ci95": [lo, hi],
                      "accuracy_computed": computed,
                      "ran_ok": e.get("ran_ok"), "hardcoded_rate": e.get("hardcoded_rate"),
                      "right_ast_nodes": _mean(a["lengths"].get("ast_nodes") for a in right),
                      "right_bits": _mean(a["lengths"].get("zlib_bits") for a in right),
                      "hardcoded_right": sum(bool(a.get("hardcoded")) for a in right),
                      "right_programs": len(right)})
    kept = [s for s in read_jsonl(path / "samples.jsonl") if s.get("weight", 0) > 0] if kind == "em" else []
    last = max((s["step"] for s in kept), default=None)
    return {"run": path.name, "kind": kind, "label": _label(path.name, kind),
            "seed": settings.get("seed"), "mdl_lambda": settings.get("mdl_lambda"),
            "warm_start": source,
            "evals": evals, "metrics": metrics,
            "kept_last_iteration": {
                "step": last,
                "programs": sum(s["step"] == last for s in kept),
                "ast_nodes": _mean(s["lengths"].get("ast_nodes") for s in kept if s["step"] == last),
                "bits": _mean(s["bits"] for s in kept if s["step"] == last)} if kept else None}


def _budget(kind: str, metrics: list[dict], evals: list[dict], start=(0, 0.0)):
    """({step: completions}, {step: hours of training}) from a run's metrics, counted from
    ``start`` (completions, hours spent before it: a warm start's source)."""
    completions, hours = {0: start[0]}, {0: start[1]}
    total = 0.0
    for m in metrics:
        completions[m["step"]] = start[0] + m["completions"]
        if kind == "grpo":  # a running total, held-out evaluations done by this step included
            total = m["wall_s"] - sum(e.get("gen_s") or 0.0 for e in evals if e["step"] <= m["step"])
        else:
            total += m["wall_s"]
        hours[m["step"]] = start[1] + total / 3600
    return completions, hours


def _warm_start(init_from: str | None) -> dict | None:
    """What the run a warm start came from had spent by the checkpoint it took
    (``RUN/checkpoints/iter-N``, or ``RUN``: its last step): run, step, completions, hours."""
    if not init_from:
        return None
    path, checkpoint = split_checkpoint(init_from)
    step = None if checkpoint is None else int(checkpoint.name.rsplit("-", 1)[1])
    if not (path / "config.json").is_file() or not (path / "metrics.jsonl").is_file():
        raise SystemExit(f"{init_from}: the run this one started from is not here (no config.json and "
                         "metrics.jsonl): run the report where that path resolves")
    kind = run_kind(json.loads((path / "config.json").read_text()))
    completions, hours = _budget(kind, read_jsonl(path / "metrics.jsonl"), read_jsonl(path / "evals.jsonl"))
    done = max(t for t in completions if step is None or t <= step)
    return {"run": path.name, "step": done, "completions": completions[done], "hours": hours[done]}


def by_template(path: Path) -> str:
    """Per question template (``meta["template"]`` of generated tasks, else the family): right
    held-out answers at each evaluation, and the training completions that were right (EM:
    and kept by the E-step)."""
    from tasks.config import SplitConfig, TaskConfig, load_split
    config = json.loads((path / "config.json").read_text())
    train, held = load_split(TaskConfig(**config["task"]), SplitConfig(**config["split"]))
    template = {t.id: t.meta.get("template", t.family) for t in train + held}
    answers = _held_out_answers(path)
    steps = sorted(s for s in answers if s is not None)
    names = sorted({template[t.id] for t in held})
    em = run_kind(config) == "em"
    out = ["| template | " + " | ".join(f"held-out right, step {s}" for s in steps)
           + (" | E-step programs: right / kept / sampled |" if em else " | training completions: right / sampled |"),
           "|---|" + "---:|" * (len(steps) + 1)]
    samples = read_jsonl(path / "samples.jsonl")
    for name in names:
        cells = []
        for s in steps:
            rows = [a for a in answers[s] if template.get(a["task_id"]) == name]
            cells.append(f"{sum(bool(a['correct']) for a in rows)}/{len(rows)}")
        mine = [r for r in samples if template.get(r["task_id"]) == name]
        kept = f"{sum(r.get('weight', 0) > 0 for r in mine)} / " if em else ""
        cells.append(f"{sum(bool(r['correct']) for r in mine)} / {kept}{len(mine)}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _held_out_answers(path: Path) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for row in read_jsonl(path / "eval_samples.jsonl"):
        out.setdefault(row.get("step"), []).append(row)
    return out


def _label(name: str, kind: str) -> str:
    parts = name.split("-", 2)  # <date>-<time>-<name>
    return parts[2] if len(parts) == 3 else name


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def _num(x) -> str:
    return "-" if x is None else f"{x:.0f}"


def tables(runs: list[dict]) -> str:
    out = ["| run | kind | step | completions | hours | held-out accuracy (95% Wilson) | right and not hard-coded | ran ok | hard-coded (held-out programs) |",
           "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in runs:
        for e in r["evals"]:
            lo, hi = e["ci95"]
            hours = "-" if e["hours"] is None else f"{e['hours']:.2f}"
            out.append(f"| {r['label']} | {r['kind']} | {e['step']} | {e['completions'] if e['completions'] is not None else '-'} | "
                       f"{hours} | {e['accuracy']:.1%} ({lo:.1%}-{hi:.1%}), {e['right']}/{e['questions']} | "
                       f"{_pct(e['accuracy_computed'])} | {_pct(e['ran_ok'])} | {_pct(e['hardcoded_rate'])} |")
    out += ["", "| run | right held-out programs, first -> last eval | their AST nodes | their bits (zlib, stripped) | "
                "right but hard-coded | kept in the last E-step: programs, AST nodes, bits |",
            "|---|---|---|---|---|---|"]
    for r in runs:
        if not r["evals"]:
            continue
        a, b = r["evals"][0], r["evals"][-1]
        k = r["kept_last_iteration"]
        kept = f"{k['programs']}, {_num(k['ast_nodes'])}, {_num(k['bits'])}" if k else "-"
        out.append(f"| {r['label']} | {a['right_programs']} -> {b['right_programs']} | "
                   f"{_num(a['right_ast_nodes'])} -> {_num(b['right_ast_nodes'])} | "
                   f"{_num(a['right_bits'])} -> {_num(b['right_bits'])} | "
                   f"{a['hardcoded_right']} -> {b['hardcoded_right']} | {kept} |")
    return "\n".join(out)


def plot(runs: list[dict], out: Path, title: str, budget: int | None = None) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for r in runs:
        pts = [e for e in r["evals"] if e["completions"] is not None]
        if not pts:
            continue
        ys = [e["accuracy"] for e in pts]
        err = [[e["accuracy"] - e["ci95"][0] for e in pts], [e["ci95"][1] - e["accuracy"] for e in pts]]
        for ax, key in zip(axes, ("completions", "hours")):
            xs = [e[key] for e in pts]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=f"{r['label']} ({r['kind']})")
    if budget:
        axes[0].axvline(budget, color="grey", linestyle="--", linewidth=1)
        axes[0].annotate(f"budget {budget}", (budget, 0), xytext=(3, 3), textcoords="offset points",
                         color="grey", fontsize=8)
    axes[0].set_xlabel("completions generated")
    axes[1].set_xlabel("hours of training (2-core CPU; evaluations not counted)")
    axes[0].set_ylabel("held-out accuracy, greedy (95% Wilson)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    fig.suptitle(title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, max(1, len(labels))), frameon=False)
    fig.tight_layout(rect=(0, 0.08 + 0.05 * ((len(labels) - 1) // 3), 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in ("png", "svg"):
        target = out.with_suffix(f".{ext}")
        fig.savefig(target, dpi=110)
        written.append(target)
    plt.close(fig)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="training run folders")
    ap.add_argument("--out", type=Path, help="figure path without extension (writes .png and .svg)")
    ap.add_argument("--title", default="Held-out accuracy during training")
    ap.add_argument("--budget", type=int, help="mark this many completions (the runs' common budget)")
    ap.add_argument("--json", type=Path, help="write every figure behind the tables here")
    ap.add_argument("--by-template", action="store_true",
                    help="also a table per question template for each run (generated suites)")
    args = ap.parse_args(argv)
    runs = [load(p) for p in args.runs]
    print(tables(runs))
    if args.by_template:
        for path in args.runs:
            print(f"\n{path.name}\n\n{by_template(path)}")
    if args.out:
        for p in plot(runs, args.out, args.title, args.budget):
            print(f"wrote {p}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "metrics"} for r in runs], indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
