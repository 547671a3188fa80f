"""EM that reaches what plain sampling cannot (issue 28): rationalization with a hint that
cannot be cheated, and sampling spent where the model's own pass rate is zero."""
from __future__ import annotations

import json

import pytest
import torch

from latentcode.training import harness  # where a trainer reads its task split
from latentcode.config import compose
from latentcode.expert.code_expert import CodeExpert
from latentcode.training import em
from latentcode.training.em import EMSetup, History, hinted_task, plan_questions, train_em
from tasks.base import Task
from tasks.generators import generate
from tests.conftest import fit_replies

PRINT_THREE = "```python\nprint(1 + 2)\n```"
QUESTIONS = [Task(f"add/{i}", q, "3", "arithmetic", {}) for i, q in enumerate(
    ["What is 1 + 2?", "Add 1 and 2.", "What is 2 + 1?", "What do 1 and 2 make together?",
     "What is 1 plus 2?", "Sum 2 and 1.", "How much is 1 + 2?", "What is 2 plus 1?"])]


@pytest.fixture(scope="module")
def hint_follower(tmp_path_factory):
    """A tiny model that writes ``print(1 + 2)`` when its prompt carries a hint and prose
    otherwise: plain sampling finds no program, a hinted prompt finds a right one."""
    from latentcode.models import load_model
    torch.manual_seed(0)
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    expert = CodeExpert(model, tok)
    pairs = [(expert.prompt(hinted_task(t)), PRINT_THREE) for t in QUESTIONS] + \
            [(expert.prompt(t), "I am not sure how to answer that.") for t in QUESTIONS]
    fit_replies(model, tok, pairs, 80, torch.optim.AdamW)
    folder = tmp_path_factory.mktemp("hint-follower")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _setup(model, runs_dir, **kw) -> EMSetup:
    base = dict(model=model, device="cpu", iterations=1, questions=4, samples=4, max_new_tokens=16,
                batch_size=16, learning_rate=5e-3, train_batch_size=8, epochs=1, eval_every=0,
                eval_start=False, runs_dir=str(runs_dir), quiet=True, bf16=False, use_peft=False,
                temperature=0.7)
    return compose(EMSetup, **{**base, **kw})


def _rows(run, name) -> list[dict]:
    return [json.loads(line) for line in (run / name).read_text().splitlines()]


@pytest.fixture
def questions(monkeypatch):
    monkeypatch.setattr(harness, "load_split", lambda task, split: (QUESTIONS[:6], QUESTIONS[6:]))


def test_a_hint_reaches_questions_plain_sampling_cannot(hint_follower, tmp_path, questions):
    plain = train_em(_setup(hint_follower, tmp_path / "plain"))
    [m] = _rows(plain, "metrics.jsonl")
    assert m["solved"] == 0 and m["rationalized"] == 0  # no right program among 16 samples

    run = train_em(_setup(hint_follower, tmp_path / "star", rationalize=True, hint_samples=4))
    [m] = _rows(run, "metrics.jsonl")
    rows = _rows(run, "samples.jsonl")
    hinted = [r for r in rows if r["hinted"]]
    assert m["rationalized"] >= 2 and m["pass_at_k"] == 0.0
    assert sorted(m["reached_by_hint"]) == sorted({r["task_id"] for r in hinted if r["weight"] > 0})
    assert all(r["program"] == "print(1 + 2)" for r in hinted if r["weight"] > 0)
    # graded and recorded as the question itself, the hint nowhere in what is kept
    assert all("Hint" not in r["question"] for r in rows)


def test_the_m_step_trains_on_the_question_without_its_hint(hint_follower, tmp_path, questions, monkeypatch):
    seen = []
    real = em.m_step
    monkeypatch.setattr(em, "m_step", lambda model, tok, data, *a, **k: seen.append(data) or real(model, tok, data, *a, **k))
    train_em(_setup(hint_follower, tmp_path / "star", rationalize=True, hint_samples=4))
    [data] = seen
    assert data and all("Hint" not in d["prompt"] and d["completion"].startswith("```python") for d in data)


class Scripted(CodeExpert):
    """The tiny model's tokenizer and prompts, with replies chosen by the test: what a
    policy that prints the hinted answer would write."""

    def __init__(self, model, tok, reply):
        super().__init__(model, tok)
        self.reply = reply

    def generate(self, prompts, counts=None, on_prompt=None):
        from latentcode.expert.samples import Generation
        counts = counts or [self.config.num_samples] * len(prompts)
        gens = [[Generation(self.reply(p), 8, True) for _ in range(c)] for p, c in zip(prompts, counts)]
        for i, g in enumerate(gens):  # as Expert.generate: once each prompt's rows have all ended
            if on_prompt is not None and g:
                on_prompt(i, g)
        return gens


