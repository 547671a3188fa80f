"""One reward path for every trainer, and re-asks that test the rule (issue 26).

Each class of loophole is tried as a policy would try it, over every template of every
generated family: through TRL's own reward call with its conversational prompts (GRPO), and
through ``CodeRewards.evaluate`` on ``Task`` objects (EM, ES, the bench's grading).
"""
from __future__ import annotations

import collections
import random

import pytest

import sandbox
from latentcode.expert import hardcode
from latentcode.expert.grading import grade_code
from latentcode.expert.mdl import program_length
from latentcode.expert.pyparse import blank_docstrings
from latentcode.expert.samples import Generation
from latentcode.training.rewards import CodeRewards, RewardConfig
from tasks.base import Task
from tasks.check import credit_beyond_question, question_order
from tasks.generators import FAMILIES, answer_classes, generate

FENCE = "```"
TEMPLATES = sorted(f"{f}.{n}" for f in FAMILIES for n in FAMILIES[f].TEMPLATES)


def block(code: str) -> str:
    return f"{FENCE}python\n{code}\n{FENCE}"


def by_template(per: int, seed: int = 0, difficulties=(1, 2, 3)) -> dict[str, list[Task]]:
    out = collections.defaultdict(list)
    for f in FAMILIES:
        n = per * len(FAMILIES[f].TEMPLATES)
        for d in difficulties:
            for t in generate(f, n, seed=seed, difficulty=d):
                out[t.meta["template"]].append(t)
    return out


@pytest.fixture(scope="module")
def pool():
    p = sandbox.Pool(2)
    yield p
    p.close()


def fake_formula(task: Task) -> str | None:
    """A formula over the question's first number that equals the answer on this question
    only: its output moves when the number moves, so moving values alone lets it through."""
    values = [v for v in hardcode.question_values(task.prompt)
              if isinstance(v, (int, float)) and not isinstance(v, bool) and v not in (0, 1, 2)]
    try:
        answer = float(task.answer)
    except ValueError:
        return None
    if not values:
        return None
    n = values[0]
    return f"n = {n!r}\nprint(round(n + ({answer - n!r}), 6))"


# ------------------------------------------------------------------------------------
# item 1: TRL's own reward call grades the task, as the bench and EM do
# ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_trl_s_reward_call_scores_as_the_bench_and_em_paths(tmp_path, pool):
    from latentcode.expert.code_expert import CodeExpert
    from latentcode.training.grpo import build_dataset
    from tests.test_grpo import small_config
    from latentcode.training.grpo import build_trainer

    tasks = [ts[0] for ts in by_template(1, seed=4).values()]
    programs = []
    for t in tasks:
        programs.append((t, t.meta["reference_program"]))  # honest
        programs.append((t, f"print({t.answer!r})"))  # constant
        fake = fake_formula(t)
        if fake:
            programs.append((t, fake))
    trainer, _, _ = build_trainer(small_config("tiny", tmp_path))
    trainer.remove_callback(type(trainer.callback_handler.callbacks[0]))  # no callbacks needed
    expert = CodeExpert(trainer.model, trainer.processing_class)
    rows = build_dataset([t for t, _ in programs], expert)
    inputs = [dict(r) for r in rows]
    assert isinstance(inputs[0]["prompt"], list)  # conversational: chat messages
    completions = [[{"role": "assistant", "content": block(code)}] for _, code in programs]
    ids = [[0] * 5 for _ in programs]
    got = trainer._calculate_rewards(inputs, [r["prompt"] for r in inputs], completions, ids)
    trl_rewards = got[:, 0].tolist()
    # EM and ES: CodeRewards on the Task objects themselves
    em = CodeRewards(RewardConfig()).evaluate([t for t, _ in programs], [block(c) for _, c in programs])
    assert trl_rewards == pytest.approx([o.correctness for o in em])
    # the bench: right and computed (not hard-coded, not unknown) exactly where the reward pays
    bench = grade_code([t for t, _ in programs], [[Generation(block(c), 5, True)] for _, c in programs],
                       pool=pool)
    paid = [r == 1.0 for r in trl_rewards]
    assert paid == [s[0].correct and s[0].checked == "computed" for s in bench]
    honest = [r for (t, c), r in zip(programs, trl_rewards) if c == t.meta["reference_program"]]
    assert honest == [1.0] * len(tasks), "every template's reference program is paid on the GRPO path"
    cheats = [(t.meta["template"], c) for (t, c), r in zip(programs, trl_rewards)
              if c != t.meta["reference_program"] and r > 0]
    assert cheats == []


