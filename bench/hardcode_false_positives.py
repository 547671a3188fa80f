"""False positives of the hard-coding check on the generated families' own reference programs.

    python bench/hardcode_false_positives.py [--per 60]

Every family x difficulty 1-5 x ``per`` tasks (seeds 7, 14, ..., 35): each reference program
runs, then ``hardcode.check`` judges it. A reference computes its answer, so every flag is a
false positive; the templates flagged are printed with one example each.
"""
from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sandbox  # noqa: E402
from latentcode.expert import hardcode  # noqa: E402
from tasks.generators import FAMILIES, generate  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per", type=int, default=60)
    args = p.parse_args(argv)
    tasks = [t for f in FAMILIES for d in range(1, 6) for t in generate(f, args.per, seed=d * 7, difficulty=d)]
    codes = [t.meta["reference_program"] for t in tasks]
    pool = sandbox.Pool(2)
    t0 = time.perf_counter()
    results = pool.run_many(codes)
    verdicts = hardcode.check(tasks, codes, results, pool=pool)
    pool.close()
    flagged = collections.Counter(t.meta["template"] for t, v in zip(tasks, verdicts) if v and v.hardcoded)
    print(f"{len(tasks)} reference programs, {sum(v.runs for v in verdicts if v)} extra runs, "
          f"{time.perf_counter() - t0:.1f} s; flagged: {sum(flagged.values())}")
    for template, n in flagged.most_common():
        print(f"  {template}: {n}")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
