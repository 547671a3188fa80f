"""Does a hint reach questions plain sampling does not? One E-step, no training.

    python bench/rationalize_probe.py [--templates liststats.population_variance,liststats.mode]
        [--questions 8] [--samples 8] [--model smollm2-135m] [--out bench/results/rationalize_probe.json]

For each template, ``questions`` generated questions (difficulty 1): ``samples`` programs
each from the model as it is, then, for every question with no kept program, ``samples``
more with the hint of ``latentcode train em --rationalize`` (its answer after the question).
Every program is graded by the training reward (right, and right on the question re-asked
with other values, so printing the hinted answer is not kept). Prints, per template, the
questions solved plainly, the questions reached only through the hint, and the hinted
programs that printed the hinted answer without computing it (refused).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from latentcode.expert.code_expert import CodeExpert, ExpertConfig  # noqa: E402
from latentcode.models import load_model  # noqa: E402
from latentcode.training.em import rationalize, sample_and_keep  # noqa: E402
from latentcode.training.rewards import CodeRewards, RewardConfig  # noqa: E402
from tasks.generators import generate  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--templates", default="liststats.population_variance,liststats.mode")
    p.add_argument("--questions", type=int, default=8)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "bench/results/rationalize_probe.json"))
    args = p.parse_args(argv)
    model, tok = load_model(args.model)
    expert = CodeExpert(model, tok, ExpertConfig(num_samples=args.samples, temperature=0.7, top_p=0.95,
                                                 max_new_tokens=args.max_new_tokens, batch_size=64,
                                                 seed=args.seed))
    rewards = CodeRewards(RewardConfig())
    out = {"args": vars(args), "templates": {}}
    for template in args.templates.split(","):
        family = template.split(".")[0]
        tasks = [t for t in generate(family, 40 * args.questions, seed=args.seed)
                 if t.meta["template"] == template][:args.questions]
        t0 = time.perf_counter()
        groups = sample_and_keep(expert, rewards, tasks, [expert.prompt(t) for t in tasks],
                                 [args.samples] * len(tasks), 0.0)
        plain = [i for i, g in enumerate(groups) if any(r["kept"] for r in g)]
        rationalize(expert, rewards, tasks, groups, args.samples, 0.0)
        reached = [i for i, g in enumerate(groups) if i not in plain and any(r["kept"] for r in g)]
        hinted = [r for g in groups for r in g if r["hinted"]]
        echoed = [r for r in hinted if r["correct"] and not r["kept"]]
        row = {"questions": len(tasks), "solved_plain": len(plain), "reached_by_hint": len(reached),
               "hinted_programs": len(hinted), "hinted_right_on_the_question": sum(r["correct"] for r in hinted),
               "hinted_refused_by_the_check": len(echoed), "seconds": time.perf_counter() - t0,
               "kept_hinted_programs": [r["program"] for r in hinted if r["kept"]][:5]}
        out["templates"][template] = row
        print(f"{template}: solved plainly {len(plain)}/{len(tasks)}, reached only by the hint "
              f"{len(reached)}; hinted programs right on the question {row['hinted_right_on_the_question']}"
              f"/{len(hinted)}, of which refused by the re-ask check {len(echoed)}; {row['seconds']:.0f} s",
              flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
