"""Accuracy-cost curves of a router, with the baselines router papers report (RouteLLM, Ong et
al. 2024): always-code, always-direct, random mixing, the oracle.

A router scores each question with p(code). Sending the ``k`` highest-scored questions to the
code path (k = 0..n) traces its curve: code share k/n, accuracy and mean cost. The code path
plays RouteLLM's strong (costly) model, the direct path its weak one:

    PGR(k)  = (acc(k) - acc_direct) / (acc_code - acc_direct)      performance gap recovered
    APGR    = the area under PGR against code share (trapezoids)   random mixing: 0.5
    CPT(x)  = the smallest code share whose PGR reaches x          random mixing: x

All defined only when always-code beats always-direct; otherwise they are None and the page
says so.
"""
from __future__ import annotations

import random
from collections import defaultdict


def curve(p: list[float], code_ok: list[bool], direct_ok: list[bool], code_cost: list[float],
          direct_cost: list[float]) -> list[dict]:
    """Points (code share, accuracy, mean cost, threshold) for k = 0..n questions sent to code,
    highest p first (ties in question order)."""
    n = len(p)
    order = sorted(range(n), key=lambda i: -p[i])
    right = sum(direct_ok)
    cost = sum(direct_cost)
    points = [{"share": 0.0, "accuracy": right / n, "cost": cost / n, "threshold": None}]  # above every p
    for k, i in enumerate(order, 1):
        right += code_ok[i] - direct_ok[i]
        cost += code_cost[i] - direct_cost[i]
        points.append({"share": k / n, "accuracy": right / n, "cost": cost / n, "threshold": p[i]})
    return points


def pgr(accuracy: float, acc_code: float, acc_direct: float) -> float | None:
    gap = acc_code - acc_direct
    return None if gap <= 0 else (accuracy - acc_direct) / gap


def apgr(points: list[dict]) -> float | None:
    acc_direct, acc_code = points[0]["accuracy"], points[-1]["accuracy"]
    values = [pgr(q["accuracy"], acc_code, acc_direct) for q in points]
    if values[0] is None:
        return None
    area = 0.0
    for a, b, va, vb in zip(points, points[1:], values, values[1:]):
        area += (b["share"] - a["share"]) * (va + vb) / 2
    return area


def cpt(points: list[dict], fraction: float) -> float | None:
    acc_direct, acc_code = points[0]["accuracy"], points[-1]["accuracy"]
    for q in points:
        value = pgr(q["accuracy"], acc_code, acc_direct)
        if value is None:
            return None
        if value >= fraction - 1e-12:
            return q["share"]
    return None


def above_random(points: list[dict]) -> float:
    """The smallest margin of the curve over random mixing (the straight line between the two
    paths at the same code share), over the shares strictly between 0 and 1."""
    acc_direct, acc_code = points[0]["accuracy"], points[-1]["accuracy"]
    inner = points[1:-1] or points
    return min(q["accuracy"] - (acc_direct + q["share"] * (acc_code - acc_direct)) for q in inner)


def oracle(code_ok: list[bool], direct_ok: list[bool]) -> dict:
    """The best path per question: its accuracy, and the code share it needs (code only where
    code alone is right)."""
    n = len(code_ok)
    return {"accuracy": sum(c or d for c, d in zip(code_ok, direct_ok)) / n,
            "share": sum(c and not d for c, d in zip(code_ok, direct_ok)) / n}


def accuracy_at_cost(points: list[dict], budget: float) -> float:
    """The best accuracy of a point whose mean cost is within ``budget``."""
    return max((q["accuracy"] for q in points if q["cost"] <= budget + 1e-9), default=float("nan"))


def report(p: list[float], code_ok: list[bool], direct_ok: list[bool], code_cost: list[float],
           direct_cost: list[float], families: list[str], threshold: float = 0.5,
           bootstrap: int = 1000, seed: int = 0) -> dict:
    """Everything the results page shows for one router on one set of questions: the curve,
    the baselines, APGR and CPT with 95% bootstrap intervals (questions resampled), and where the
    router sends each family at ``threshold``."""
    n = len(p)
    points = curve(p, code_ok, direct_ok, code_cost, direct_cost)
    acc_code, acc_direct = points[-1]["accuracy"], points[0]["accuracy"]
    out = {
        "questions": n, "always_code": {"accuracy": acc_code, "cost": points[-1]["cost"]},
        "always_direct": {"accuracy": acc_direct, "cost": points[0]["cost"]},
        "oracle": oracle(code_ok, direct_ok), "apgr": apgr(points),
        "cpt50": cpt(points, 0.5), "cpt80": cpt(points, 0.8),
        "min_margin_over_random": above_random(points),
        "accuracy_at_code_cost": accuracy_at_cost(points, points[-1]["cost"]),
        "points": points,
    }
    rng = random.Random(seed)
    draws = []
    for _ in range(bootstrap):
        idx = [rng.randrange(n) for _ in range(n)]
        value = apgr(curve([p[i] for i in idx], [code_ok[i] for i in idx], [direct_ok[i] for i in idx],
                           [code_cost[i] for i in idx], [direct_cost[i] for i in idx]))
        if value is not None:
            draws.append(value)
    if draws and len(draws) >= 0.9 * bootstrap:
        draws.sort()
        out["apgr_ci95"] = [draws[int(0.025 * len(draws))], draws[int(0.975 * len(draws)) - 1]]
    routed = [x >= threshold for x in p]
    chosen = [c if r else d for r, c, d in zip(routed, code_ok, direct_ok)]
    out["at_threshold"] = {"threshold": threshold, "share": sum(routed) / n, "accuracy": sum(chosen) / n,
                           "cost": sum(cc if r else dc for r, cc, dc in zip(routed, code_cost, direct_cost)) / n}
    fam = defaultdict(lambda: [0, 0, 0, 0, 0])  # questions, sent to code, right, code right, direct right
    for f, r, ok, c, d in zip(families, routed, chosen, code_ok, direct_ok):
        fam[f][0] += 1
        fam[f][1] += r
        fam[f][2] += ok
        fam[f][3] += c
        fam[f][4] += d
    out["by_family"] = {f: {"questions": q, "code_share": s / q, "accuracy": a / q, "code": c / q, "direct": d / q}
                        for f, (q, s, a, c, d) in sorted(fam.items())}
    return out