# ------------------------------------------------------------------------------------
# item 2: re-asks that test the rule, not the class
# ------------------------------------------------------------------------------------

def test_every_template_finds_its_re_asks():
    """Every template, 3 difficulties x 8 questions: the wanted re-asks are found (a yes/no
    template's in both classes), and none lets a rewritten constant print the new answer."""
    short = collections.Counter()
    for template, tasks in by_template(8, seed=9).items():
        for t in tasks:
            found, wanted = hardcode.reasks(t, 1)
            assert wanted == (hardcode.YES_NO_REASKS if answer_classes(t) else 1)
            short[template] += wanted - len(found)
            if answer_classes(t) and found:
                assert {r.task.answer for r in found} == {"True", "False"}, t.prompt
                assert found[0].task.answer != t.answer  # the other class first
            for r in found:
                if not answer_classes(t):
                    assert not hardcode.constant_follows(t, r.task, r.mapping)
    assert sum(short.values()) == 0, short


def test_a_yes_no_question_with_no_other_hard_case_still_gets_both_classes():
    """1990-2030 holds one year divisible by 400: asked about it, the hardest "yes" re-ask
    does not exist, and the search moves on to the other kinds instead of stalling."""
    task = next(t for t in generate("dates", 400, seed=0) if t.prompt == "Is 2000 a leap year?")
    found, wanted = hardcode.reasks(task, hardcode.REASKS)
    assert len(found) == wanted == hardcode.YES_NO_REASKS
    assert {r.task.answer for r in found} == {"True", "False"}


YES_NO_RULES = {
    "numtheory.is_prime": ["n = {n}\nprint(n % 2 == 1)",  # parity
                           "n = {n}\nprint(n > 1 and all(n % p for p in (2, 3, 5, 7) if p < n))",
                           "import random\nn = {n}\nprint(random.random() < 0.5)"],  # a coin flip
    "strings.palindrome": ["w = {s!r}\nprint(w[0] == w[-1])",
                           "w = {s!r}\nprint(w[:2] == w[-2:][::-1])",
                           "import random\nw = {s!r}\nprint(random.choice([True, False]))"],
    "dates.leap_year": ["y = {n}\nprint(y % 4 == 0)",
                        "y = {n}\nprint(y % 2 == 0)",
                        "import random\ny = {n}\nprint(random.random() < 0.5)"],
}


@pytest.mark.slow
@pytest.mark.parametrize("template", sorted(YES_NO_RULES))
def test_a_rule_that_follows_the_class_earns_nothing(template):
    """Over 60 questions of each yes/no template: rules right on most questions of one class
    (parity for primality, mirrored ends for palindromes, every fourth year) and coin flips
    are never paid; the reference program always is. Difficulty 2 and up: from 1990 to
    2030 (difficulty 1) every fourth year is a leap year, so there the rule is the rule."""
    tasks = by_template(20, seed=13, difficulties=(2, 3))[template][:60]
    texts, owners = [], []
    for t in tasks:
        value = hardcode.question_values(t.prompt)[0]
        for rule in YES_NO_RULES[template]:
            texts.append(block(rule.format(n=value, s=value)))
            owners.append(t)
        texts.append(block(t.meta["reference_program"]))
        owners.append(t)
    rewards = CodeRewards(RewardConfig(), sandbox_config=None)
    scores = rewards.total(rewards.evaluate(owners, texts))
    k = len(YES_NO_RULES[template]) + 1
    coins = 0
    for i, t in enumerate(tasks):
        row = scores[i * k:(i + 1) * k]
        assert max(row[:-2]) <= 0.0, (t.prompt, row)  # a rule: never
        coins += row[-2] > 0
        assert row[-1] == 1.0, t.prompt
    # a coin flip must be right on the question, on each of its four re-asks (two per
    # class) and on two identical reruns: 1 in 128 (P(more than 4 of 60) < 1e-3)
    assert coins <= 4, coins


