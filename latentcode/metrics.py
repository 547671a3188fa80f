"""What a benchmark run reports, computed from its samples alone (so a resumed or
re-read run gives the same numbers)."""
from __future__ import annotations

import collections
import math
import statistics
from fractions import Fraction


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (95% for z = 1.96): unlike the
    normal approximation it stays inside [0, 1] and is sound at 0 or n successes."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"wilson needs 0 <= k <= n and n > 0, not k={k}, n={n}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def vote_key(answer: str | None) -> str | None:
    """Answers that mean the same number vote together: "4", "4.0", "4.00"."""
    if answer is None:
        return None
    text = answer.strip().replace(",", "").rstrip(".")
    try:
        return str(Fraction(text).limit_denominator(10**6))
    except (ValueError, ZeroDivisionError):
        return " ".join(text.lower().split())


def majority_correct(samples: list[dict]) -> bool:
    """maj@k: the most common answer (ties: the earliest sample) is correct."""
    votes = collections.Counter()
    first, correct = {}, {}
    for i, s in enumerate(samples):
        key = vote_key(s.get("answer"))
        if key is None:
            continue
        votes[key] += 1
        first.setdefault(key, i)
        correct[key] = correct.get(key, False) or bool(s.get("correct"))
    if not votes:
        return False
    best = max(votes, key=lambda k: (votes[k], -first[k]))
    return correct[best]


def reask_counts(samples) -> dict:
    """What the hard-coding check could not settle: programs judged "unknown" (a re-ask out
    of time) and programs checked on fewer re-asked questions than wanted (a shortfall)."""
    def count(v):  # a row from disk: anything that is not a count counts as 0
        return v if isinstance(v, int) and not isinstance(v, bool) else 0
    return {"check_unknown": sum(s.get("checked") == "unknown" for s in samples),
            "reask_shortfall": sum(count(s.get("reasks_wanted")) > count(s.get("reasks"))
                                   for s in samples)}


def summarize(samples: list[dict], *, gen_wall_s: float | None = None,
              exec_wall_s: float | None = None) -> dict:
    by_q: dict[str, list[dict]] = collections.defaultdict(list)
    for s in samples:
        by_q[s["task_id"]].append(s)
    groups = [sorted(v, key=lambda s: s["index"]) for v in by_q.values()]
    if not groups:
        return {"questions": 0, "samples": 0}
    k = min(len(g) for g in groups)
    programs = [s for s in samples if s.get("program")]
    out = {
        "questions": len(groups), "samples": len(samples), "k": k,
        "accuracy": statistics.fmean(bool(g[0]["correct"]) for g in groups),
        f"maj@{k}": statistics.fmean(majority_correct(g[:k]) for g in groups),
        f"pass@{k}": statistics.fmean(pass_at_k(len(g), sum(bool(s["correct"]) for s in g), k)
                                      for g in groups),
        "pass@1": statistics.fmean(bool(s["correct"]) for s in samples),
        "status": dict(collections.Counter(s["status"] for s in samples).most_common()),
        "hardcoded_rate": statistics.fmean(bool(s.get("hardcoded")) for s in programs) if programs else 0.0,
        **reask_counts(samples),
        "by_family": {},
    }
    for key in ("tokens", "ast_nodes", "zlib_bits"):
        vals = [s["lengths"][key] for s in programs if key in s.get("lengths", {})]
        if vals:
            out[f"mean_program_{key}"] = statistics.fmean(vals)
    fam = collections.defaultdict(list)
    for g in groups:
        fam[g[0]["family"]].append(bool(g[0]["correct"]))
    out["by_family"] = {f: statistics.fmean(v) for f, v in sorted(fam.items())}
    tokens = sum(s.get("gen_tokens", 0) for s in samples)
    gen_s = gen_wall_s if gen_wall_s is not None else sum(s.get("gen_s", 0.0) for s in samples)
    out["generated_tokens"] = tokens
    out["tokens_per_s"] = tokens / gen_s if gen_s > 0 else None
    executed = [s for s in samples if s["status"] not in ("no_code", "truncated", "direct")]
    ex_s = exec_wall_s if exec_wall_s is not None else sum(s.get("exec_s", 0.0) for s in samples)
    out["executions"] = len(executed)
    out["executions_per_s"] = len(executed) / ex_s if executed and ex_s > 0 else None
    return out
