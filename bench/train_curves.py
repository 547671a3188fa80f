"""Training curves from run folders: mean training reward against completions generated,
and held-out accuracy against completions, one line per run (ES and GRPO side by side).

    python bench/train_curves.py runs/*-grpo-liststats runs/*-es-liststats \\
        --out docs/img/reward_vs_completions.svg --json bench/results/train_curves.json

Completions generated is the common currency: GRPO spends them on groups per question, ES on
population members per task batch. Writes a self-contained SVG (no plotting library needed)
and prints a table of first/last held-out evaluations per run.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from latentcode.runs import read_jsonl, run_kind

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


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


def svg_panel(series: list[tuple[str, list[float], list[float]]], title: str, ylabel: str,
              x0: int, width: int = 420, height: int = 280) -> str:
    xs = [x for _, sx, _ in series for x in sx] or [0, 1]
    ys = [y for _, _, sy in series for y in sy] or [0, 1]
    lo_x, hi_x = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    lo_y, hi_y = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    pad = 0.05 * (hi_y - lo_y)
    lo_y, hi_y = lo_y - pad, hi_y + pad
    left, top, w, h = x0 + 55, 30, width - 75, height - 75

    def px(x):
        return left + (x - lo_x) / (hi_x - lo_x) * w

    def py(y):
        return top + h - (y - lo_y) / (hi_y - lo_y) * h

    parts = [f'<text x="{left + w / 2}" y="18" text-anchor="middle" font-size="13">{title}</text>',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#888"/>']
    for i in range(5):
        yv = lo_y + (hi_y - lo_y) * i / 4
        xv = lo_x + (hi_x - lo_x) * i / 4
        parts.append(f'<text x="{left - 5}" y="{py(yv) + 4:.1f}" text-anchor="end" font-size="10">{yv:.2f}</text>')
        parts.append(f'<text x="{px(xv):.1f}" y="{top + h + 14}" text-anchor="middle" font-size="10">{xv:.0f}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{top + h + 30}" text-anchor="middle" font-size="11">'
                 'completions generated</text>')
    parts.append(f'<text x="{x0 + 12}" y="{top + h / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 {x0 + 12} {top + h / 2})">{ylabel}</text>')
    for i, (name, sx, sy) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(sx, sy))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{pts}"/>')
        parts.append(f'<text x="{left + 6}" y="{top + 14 + 13 * i}" font-size="10" fill="{color}">{name}</text>')
    return "\n".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/img/reward_vs_completions.svg"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--smooth", type=int, default=5, help="moving average over N logged steps")
    args = ap.parse_args(argv)
    runs = [load(r) for r in args.runs]
    label = {r["run"]: f'{r["kind"]}: {r["run"].split("-", 2)[-1]}' for r in runs}
    reward = [(label[r["run"]], [m["completions"] for m in r["metrics"]],
               smooth([m["reward_mean"] for m in r["metrics"]], args.smooth)) for r in runs]
    acc = [(label[r["run"]], [e["completions"] for e in r["evals"] if e["completions"] is not None],
            [e["accuracy"] for e in r["evals"] if e["completions"] is not None]) for r in runs]
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="860" height="280" font-family="sans-serif">\n'
           + svg_panel(reward, f"training reward (moving average of {args.smooth})", "mean reward", 0)
           + "\n" + svg_panel(acc, "held-out accuracy (greedy)", "accuracy", 430) + "\n</svg>\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(svg)
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
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