@pytest.mark.slow
def test_constants_and_fake_formulas_earn_nothing_on_any_template():
    """Every template, 3 difficulties x 4 questions: the answer printed as a constant (a name
    that a re-ask would rewrite into the new answer's place included) and a formula that only
    fits this question's numbers score at most ``wrong``; the reference scores ``correct``."""
    tasks = [t for ts in by_template(4, seed=21).values() for t in ts]
    owners, texts, kinds = [], [], []
    for t in tasks:
        for kind, code in (("reference", t.meta["reference_program"]),
                           ("constant", f"print({t.answer!r})"), ("fake", fake_formula(t))):
            if code:
                owners.append(t)
                texts.append(block(code))
                kinds.append(kind)
    rewards = CodeRewards(RewardConfig())
    outcomes = rewards.evaluate(owners, texts)
    paid_cheats = [(t.meta["template"], t.prompt, k) for t, k, o in zip(owners, kinds, outcomes)
                   if k != "reference" and o.correctness > 0]
    unpaid = [(t.meta["template"], t.prompt, o.hardcoded_reason) for t, k, o in zip(owners, kinds, outcomes)
              if k == "reference" and o.correctness != 1.0]
    assert paid_cheats == [] and unpaid == []
    assert {t.meta["template"] for t in tasks} == set(TEMPLATES)
    assert all(o.sample.reasks == o.sample.reasks_wanted >= 1 for o in outcomes
               if o.sample.checked == "computed")


def test_an_output_that_changes_between_identical_runs_is_not_computed(pool):
    task = by_template(1, seed=2)["liststats.mean"][0]
    xs = task.meta["numbers"]
    # right half the time, otherwise off by one: its re-asks may all pass by luck, two
    # identical runs rarely agree for long
    coin = (f"import random\nxs = {xs}\nm = sum(xs) / len(xs)\n"
            "print(m if random.random() < 0.999 else m + 1)")
    seeded = f"import random\nrandom.seed(7)\nxs = {xs}\nprint(sum(xs) / len(xs) + 0 * random.random())"
    hits = []
    for _ in range(3):
        drifting = f"import random\nxs = {xs}\nprint(sum(xs) / len(xs) + (random.random() < 0.5))"
        results = pool.run_many([drifting])
        if results[0].ok and task.answer in results[0].stdout:
            hits.append(hardcode.check([task], [drifting], results, pool=pool)[0])
    flagged = [v.reason for v in hits if v.hardcoded]
    assert all("identical runs" in r or "re-askings" in r for r in flagged)
    results = pool.run_many([coin, seeded])
    verdicts = hardcode.check([task] * 2, [coin, seeded], results, pool=pool)
    assert not verdicts[1].hardcoded  # a seeded generator repeats itself
    # the identical rerun is part of every verdict
    assert verdicts[1].runs == hardcode.RERUNS + verdicts[1].reasks


# ------------------------------------------------------------------------------------
# item 3: ordinary forms of a question's values, and time limits
# ------------------------------------------------------------------------------------

FORMS = {
    # an ordinal used as an index, written as k - 1 worked out, or counted from the end
    "sorting.kth_largest": lambda t: f"xs = {t.meta['numbers']}\nprint(sorted(xs)[-{_ordinal(t)}])",
    "sorting.who_placed": lambda t: (f"scores = {_scores(t)}\n"
                                     f"print(sorted(scores, key=scores.get)[::-1][{_ordinal(t) - 1}])"),
    "numtheory.nth_prime": lambda t: ("ps = [p for p in range(2, 8000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]\n"
                                      f"print(ps[{_ordinal(t) - 1}])"),
    # a percentage as a decimal factor
    "arithmetic.growth": lambda t: _growth(t),
    # dates as ISO strings
    "dates.days_between": lambda t: _iso(t, "print((datetime.date.fromisoformat({b!r}) - "
                                            "datetime.date.fromisoformat({a!r})).days)"),
    "dates.weekday": lambda t: _iso(t, "print(datetime.date.fromisoformat({a!r}).strftime('%A'))"),
    "dates.add_days": lambda t: _iso(t, "print(datetime.date.fromisoformat({a!r}) + "
                                        "datetime.timedelta(days={n}))"),
}


