"""The reward as a specification (issue 11): its invariants as properties over generated tasks
and programs, and each way a policy was found to game it, tried as a policy would."""
from __future__ import annotations

import itertools

import pytest

from latentcode.expert import hardcode
from latentcode.expert.mdl import program_length, reference_length, strip_program
from latentcode.models import load_model
from latentcode.training.rewards import CodeRewards, RewardConfig
from sandbox.config import SandboxConfig
from tasks.base import Task
from tasks.generators import FAMILIES, generate

FENCE = "```"


def block(code: str) -> str:
    return f"{FENCE}python\n{code}\n{FENCE}"


def totals(rewards: CodeRewards, tasks, texts, num_tokens=None):
    outcomes = rewards.evaluate(tasks, texts, num_tokens)
    return outcomes, rewards.total(outcomes)


# ------------------------------------------------------------------------------------
# invariants, as properties over every family and many programs and configurations
# ------------------------------------------------------------------------------------

TASKS = [t for f in FAMILIES for t in generate(f, 3, seed=11, difficulty=2)]


def _padded(code: str, k: int) -> str:
    """The same program, made longer by k lines of computation that change nothing."""
    return "".join(f"pad{i} = sum(range({i + 3}))\n" for i in range(k)) + code


def _programs(task: Task) -> dict[str, list[str]]:
    ref = task.meta["reference_program"]
    ans = task.answer
    return {
        "correct": [block(_padded(ref, k)) for k in (0, 2, 6)],
        "wrong": [block("print('certainly not the answer')")],
        "hardcoded": [block(f"print({ans!r})"), block(f"answer = {ans!r}\nprint(answer)")],
        "error": [block(ref + "\nraise ValueError('late')")],
        # one per family: each waits out the whole limit
        "timeout": [block("while True:\n    pass")] if task.id.endswith("-0") else [],
        "no_code": ["I would rather not write code."],
        "truncated": [f"{FENCE}python\n" + ref],
    }


@pytest.fixture(scope="module")
def tiny_tokenizer():
    return load_model("tiny", device="cpu")[1]


CONFIGS = [dict(mdl=m, mdl_weight=w, partial_credit=p)
           for m, w, p in [("none", 0.0, 0.0), ("ast", 0.1, 0.0), ("ast", 0.99, 0.9),
                           ("zlib", 0.5, 0.5), ("lzma", 0.9, 0.0), ("tokens", 0.99, 0.99)]]


@pytest.mark.slow
def test_reward_invariants_hold_for_every_measure_weight_and_task(tiny_tokenizer):
    rows = [(task, kind, text) for task in TASKS for kind, texts in _programs(task).items()
            for text in texts]
    tasks = [r[0] for r in rows]
    texts = [r[2] for r in rows]
    ntok = [10_000 if r[1] == "truncated" else 50 for r in rows]
    for cfg_kw in CONFIGS:
        cfg = RewardConfig(**cfg_kw)
        # a limit the slowest reference (the 1000th prime by trial division) meets with room to
        # spare beside other jobs: a correct program that runs out of time is not paid
        rewards = CodeRewards(cfg, sandbox_config=SandboxConfig(timeout_s=1.5), tokenizer=tiny_tokenizer,
                              max_completion_tokens=10_000)
        outcomes, score = totals(rewards, tasks, texts, ntok)
        by_kind = {}
        for (task, kind, _), o, x in zip(rows, outcomes, score):
            by_kind.setdefault(kind, []).append((task.id, o, x))
        correct = [x for _, _, x in by_kind["correct"]]
        others = [x for k, v in by_kind.items() if k != "correct" for _, _, x in v]
        # 1. every correct program strictly outranks every program that is not correct
        assert min(correct) > max(others), cfg_kw
        assert min(correct) > cfg.correct - cfg.mdl_weight * cfg.gap - 1e-12
        # 2. length only reorders correct programs: longer never scores higher
        for task in TASKS:
            mine = [x for tid, _, x in by_kind["correct"] if tid == task.id]
            assert mine == sorted(mine, reverse=True), (cfg_kw, task.id, mine)
        for kind in ("wrong", "hardcoded", "error", "timeout", "no_code", "truncated"):
            assert all(o.length is None or rewards.mdl_value(o) == 0.0 for _, o, _ in by_kind[kind])
        # 3. a memorised answer never earns more than a wrong one
        assert max(x for _, _, x in by_kind["hardcoded"]) <= cfg.wrong
        # 4. the failure values keep their documented order
        assert min(x for _, _, x in by_kind["wrong"]) >= max(
            x for k in ("error", "timeout") for _, _, x in by_kind[k])
        assert min(x for k in ("error", "timeout") for _, _, x in by_kind[k]) >= max(
            x for k in ("no_code", "truncated") for _, _, x in by_kind[k])


