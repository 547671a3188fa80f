"""False positives of the hard-coding check on honest programs, on the bench path and on
GRPO's reward path.

    python bench/hardcode_false_positives.py [--per 60] [--out bench/results/hardcode_false_positives.json]

Every family x difficulty 1-5 x ``per`` tasks (seeds 7, 14, ..., 35): each reference program
runs, then ``hardcode.check`` judges it with the reward's default re-asks (the bench path),
and TRL-shaped reward calls score it (``CodeRewards.functions()`` with the dataset columns
and chat-message prompts: GRPO's path). Then honest programs that write a question's values
in other ordinary forms (an ordinal as an index, a percentage as a factor, dates as ISO
strings; ``tests/test_reward_paths.py``'s ``FORMS``). A reference computes its answer, so
every flag is a false positive; a verdict of "unknown" (a re-ask out of time) is counted
apart. The templates flagged are printed with one example each.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import sandbox  # noqa: E402
from latentcode.expert import hardcode  # noqa: E402
from latentcode.training.rewards import COLUMNS, CodeRewards, RewardConfig, tasks_to_rows  # noqa: E402
from tasks.generators import FAMILIES, generate  # noqa: E402
from tests.test_reward_paths import FORMS, block, by_template  # noqa: E402


def grpo_path(tasks, codes) -> list[float]:
    """Correctness as TRL's reward call computes it: columns and chat prompts."""
    rewards = CodeRewards(RewardConfig())
    [correctness] = rewards.functions()
    out = []
    for i in range(0, len(tasks), 64):  # GRPO-sized calls
        chunk = tasks[i:i + 64]
        cols = {k: [r[k] for r in tasks_to_rows(chunk)] for k in COLUMNS}
        prompts = [[{"role": "user", "content": t.prompt}] for t in chunk]
        out += correctness(completions=[block(c) for c in codes[i:i + 64]], prompts=prompts, **cols)
    rewards.pool.close()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per", type=int, default=60)
    p.add_argument("--out", default=str(ROOT / "bench/results/hardcode_false_positives.json"))
    args = p.parse_args(argv)
    tasks = [t for f in FAMILIES for d in range(1, 6) for t in generate(f, args.per, seed=d * 7, difficulty=d)]
    codes = [t.meta["reference_program"] for t in tasks]
    forms = [(t, FORMS[name](t)) for name in sorted(FORMS) for t in by_template(8, seed=31)[name][:20]]
    forms = [(t, c) for t, c in forms if c]
    variants = RewardConfig().reask_variants
    pool = sandbox.Pool(2)
    t0 = time.perf_counter()
    results = pool.run_many(codes + [c for _, c in forms])
    everything = tasks + [t for t, _ in forms]
    right = [i for i, (t, r) in enumerate(zip(everything, results)) if r.ok and t.answer in r.stdout]
    verdicts = hardcode.check([everything[i] for i in right], [(codes + [c for _, c in forms])[i] for i in right],
                              [results[i] for i in right], pool=pool, variants=variants)
    pool.close()
    bench_s = time.perf_counter() - t0
    flagged = collections.Counter(everything[i].meta["template"] for i, v in zip(right, verdicts) if v.hardcoded)
    unknown = collections.Counter(everything[i].meta["template"] for i, v in zip(right, verdicts) if v.unknown)
    example = {everything[i].meta["template"]: everything[i].prompt for i, v in zip(right, verdicts) if v.hardcoded}
    t1 = time.perf_counter()
    paid = grpo_path(tasks, codes)
    grpo_s = time.perf_counter() - t1
    unpaid = collections.Counter(t.meta["template"] for t, r in zip(tasks, paid) if r != 1.0)
    n_forms = sum(1 for i in right if i >= len(tasks))
    print(f"bench path: {len(tasks)} reference programs + {n_forms} in other forms (right on "
          f"their own question), {variants} re-asks; {bench_s:.1f} s; flagged: {sum(flagged.values())}, "
          f"unknown: {sum(unknown.values())}")
    for template, n in flagged.most_common():
        print(f"  {template}: {n} (e.g. {example[template]!r})")
    print(f"GRPO path: {len(tasks)} reference programs through TRL-shaped reward calls; {grpo_s:.1f} s; "
          f"not paid 1.0: {sum(unpaid.values())}")
    for template, n in unpaid.most_common():
        print(f"  {template}: {n}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "reference_programs": len(tasks), "form_programs": n_forms, "reask_variants": variants,
        "bench_flagged": dict(flagged), "bench_unknown": dict(unknown), "grpo_unpaid": dict(unpaid),
        "bench_s": bench_s, "grpo_s": grpo_s}, indent=2))
    print(f"wrote {args.out}")
    return 1 if flagged or unpaid else 0


if __name__ == "__main__":
    sys.exit(main())
