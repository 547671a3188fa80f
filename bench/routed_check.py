"""Does a router answering by itself (`bench --mode routed`) do what its training run predicted?

    python bench/routed_check.py runs/router/*-probe-ce runs/router/*-routed-* --gate c0.5 \\
        --json bench/results/router_routed.json

The router run's questions.jsonl holds, for every held-out question, both paths' outcomes (from
the `bench --mode both` labels) and the gate's probability of code. A routed run answers each
question once, by the path its gate picked in the forward pass. Per suite and in total this prints:
the routed run's accuracy (95% Wilson interval) beside the accuracy the labels predict for the
same routes, how often the route and the chosen path's grade agree with the prediction, the
largest difference in the probability of code, the code share, and the mean cost per question
(generated-token equivalents, the router run's cost weights) beside the labels' cost of the
predicted routes.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from latentcode.metrics import wilson
from latentcode.router.costs import CostConfig


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            sys.exit(f"{path}:{n}: not JSON ({e.msg})")
    return rows


def compare(predicted: dict[str, dict], routed: list[dict], gate: str, costs: CostConfig) -> dict:
    n = len(routed)
    right = sum(bool(r["correct"]) for r in routed)
    pred_right = same_route = same_grade = pred_code = 0
    cost = pred_cost = 0.0
    dp = 0.0
    for r in routed:
        q = predicted[r["task_id"]]
        p = q["p_code"][gate]
        path = "code" if p >= 0.5 else "direct"
        pred_code += path == "code"
        pred_right += bool(q[f"{path}_correct"])
        pred_cost += q[f"{path}_cost"]
        cost += costs.cost(r["gen_tokens"], r["prompt_tokens"], r["exec_s"] or 0.0)
        dp = max(dp, abs(float(r["p_code"]) - p))
        same_route += r["path"] == path
        same_grade += r["path"] == path and bool(r["correct"]) == bool(q[f"{path}_correct"])
    lo, hi = wilson(right, n)
    return {"n": n, "accuracy": right / n, "accuracy_ci95": [lo, hi], "predicted_accuracy": pred_right / n,
            "same_route": same_route / n, "same_grade_given_route": same_grade / max(same_route, 1),
            "max_p_code_difference": dp,
            "code_share": sum(r["path"] == "code" for r in routed) / n, "predicted_code_share": pred_code / n,
            "mean_cost": cost / n, "predicted_mean_cost": pred_cost / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("router", help="the `latentcode train router` run the routed runs used")
    ap.add_argument("routed", nargs="+", help="`latentcode bench --mode routed` run folders")
    ap.add_argument("--gate", default="c0.5", help="the gate the routed runs used (their --cost-weight)")
    ap.add_argument("--json", help="write the table here")
    args = ap.parse_args()
    folder = Path(args.router)
    config = json.loads((folder / "config.json").read_text())
    costs = CostConfig(**config.get("cost", {}))
    predicted = {q["task_id"]: q for q in read_jsonl(folder / "questions.jsonl")}
    by_suite: dict[str, list[dict]] = defaultdict(list)
    for run in args.routed:
        rows = read_jsonl(Path(run) / "samples.jsonl")
        missing = [r["task_id"] for r in rows if r["task_id"] not in predicted]
        if missing:
            sys.exit(f"{run}: {len(missing)} questions (first {missing[0]}) are not among {folder}'s held-out questions")
        if any(r.get("p_code") is None for r in rows):
            sys.exit(f"{run}: not a `bench --mode routed` run (no p_code)")
        for r in rows:
            by_suite[predicted[r["task_id"]]["suite"]].append(r)
    table = {s: compare(predicted, rows, args.gate, costs) for s, rows in by_suite.items()}
    table["all"] = compare(predicted, [r for rows in by_suite.values() for r in rows], args.gate, costs)
    print(f"{'suite':<11} {'n':>4} {'routed':>18} {'predicted':>9} {'route':>6} {'grade':>6} "
          f"{'max dp':>7} {'code':>10} {'cost / predicted':>17}")
    for s, t in table.items():
        lo, hi = t["accuracy_ci95"]
        print(f"{s:<11} {t['n']:>4} {100 * t['accuracy']:>5.1f}% ({100 * lo:4.1f}-{100 * hi:4.1f}) "
              f"{100 * t['predicted_accuracy']:>8.1f}% {100 * t['same_route']:>5.0f}% "
              f"{100 * t['same_grade_given_route']:>5.0f}% {t['max_p_code_difference']:>7.3f} "
              f"{100 * t['code_share']:>4.0f}%/{100 * t['predicted_code_share']:>3.0f}% "
              f"{t['mean_cost']:>8.0f} / {t['predicted_mean_cost']:<6.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"router": str(folder), "gate": args.gate, "suites": table},
                                              indent=1) + "\n")


if __name__ == "__main__":
    main()
