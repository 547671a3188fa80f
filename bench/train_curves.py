"""Training curves from run folders: mean training reward against completions generated,
and held-out accuracy against completions, one line per run (ES and GRPO side by side).

    python bench/train_curves.py runs/*-grpo-liststats runs/*-es-liststats \\
        --out docs/img/reward_vs_completions --json bench/results/train_curves.json
    python bench/train_curves.py --from-json bench/results/train_curves.json   # redraw

Completions generated is the common currency: GRPO spends them on groups per question, ES on
population members per task batch. Draws OUT.png and OUT.svg (matplotlib) and prints a table
of first/last held-out evaluations per run.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from latentcode.runs import read_jsonl, run_kind

def load(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    kind = run_kind(config)
    metrics = read_jsonl(run / "metrics.jsonl")
    evals = read_jsonl(run / "evals.jsonl")
    per_step = {m["step"]: m["completions"] for m in metrics}
    for e in evals:  # completions spent when this evaluation ran
        e["completions"] = per_step.get(e["step"], 0 if e["step"] == 0 else None)
    samples = read_jsonl(run / "samples.jsonl")
    return {"run": run.name, "kind": kind, "metrics": metrics, "evals": evals,
            "hardcoded": hardcoded_share(samples),
            # every count behind the hard-coded table, so it can be redrawn from this JSON
            "hardcoded_by_step": hardcoded_by_step(samples)}


def _pct(e: dict, key: str) -> str:
    v = e.get(key)
    return "-" if v is None else f"{v:.1%}"


def _num(e: dict, key: str) -> str:
    v = e.get(key)
    return "-" if v is None else f"{v:.1f}"


def hardcoded_by_step(samples: list[dict]) -> dict[int, list[int]]:
    """step -> [programs flagged hard-coded, programs run] among the training samples."""
    out: dict[int, list[int]] = {}
    for s in samples:
        if s.get("program") and s.get("step") is not None:
            row = out.setdefault(int(s["step"]), [0, 0])
            row[0] += bool(s.get("hardcoded"))
            row[1] += 1
    return dict(sorted(out.items()))


def hardcoded_share(samples: list[dict], steps: int = 5) -> tuple[str, str]:
    """Share of training programs flagged hard-coded in the first and the last ``steps``
    steps, as "k/n"."""
    ran = [s for s in samples if s.get("program") and s.get("step") is not None]
    if not ran:
        return "-", "-"
    first, last = min(s["step"] for s in ran), max(s["step"] for s in ran)
    def share(rows):
        return f"{sum(bool(s.get('hardcoded')) for s in rows)}/{len(rows)}"
    return (share([s for s in ran if s["step"] < first + steps]),
            share([s for s in ran if s["step"] > last - steps]))


def smooth(ys: list[float], k: int) -> list[float]:
    out = []
    for i in range(len(ys)):
        window = ys[max(0, i - k + 1):i + 1]
        out.append(sum(window) / len(window))
    return out


def figure(runs: list[dict], label: dict[str, str], smooth_k: int):
    """Two panels against completions generated: the training reward (moving average), and
    held-out accuracy with each evaluation marked (SVG group ``evaluations-<i>``); the legend
    below both, outside the data."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, smaller
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for i, r in enumerate(runs):
        name = label[r["run"]]
        steps = [m for m in r["metrics"] if m.get("reward_mean") is not None]
        line, = left.plot([m["completions"] for m in steps], smooth([m["reward_mean"] for m in steps], smooth_k),
                          label=name, linewidth=1.6)
        evals = [e for e in r["evals"] if e.get("completions") is not None]
        right.plot([e["completions"] for e in evals], [100 * e["accuracy"] for e in evals], marker="o",
                   markersize=5, color=line.get_color(), linewidth=1.6, gid=f"evaluations-{i}")
    left.set(title=f"training reward (moving average of {smooth_k} steps)", xlabel="completions generated",
             ylabel="mean reward")
    right.set(title="held-out accuracy (greedy; dots: evaluations)", xlabel="completions generated",
              ylabel="accuracy (%)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(3, len(runs)), frameon=False)
    return fig


def plot(runs: list[dict], label: dict[str, str], smooth_k: int, out: Path) -> list[Path]:
    """``figure`` written as OUT.png and OUT.svg."""
    import matplotlib.pyplot as plt
    fig = figure(runs, label, smooth_k)
    paths = [out.with_suffix(".png"), out.with_suffix(".svg")]
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", type=Path, help="run folders (GRPO, ES, EM)")
    ap.add_argument("--from-json", type=Path, help="redraw from a JSON this script wrote instead of run folders")
    ap.add_argument("--out", type=Path, default=Path("docs/img/reward_vs_completions"),
                    help="figure path; written as .png and .svg")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--smooth", type=int, default=5, help="moving average over N logged steps")
    args = ap.parse_args(argv)
    if bool(args.runs) == bool(args.from_json):
        ap.error("give run folders or --from-json FILE (one of them)")
    runs = json.loads(args.from_json.read_text()) if args.from_json else [load(r) for r in args.runs]
    label = {r["run"]: f'{r["kind"]}: {r["run"].split("-", 2)[-1]}' for r in runs}
    written = plot(runs, label, args.smooth, args.out)
    print("| run | completions | held-out accuracy | per family | ran ok | mean AST nodes "
          "(all / correct) | hard-coded, held-out | hard-coded, training samples |")
    print("|---|---:|---|---|---|---|---|---|")
    for r in runs:
        if not r["evals"]:
            continue
        a, b = r["evals"][0], r["evals"][-1]
        spent = r["metrics"][-1]["completions"] if r["metrics"] else 0
        families = " ".join(f"{k} {a['by_family'][k]:.0%}->{b['by_family'].get(k, 0):.0%}"
                            for k in sorted(a.get("by_family", {})))
        early, late = r["hardcoded"]
        print(f"| {label[r['run']]} | {spent} | {_pct(a, 'accuracy')} -> {_pct(b, 'accuracy')} | "
              f"{families} | {_pct(a, 'ran_ok')} -> {_pct(b, 'ran_ok')} | "
              f"{_num(a, 'mean_ast_nodes')} / {_num(a, 'mean_ast_nodes_correct')} -> "
              f"{_num(b, 'mean_ast_nodes')} / {_num(b, 'mean_ast_nodes_correct')} | "
              f"{_pct(a, 'hardcoded_rate')} -> {_pct(b, 'hardcoded_rate')} | {early} -> {late} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