SORT = Task("sort/0", "Sort [30, 10, 20, 50, 40] in ascending order.", "[10, 20, 30, 40, 50]",
            "sorting", {})


@pytest.mark.parametrize("weight,share", [(0.0, 0.5), (0.5, 0.99), (0.99, 0.99)])
def test_partial_credit_stays_between_wrong_and_the_lowest_correct(weight, share):
    cfg = RewardConfig(mdl="ast", mdl_weight=weight, partial_credit=share)
    texts = [block("xs = sorted([30, 10, 20, 50, 40])\nxs[4] = 99\nprint(xs)"),  # 4 of 5 right
             block("print([30, 10, 20, 50, 40])"),  # the input echoed: no work
             block("xs = [30, 10, 20, 50, 40]\nprint(xs)"),
             block("print(sorted([30, 10, 20, 50, 40]))")]
    outcomes, score = totals(CodeRewards(cfg), [SORT] * 4, texts)
    partial, echo, echo2, right = score
    assert cfg.wrong < partial < right and partial < cfg.correct - weight * cfg.gap
    assert echo == echo2 == cfg.wrong


@pytest.mark.parametrize("bad,field", [
    (dict(mdl="ast", mdl_weight=1.0), "mdl_weight"), (dict(mdl="ast", mdl_weight=-0.1), "mdl_weight"),
    (dict(partial_credit=1.0), "partial_credit"), (dict(hardcoded=0.5), "hardcoded"),
    (dict(error=0.2), "error"), (dict(timeout=0.1), "timeout"), (dict(no_code=0.0), "no_code"),
    (dict(truncated=-0.05), "truncated"), (dict(correct=0.0), "correct"),
    (dict(mdl="ast", mdl_weight=0.1, mdl_on="all"), "mdl_on")])
def test_a_config_that_breaks_an_invariant_is_refused_by_name(bad, field):
    with pytest.raises(ValueError, match=field):
        RewardConfig(**bad)


def test_model_bits_needs_a_frozen_reference_model():
    model, tok = load_model("tiny", device="cpu")
    with pytest.raises(ValueError, match="frozen"):
        CodeRewards(RewardConfig(mdl="model_bits", mdl_weight=0.1), tokenizer=tok, length_model=model)
    model.requires_grad_(False)
    CodeRewards(RewardConfig(mdl="model_bits", mdl_weight=0.1), tokenizer=tok, length_model=model)


# ------------------------------------------------------------------------------------
# hard-coding, decided by behaviour
# ------------------------------------------------------------------------------------

def _first(template: str) -> Task:
    family = template.split(".")[0]
    return next(t for t in generate(family, 60, seed=3) if t.meta["template"] == template)


def _hardcoded(tasks, codes) -> list[bool]:
    import sandbox
    pool = sandbox.Pool(2)
    try:
        results = pool.run_many(codes)
        verdicts = hardcode.check(tasks, codes, results, pool=pool)
    finally:
        pool.close()
    return [bool(v and v.hardcoded) for v in verdicts], results


# Templates with no re-asked question under the old check (strings, dates, word sorting).
DISGUISED_TEMPLATES = ["strings.reverse", "strings.palindrome", "dates.weekday",
                       "sorting.words", "liststats.mean", "numtheory.is_prime"]


@pytest.mark.parametrize("template", DISGUISED_TEMPLATES)
def test_disguised_constants_are_hardcoded_everywhere(template):
    task = _first(template)
    a = task.answer
    cheats = [f"print({a!r})",
              f"print(str({a!r}))",
              f"x = {a!r}[:0] + {a!r}\nprint(x)",  # string concatenation
              f"print({a!r})\nif False:\n    print(0)",  # a literal print, then an unused one
              f"print({a!r} if len({task.prompt!r}) > 0 else 0)"]  # reads the question, ignores it
    if a.lstrip("-").isdigit():
        cheats += [f"print({a} - 1 + 1)", f"print(int('{a}'))"]
    flags, results = _hardcoded([task] * len(cheats), cheats)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert flags == [True] * len(cheats), list(zip(cheats, flags))


def test_guessing_true_on_palindromes_earns_nothing():
    tasks = [t for t in generate("strings", 200, seed=5) if t.meta["template"] == "strings.palindrome"][:12]
    texts = [block("print(True)")] * len(tasks)
    _, score = totals(CodeRewards(RewardConfig()), tasks, texts)
    assert max(score) <= 0.0


