"""The router tables and curves of docs/results.md, from `latentcode train router` run folders.

    python bench/router_report.py runs/router/*-probe-ce runs/router/*-probe-pg \\
        runs/router/*-slot-ce runs/router/*-slot-pg --gate c0 \\
        --out docs/img/router_curves --json bench/results/router.json

Prints, per run and gate, the held-out APGR with its 95% bootstrap interval, CPT(50%) and
CPT(80%), the accuracy and code share at the gate's threshold (0.5), the smallest margin over
random mixing and the best accuracy at always-code's cost; then where ``--gate`` sends each
family. Draws held-out accuracy against code share and against mean cost (generated-token
equivalents) for that gate of every run, with always-code, always-direct, random mixing (the
straight line) and the oracle.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(path: str) -> dict:
    folder = Path(path)
    config = json.loads((folder / "config.json").read_text())
    report = json.loads((folder / "report.json").read_text())
    questions = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    r = config["router"]
    return {"path": str(folder), "label": f"{r['form']} / {r['objective']}", "report": report,
            "questions": questions}


def against_paths(questions: list[dict], gate: str, bootstrap: int = 2000, seed: int = 0) -> dict:
    """At the gate's threshold (0.5): accuracy against the better single path and against
    always-code, each difference with a paired 95% bootstrap interval (questions resampled),
    and the share of the oracle's headroom over the better path it recovers."""
    import random
    routed = [q["code_correct"] if q["p_code"][gate] >= 0.5 else q["direct_correct"] for q in questions]
    code = [q["code_correct"] for q in questions]
    direct = [q["direct_correct"] for q in questions]
    n = len(questions)
    best = code if sum(code) >= sum(direct) else direct
    oracle = sum(c or d for c, d in zip(code, direct)) / n

    def diff(a, b, idx):
        return sum(a[i] - b[i] for i in idx) / len(idx)

    rng = random.Random(seed)
    draws_best, draws_code = [], []
    for _ in range(bootstrap):
        idx = [rng.randrange(n) for _ in range(n)]
        draws_best.append(diff(routed, best, idx))
        draws_code.append(diff(routed, code, idx))
    def ci(draws):
        draws = sorted(draws)
        return draws[int(0.025 * len(draws))], draws[int(0.975 * len(draws)) - 1]

    acc, acc_best = sum(routed) / n, sum(best) / n
    return {"accuracy": acc, "best_path": acc_best, "oracle": oracle,
            "gain_over_best": acc - acc_best, "gain_over_best_ci95": ci(draws_best),
            "gain_over_code": acc - sum(code) / n, "gain_over_code_ci95": ci(draws_code),
            "headroom_recovered": (acc - acc_best) / (oracle - acc_best) if oracle > acc_best else None}


def gains(runs: list[dict]) -> list[str]:
    lines = ["| router | gate | accuracy at 0.5 | minus the better path (95% CI) | minus always-code (95% CI) "
             "| oracle headroom recovered |", "|---|---|---:|---|---|---:|"]
    for run in runs:
        for gate in run["report"]["heldout"]:
            g = against_paths(run["questions"], gate)
            run.setdefault("gains", {})[gate] = g
            lo, hi = g["gain_over_best_ci95"]
            clo, chi = g["gain_over_code_ci95"]
            rec = "n/a" if g["headroom_recovered"] is None else f"{g['headroom_recovered']:.0%}"
            lines.append(f"| {run['label']} | {gate} | {pct(g['accuracy'])} | {g['gain_over_best']:+.1%} "
                         f"({lo:+.1%} to {hi:+.1%}) | {g['gain_over_code']:+.1%} ({clo:+.1%} to {chi:+.1%}) | {rec} |")
    return lines


def pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def table(runs: list[dict]) -> list[str]:
    lines = ["| router | gate | held-out APGR (95% CI) | CPT(50%) | CPT(80%) | at 0.5: accuracy, code share "
             "| min margin over random | curve points on or above random | best accuracy at always-code's cost |",
             "|---|---|---|---:|---:|---|---:|---:|---:|"]
    for run in runs:
        for gate, r in run["report"]["heldout"].items():
            ci = r.get("apgr_ci95")
            apgr = "n/a" if r["apgr"] is None else f"{r['apgr']:.2f}" + (f" ({ci[0]:.2f}-{ci[1]:.2f})" if ci else "")
            at = r["at_threshold"]
            pts = r["points"]
            a0, a1 = pts[0]["accuracy"], pts[-1]["accuracy"]
            above = sum(q["accuracy"] >= a0 + q["share"] * (a1 - a0) - 1e-12 for q in pts) / len(pts)
            lines.append(f"| {run['label']} | {gate} | {apgr} | {pct(r['cpt50'])} | {pct(r['cpt80'])} | "
                         f"{pct(at['accuracy'])}, {pct(at['share'])} | {r['min_margin_over_random']:+.1%} | "
                         f"{above:.0%} | {pct(r['accuracy_at_code_cost'])} |")
    first = runs[0]["report"]["heldout"]
    r = next(iter(first.values()))
    lines.append("")
    lines.append(f"Held-out questions: {r['questions']}; always-code {pct(r['always_code']['accuracy'])} "
                 f"(cost {r['always_code']['cost']:.0f}), always-direct {pct(r['always_direct']['accuracy'])} "
                 f"(cost {r['always_direct']['cost']:.0f}), oracle {pct(r['oracle']['accuracy'])} "
                 f"with {pct(r['oracle']['share'])} code.")
    return lines


def families(runs: list[dict], gate: str) -> list[str]:
    lines = ["| family | questions | code right | direct right | " + " | ".join(
        f"{run['label']}: code share, accuracy" for run in runs) + " |",
        "|---|---:|---:|---:|" + "---|" * len(runs)]
    fams = runs[0]["report"]["heldout"][gate]["by_family"]
    for fam, f in fams.items():
        cells = []
        for run in runs:
            g = run["report"]["heldout"][gate]["by_family"][fam]
            cells.append(f"{g['code_share']:.0%}, {g['accuracy']:.0%}")
        lines.append(f"| {fam} | {f['questions']} | {f['code']:.0%} | {f['direct']:.0%} | " + " | ".join(cells) + " |")
    return lines


def plot(runs: list[dict], gate: str, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    base = runs[0]["report"]["heldout"][gate]
    code, direct, oracle = base["always_code"], base["always_direct"], base["oracle"]
    for ax, key, xlabel in ((axes[0], "share", "share of questions sent to code"),
                            (axes[1], "cost", "mean cost per question (generated-token equivalents)")):
        for run in runs:
            pts = run["report"]["heldout"][gate]["points"]
            ax.plot([p[key] for p in pts], [p["accuracy"] for p in pts], label=run["label"], lw=1.4)
        x0, x1 = (0, 1) if key == "share" else (direct["cost"], code["cost"])
        ax.plot([x0, x1], [direct["accuracy"], code["accuracy"]], "k--", lw=1, label="random mixing")
        ax.plot([x0], [direct["accuracy"]], "s", color="tab:gray", label="always direct")
        ax.plot([x1], [code["accuracy"]], "o", color="black", label="always code")
        ax.axhline(oracle["accuracy"], color="tab:green", ls=":", lw=1, label="oracle")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out accuracy")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.86, 0.5), fontsize=8)
    fig.suptitle(f"Routing SmolLM2-135M between code and direct answers, held out ({gate})")
    fig.tight_layout(rect=(0, 0, 0.85, 0.95))
    written = []
    for suffix in (".png", ".svg"):
        target = out.with_suffix(suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=110)
        written.append(target)
    plt.close(fig)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--gate", default="c0", help="the gate (cost weight) the family table and the plot show")
    ap.add_argument("--out", help="figure path without suffix (PNG and SVG)")
    ap.add_argument("--json", help="write the runs' held-out reports here")
    args = ap.parse_args()
    runs = [load(p) for p in args.runs]
    print("\n".join(table(runs)))
    print()
    print("\n".join(gains(runs)))
    print()
    print("\n".join(families(runs, args.gate)))
    if args.out:
        for path in plot(runs, args.gate, Path(args.out)):
            print(f"wrote {path}")
    if args.json:
        Path(args.json).write_text(json.dumps([{"path": r["path"], "label": r["label"], "gains": r.get("gains"),
                                                "heldout": r["report"]["heldout"]} for r in runs], indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