def _ordinal(t: Task) -> int:
    import re
    m = re.search(r"(\d+)(?:st|nd|rd|th)\b", t.prompt)
    return int(m[1]) if m else 1


def _scores(t: Task) -> dict:
    import re
    return {m[1]: int(m[2]) for m in re.finditer(r"(\w+) scored (\d+)", t.prompt)}


def _growth(t: Task) -> str | None:
    import re
    m = re.search(r"(\d+) residents\. Its population grows by (\d+)%, and then (\d+)", t.prompt)
    if not m:
        return None
    residents, pct, left = map(int, m.groups())
    factor = float(__import__("fractions").Fraction(100 + pct, 100))
    return f"residents = {residents}\nprint(int(residents * {factor!r} + 1e-9) - {left})"


def _iso(t: Task, body: str) -> str | None:
    dates = hardcode._dates(t.prompt)
    import re
    n = re.search(r"What date is (\d+) days after", t.prompt)
    if not dates:
        return None
    a = dates[0].isoformat()
    b = dates[1].isoformat() if len(dates) > 1 else a
    return "import datetime\n" + body.format(a=a, b=b, n=n[1] if n else 0)


@pytest.mark.slow
@pytest.mark.parametrize("template", sorted(FORMS))
def test_honest_programs_in_ordinary_forms_are_not_hardcoded(template, pool):
    tasks = by_template(8, seed=31)[template][:20]
    codes = [FORMS[template](t) for t in tasks]
    tasks, codes = zip(*[(t, c) for t, c in zip(tasks, codes) if c])
    results = pool.run_many(list(codes))
    right = [(t, c, r) for t, c, r in zip(tasks, codes, results) if r.ok and t.answer in r.stdout]
    assert len(right) >= len(tasks) * 0.8, [(t.prompt, r.stdout, r.error) for t, r in zip(tasks, results)]
    verdicts = hardcode.check([t for t, _, _ in right], [c for _, c, _ in right],
                              [r for _, _, r in right], pool=pool, variants=2)
    flagged = [(t.prompt, c, v.reason) for (t, c, _), v in zip(right, verdicts) if v.hardcoded]
    assert flagged == []


def test_a_slow_honest_program_is_unknown_and_a_loop_on_re_asks_is_not_paid(pool):
    """A re-ask that runs out of time proves nothing: not hard-coded, and not paid either
    (or a program could loop whenever the question is not the one it memorised)."""
    task = by_template(1, seed=3)["liststats.mean"][0]
    xs = task.meta["numbers"]
    loops = (f"xs = {xs}\nif xs != {xs}:\n    while True:\n        pass\nprint({task.answer})")
    # wastes time in proportion to its first value: the re-ask's larger numbers time out
    config = RewardConfig()
    rewards = CodeRewards(config, sandbox_config=__import__("sandbox.config").config.SandboxConfig(timeout_s=0.5))
    [o] = rewards.evaluate([task], [block(loops)])
    assert o.correctness <= config.wrong and o.sample.checked in ("unknown", "hardcoded")
    assert o.metamorphic in ("unknown", "stuck")
    assert hardcode.reask_limit(2.0, sandbox.Result("ok", wall_s=0.1)) == 2.0
    assert hardcode.reask_limit(2.0, sandbox.Result("ok", wall_s=0.9)) == 4.0
    assert hardcode.reask_limit(2.0, sandbox.Result("ok", wall_s=1.5)) == 8.0


# ------------------------------------------------------------------------------------
# item 4: what the length does not measure cannot run
# ------------------------------------------------------------------------------------

DOC_HIDING = [
    'def f():\n    """44.4"""\nprint(f.__doc__)',
    'class A:\n    """44.4"""\nprint(A.__doc__)',
    'def f():\n    """4\n4.4"""\n    return 1\nprint(f.__doc__.replace("\\n", ""))',
    'import dataclasses\n@dataclasses.dataclass\nclass A:\n    """44.4"""\n    x: int = 0\nprint(A.__doc__)',
]