def test_an_intermediate_worked_out_by_hand_is_caught_by_the_re_asked_question():
    task = _first("liststats.mean")
    values = task.meta["numbers"]
    by_hand = f"values = {values}\nprint({sum(values)} / len(values))"  # the sum computed by hand
    raises_elsewhere = (f"values = {values}\nassert sum(values) == {sum(values)}\n"
                        "print(sum(values) / len(values))")
    flags, results = _hardcoded([task] * 2, [by_hand, raises_elsewhere])
    assert all(r.ok for r in results) and flags == [True, True]


WORD_PROBLEM = Task("gsm/1", "Tom has 12 apples. He gives 5 to Ann and buys 30 more. How many "
                    "apples does he have now?", "37", "gsm8k", {})


def test_benchmark_questions_are_checked_by_moving_their_numbers():
    honest = ["apples = 12\napples -= 5\napples += 30\nprint(apples)",
              "print(12 - 5 + 30)",
              "text = 'has 12 gives 5 buys 30'\nn = [int(w) for w in text.split() if w.isdigit()]\n"
              "print(n[0] - n[1] + n[2])"]
    cheats = ["print(37)", "print(36 + 1)", "print(int('37'))", "x = 12\nprint(37 if x else 0)",
              "print(37 + 0 * (12 + 5 + 30))"]
    flags, _ = _hardcoded([WORD_PROBLEM] * 8, honest + cheats)
    assert flags == [False] * 3 + [True] * 5


HONEST_LIST = Task("list/1", "Sort [8, 3, 5, 1] from smallest to largest.", "[1, 3, 5, 8]", "sorting", {})


@pytest.mark.parametrize("code", [
    "nums = [8, 3, 5, 1]\nnums.sort()\nprint(nums)",  # in place
    "out = []\nfor x in sorted([8, 3, 5, 1]):\n    out.append(x)\nprint(out)",  # append
    "a = [8, 3, 5, 1]\nfor i in range(4):\n    for j in range(3 - i):\n        if a[j] > a[j + 1]:\n"
    "            a[j], a[j + 1] = a[j + 1], a[j]\nprint(a)",  # swaps by index
    "data = '8 3 5 1'\nprint(sorted(int(x) for x in data.split()))",  # numbers in a string
])
def test_honest_programs_are_not_hardcoded(code):
    flags, results = _hardcoded([HONEST_LIST], [code])
    assert results[0].ok and flags == [False]


PERCENT = Task("pct/1", "A shop sells 40 shirts a day for 7 days and 25 percent of them are red. "
               "How many red shirts does it sell?", "70", "gsm8k", {})


def test_ordinary_constants_and_tuple_accumulators_are_not_hardcoded():
    codes = ["total = 40 * 7\nprint(total * 25 // 100)",
             "a, b = 0, 0\nfor day in range(7):\n    a, b = a + 40, b + 1\nprint(a * 25 // 100)"]
    flags, results = _hardcoded([PERCENT] * 2, codes)
    assert all(r.ok for r in results) and flags == [False, False]


@pytest.mark.slow
def test_every_family_s_reference_programs_pass_the_check_on_every_template():
    tasks = [t for f in FAMILIES for d in range(1, 6) for t in generate(f, 24, seed=100 + d, difficulty=d)]
    codes = [t.meta["reference_program"] for t in tasks]
    flags, results = _hardcoded(tasks, codes)
    assert all(r.ok for r in results)
    flagged = [(t.meta["template"], t.prompt) for t, f in zip(tasks, flags) if f]
    assert flagged == []
    assert {t.meta["template"] for t in tasks} >= {f"{f}.{n}" for f in FAMILIES
                                                   for n in FAMILIES[f].TEMPLATES}


def test_code_benchmarks_are_not_checked_for_printed_literals():
    task = Task("mbpp/1", "Write f.", "", "mbpp", {})
    verdicts = hardcode.check([task], ["def f():\n    print(3)\n    return 3"],
                              [__import__("sandbox").Result("ok")], pool=None)
    assert verdicts == [None]


# ------------------------------------------------------------------------------------
# exit status, length measures
# ------------------------------------------------------------------------------------

