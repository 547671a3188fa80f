"""EM's E-step grades each question's programs as soon as its rows end, while the other
questions still decode (issue 29, item 4), and keeps what grading them all at the end kept."""
from __future__ import annotations

import pytest

from latentcode.expert.code_expert import CodeExpert
from latentcode.expert.sampling import ExpertConfig
from latentcode.models import load_model
from latentcode.training.programs import sample_and_keep
from latentcode.training.rewards import CodeRewards, RewardConfig
from tasks.generators import generate

pytestmark = pytest.mark.usefixtures("one_thread")


def test_grading_starts_while_decoding_goes_on_and_changes_nothing(coder):
    model, tok = load_model(coder, device="cpu")
    tasks = generate("arithmetic", 6, seed=0)
    expert = CodeExpert(model, tok, ExpertConfig(num_samples=2, max_new_tokens=24, batch_size=2,
                                                 temperature=1.0))
    prompts = [expert.prompt(t) for t in tasks]
    done = []
    expert.on_generated = lambda: done.append(1)
    rewards = CodeRewards(RewardConfig())
    seen_at = []  # completions generated when each question's grading began
    evaluate = rewards.evaluate

    def watched(ts, texts, *rest):
        seen_at.append(len(done))
        return evaluate(ts, texts, *rest)

    rewards.evaluate = watched
    expert.reseed(0)
    groups = sample_and_keep(expert, rewards, tasks, prompts, [2] * len(tasks), lam=0.0)
    assert len(seen_at) == len(tasks) and min(seen_at) < 2 * len(tasks)  # began before the last row
    # the same completions graded all at once keep and score the same
    rewards.evaluate = evaluate
    texts = [[r["completion"] for r in g] for g in groups]
    flat = evaluate([t for t, g in zip(tasks, texts) for _ in g], [x for g in texts for x in g])
    assert [(r["reward"], r["metamorphic"], r["status"]) for g in groups for r in g] == \
        [(s.correctness, s.metamorphic, s.sample.status) for s in flat]
    assert [len(g) for g in groups] == [2] * len(tasks)