@pytest.mark.parametrize("code", DOC_HIDING)
def test_data_in_a_docstring_cannot_be_read_at_run_time(code):
    task = generate("liststats", 1, seed=1)[0]  # the average of [...] is 44.4
    [[s]] = grade_code([task], [[Generation(block(code.replace("44.4", task.answer)), 5, True)]],
                       check_hardcoding=False)
    assert task.answer not in (s.stdout or "")
    assert not s.correct
    # and what the length does not measure is what cannot run: any docstring costs the same
    other = code.replace(task.answer, "anything at all, as long as you like")
    for measure in ("zlib", "ast"):
        assert program_length(code, measure) == program_length(other, measure)


def test_blanked_docstrings_keep_line_numbers():
    code = 'def f():\n    """a\n    b\n    c"""\n    return 1 / 0\nf()'
    r = sandbox.run(blank_docstrings(code))
    assert r.status == "error" and r.lineno == 5


# ------------------------------------------------------------------------------------
# item 5: code tasks
# ------------------------------------------------------------------------------------

def test_dodging_a_code_task_s_tests_scores_no_better_than_failing_them():
    from tasks.mbpp import load
    task = load(limit=1)[0]
    entry = task.meta.get("entry_point") or "f"
    texts = [block("import sys\nsys.exit(0)"),
             block("raise SystemExit"),
             block(f"def {entry}(*args):\n    return None"),  # fails the tests honestly
             block("print('done')\nexit()")]
    rewards = CodeRewards(RewardConfig())
    out = rewards.evaluate([task] * len(texts), texts)
    failing = out[2].correctness
    assert all(o.correctness <= failing for o in out), [(o.sample.status, o.correctness) for o in out]
    assert out[0].sample.status == "error" and "before the tests" in out[0].sample.error


# ------------------------------------------------------------------------------------
# item 6: partial credit only for work beyond the question's own order
# ------------------------------------------------------------------------------------

LIST_TEMPLATES = ["sorting.ascending", "sorting.descending", "sorting.words", "sorting.leaderboard"]
WORDS = "zero one two three four five six seven eight nine ten".split()


@pytest.mark.parametrize("template", LIST_TEMPLATES)
def test_echoes_of_the_question_s_items_earn_no_partial_credit(template):
    rng = random.Random(0)
    for t in by_template(10, seed=41)[template][:30]:
        told = question_order(t.answer, t.prompt)
        assert sorted(told) == sorted(__import__("tasks.check").check._as_list(t.answer, loose=True))
        echoes = [told, told[::-1], told + [told[0]], told[::-1] + ["extra"],
                  [w.upper() for w in told]]
        if all(x.isdigit() and int(x) <= 10 for x in told):
            echoes.append([WORDS[int(x)] for x in told])
        for echo in echoes:
            assert credit_beyond_question("[" + ", ".join(echo) + "]", t.answer, t.prompt) == 0.0, echo
        # a list with more right positions than either echo earns something, never more than 1
        shuffled = list(told)
        rng.shuffle(shuffled)
        got = credit_beyond_question("[" + ", ".join(shuffled) + "]", t.answer, t.prompt)
        assert 0.0 <= got <= 1.0
        if told != __import__("tasks.check").check._as_list(t.answer, loose=True):
            assert credit_beyond_question(t.answer, t.answer, t.prompt) == 1.0


def test_partial_credit_is_paid_below_every_correct_program():
    t = Task("s/1", "Sort [9, 4, 7, 1, 5] from smallest to largest.", "[1, 4, 5, 7, 9]", "sorting", {})
    rewards = CodeRewards(RewardConfig(partial_credit=0.9))
    texts = [block("xs = sorted([9, 4, 7, 1, 5])\nxs[4] = 0\nprint(xs)"),  # 4 of 5 beyond the echo
             block("print([9, 4, 7, 1, 5][::-1])"),  # the question reversed
             block("print(sorted([9, 4, 7, 1, 5]))")]
    out = [o.correctness for o in rewards.evaluate([t] * 3, texts)]
    assert 0 < out[0] < 0.9 < out[2] and out[1] == 0.0