def test_printing_the_hinted_answer_is_never_kept():
    """Under a hint, a program that prints the answer it was told (as a constant, or through a
    formula that fits this question's numbers) fails the re-asks with other values."""
    from latentcode.models import load_model
    from latentcode.training.rewards import CodeRewards, RewardConfig
    model, tok = load_model("tiny", device="cpu")
    tasks = [t for t in generate("liststats", 12, seed=2)][:6] + generate("numtheory", 9, seed=2)[:3]
    for cheat in ("print({answer!r})", "xs = {numbers}\nprint({answer} + 0 * len(xs))"):
        def reply(prompt, cheat=cheat):
            task = next(t for t in tasks if t.prompt in prompt)
            if "Hint" not in prompt:
                return "no idea"
            return "```python\n" + cheat.format(answer=task.answer, numbers=task.meta.get("numbers")) + "\n```"
        expert = Scripted(model, tok, reply)
        rewards = CodeRewards(RewardConfig())
        groups = em.sample_and_keep(expert, rewards, tasks, [expert.prompt(t) for t in tasks], [2] * len(tasks), 0.0)
        em.rationalize(expert, rewards, tasks, groups, 3, 0.0)
        hinted = [r for g in groups for r in g if r["hinted"]]
        assert len(hinted) == 3 * len(tasks)
        assert not any(r["kept"] for r in hinted), [(r["task_id"], r["program"]) for r in hinted if r["kept"]]
        assert all(r["reward"] <= 0 for r in hinted)
    # an honest program under a hint is kept, and trained without it
    def honest(prompt):
        task = next(t for t in tasks if t.prompt in prompt)
        return ("```python\n" + task.meta["reference_program"] + "\n```") if "Hint" in prompt else "no idea"
    expert = Scripted(model, tok, honest)
    rewards = CodeRewards(RewardConfig())
    groups = em.sample_and_keep(expert, rewards, tasks, [expert.prompt(t) for t in tasks], [2] * len(tasks), 0.0)
    em.rationalize(expert, rewards, tasks, groups, 2, 0.0)
    assert all(any(r["kept"] and r["hinted"] for r in g) for g in groups)


def test_a_worked_solution_is_a_hint_in_words():
    t = Task("gsm8k/test/0", "Tom has 3 bags of 4 apples. How many apples?", "12", "gsm8k",
             {"solution": "He has 3 * 4 = <<3*4=12>>12 apples.\n#### 12"})
    prompt = hinted_task(t).prompt
    assert prompt.startswith(t.prompt) and "He has 3 * 4 = 12 apples." in prompt and "<<" not in prompt
    assert "####" not in prompt and prompt.endswith("The answer is 12.")
    assert hinted_task(QUESTIONS[0]).prompt == "What is 1 + 2?\nHint: the answer is 3."


# adaptive sampling ------------------------------------------------------------------------------

def _history(records: dict) -> History:
    h = History()
    h.asked = {k: list(v) for k, v in records.items()}
    return h


def test_adaptive_sampling_spends_where_the_pass_rate_is_zero():
    train = [Task(f"q/{i}", f"question {i}", "1", "x", {}) for i in range(10)]
    config = compose(EMSetup, questions=6, samples=4, min_samples=2, max_samples=12, adaptive=True)
    history = _history({
        "q/0": [(1, 0, 4)], "q/1": [(1, 0, 4), (2, 0, 12)],  # never right
        "q/2": [(1, 2, 4)], "q/3": [(1, 1, 4)],  # sometimes
        "q/4": [(1, 4, 4)],  # every time, once
        "q/5": [(1, 4, 4), (2, 2, 2)],  # every time, twice: retired
    })
    chosen, counts = plan_questions(train, history, config, 3)
    by_id = dict(zip([t.id for t in chosen], counts))
    assert {t.id for t in chosen[:2]} == {"q/2", "q/3"}  # solved sometimes first
    assert {t.id for t in chosen[2:6]} == {"q/6", "q/7", "q/8", "q/9"}  # then new ones
    assert "q/5" not in by_id  # retired
    assert all(by_id[k] == 4 for k in ("q/2", "q/3", "q/6"))
    # fewer new questions: the never-solved get the most samples, the always-solved the fewest
    chosen, counts = plan_questions(train[:6], history, config, 3)
    by_id = dict(zip([t.id for t in chosen], counts))
    assert by_id["q/0"] == by_id["q/1"] == 12 and by_id["q/4"] == 2
    assert [t.id for t in chosen][-1] == "q/5"  # retired comes last, only to fill the E-step
    # plain EM: a random draw, the same number of samples each
    plain = compose(EMSetup, questions=6, samples=4)
    chosen, counts = plan_questions(train, history, plain, 3)
    assert counts == [4] * 6 and len({t.id for t in chosen}) == 6


def test_an_adaptive_run_samples_as_its_plan_says_and_resumes_the_same(coder, tmp_path, monkeypatch):
    """Iteration 2 reads iteration 1's pass rates from the run itself (samples.jsonl), so a
    resumed run plans the same E-step."""
    def split(task, split_config):
        make = [Task(f"sum/{i}", f"What is 1 + 2? (case {i})", "3", "arithmetic", {}) for i in range(6)]
        make += [Task(f"seven/{i}", f"What is 3 + 4? (case {i})", "7", "arithmetic", {}) for i in range(4)]
        return make[:8], make[8:]
    monkeypatch.setattr(harness, "load_split", split)
    setup = _setup(coder, tmp_path / "a", iterations=2, questions=4, samples=4, min_samples=2, max_samples=8,
                   adaptive=True, metamorphic=False, learning_rate=1e-3)
    run = train_em(setup)
    rows = _rows(run, "samples.jsonl")
    first = History()
    first.add([r for r in rows if r["step"] == 1])
    asked_second = {}
    for r in rows:
        if r["step"] == 2:
            asked_second[r["task_id"]] = asked_second.get(r["task_id"], 0) + 1
    for tid, n in asked_second.items():
        rate = first.rate(tid)
        want = 4 if rate is None else 8 if rate == 0 else 2 if rate == 1 else 4
        assert n == want, (tid, rate, n)
    [m1, m2] = _rows(run, "metrics.jsonl")
    assert m2["samples_per_question"]["max"] >= m2["samples_per_question"]["min"]