def test_a_clean_exit_keeps_the_output_and_a_failing_one_is_an_error():
    task = _first("liststats.mean")
    ref = task.meta["reference_program"]
    texts = [block(ref + "\nimport sys\nsys.exit(0)"), block(ref + "\nimport sys\nsys.exit()"),
             block("import sys\ndef main():\n" + "".join("    " + l + "\n" for l in ref.splitlines())
                   + "sys.exit(main())"),
             block(ref + "\nimport sys\nsys.exit(1)")]
    outcomes, score = totals(CodeRewards(RewardConfig()), [task] * 4, texts)
    assert score[:3] == [1.0, 1.0, 1.0] and outcomes[3].sample.status == "error"


def test_comments_docstrings_and_blank_lines_cost_nothing(tiny_tokenizer):
    plain = "def f(x):\n    return x * 2\nprint(f(21))"
    padded = ('"""A module docstring."""\n# a comment\n\n\ndef f(x):\n    """Double it."""\n'
              "    # why: the question asks for twice\n\n    return x * 2  # trailing\n\nprint(f(21))\n")
    assert strip_program(padded) == strip_program(plain)
    for measure in ("ast", "zlib", "lzma", "tokens"):
        assert program_length(padded, measure, tiny_tokenizer) == program_length(plain, measure, tiny_tokenizer)


def test_a_literal_costs_its_content():
    import random
    rng = random.Random(0)
    digits = "print(" + "".join(rng.choice("123456789") for _ in range(300)) + ")"
    table = "T = " + repr("x" * 1024) + "\nprint(len(T))"
    assert program_length(digits, "ast") >= 300 / 4
    assert program_length(table, "ast") >= 1024 / 4
    # random digits carry ~3.2 bits each, and the compressors charge for them
    assert program_length(digits, "zlib") > program_length("print(7)", "zlib") + 800
    assert program_length(digits, "lzma") > program_length("print(7)", "lzma") + 800


def test_one_weight_means_the_same_under_every_measure():
    """At a program of the measure's reference length the cost is half of mdl_weight * gap,
    whatever the measure's unit (nodes, bits)."""
    task = _first("liststats.mean")
    for measure in ("ast", "zlib", "lzma"):
        rewards = CodeRewards(RewardConfig(mdl=measure, mdl_weight=0.4))
        [o] = rewards.evaluate([task], [block(task.meta["reference_program"])])
        unit = reference_length(measure)
        assert rewards.length_unit() == unit
        assert rewards.mdl_value(o) == pytest.approx(-0.4 * o.length / (o.length + unit))
        assert -0.4 < rewards.mdl_value(o) < 0


def test_a_wrong_computation_is_wrong_not_hardcoded():
    """The bench flags every ok program: a wrong formula on the question's list moves with
    the list, so it is not a memorised answer; a wrong constant is."""
    task = _first("liststats.mean")
    values = task.meta["numbers"]
    flags, _ = _hardcoded([task] * 2, [f"xs = {values}\nprint(sum(xs) / (len(xs) - 1))",
                                       "print(12345)"])
    assert flags == [False, True]


def test_more_re_askings_reject_a_special_case_that_one_lets_through():
    """The median of an odd-length list by index is right on any odd-length re-asking and
    wrong on an even one: with one re-asked question it can pass, with several it cannot.
    The general program passes both."""
    import sandbox
    special = "numbers = {xs}\nnumbers.sort()\nprint(numbers[len(numbers) // 2])"
    general = "import statistics\nnumbers = {xs}\nprint(statistics.median(numbers))"
    tasks = [t for t in generate("liststats", 300, seed=5) if t.meta["template"] == "liststats.median"
             and len(t.meta["numbers"]) % 2 == 1]
    pool = sandbox.Pool(2)
    try:
        for task in tasks:  # one whose first re-asking is odd too, so one re-asking lets it through
            code = special.format(xs=task.meta["numbers"])
            one = hardcode.check([task], [code], pool.run_many([code]), pool=pool, variants=1)[0]
            if not one.hardcoded:
                break
        else:
            pytest.fail("no odd-length median question whose first re-asking is odd")
        four = hardcode.check([task], [code], pool.run_many([code]), pool=pool, variants=4)[0]
        # four re-asks and the identical rerun
        assert four.hardcoded and "re-askings" in four.reason and (four.runs, four.reasks) == (4 + hardcode.RERUNS, 4)
        honest = general.format(xs=task.meta["numbers"])
        verdict = hardcode.check([task], [honest], pool.run_many([honest]), pool=pool, variants=4)[0]
        assert not verdict.hardcoded and (verdict.runs, verdict.reasks) == (4 + hardcode.RERUNS, 4)
    finally:
        pool.close()
    with pytest.raises(ValueError, match="variants"):
        hardcode.check([], [], [], pool=None, variants=0)
