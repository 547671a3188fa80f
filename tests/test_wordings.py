"""Wordings never trained on, and the wordproblems family (issue 28, items 3 and 4)."""
from __future__ import annotations

import ast
import collections
import hashlib
import json
import random
from fractions import Fraction
from pathlib import Path

import pytest

import sandbox
from latentcode.expert import hardcode
from tasks.base import format_number
from tasks.check import grade
from tasks.config import SplitConfig, TaskConfig, load_split
from tasks.generators import FAMILIES, answer_classes, generate, regenerate
from tasks.splits import split
from tasks.suites import load_suite

HASHES = Path(__file__).parent / "fixtures" / "wording0_hashes.json"
TEMPLATES = [(f, name) for f in FAMILIES for name in FAMILIES[f].TEMPLATES]


def _rounds(family: str, rounds: int, *, seed: int, difficulty: int, wording: str):
    return generate(family, rounds * len(FAMILIES[family].TEMPLATES), seed=seed,
                    difficulty=difficulty, wording=wording)


def _snapshot(family: str, difficulty: int) -> str:
    """The questions the fixture hashed: as tests/fixtures/wording0_hashes.json was written."""
    rows = []
    for seed in (0, 7):
        tasks = _rounds(family, 3, seed=seed, difficulty=difficulty, wording="train")
        for t in tasks:
            rows.append([t.prompt, t.answer, t.meta["reference_program"], t.meta["numbers"],
                         t.meta["number_range"]])
        for t in tasks[::4]:
            r = regenerate(t, 3)
            rows.append([r.prompt, r.answer, r.meta["reference_program"]])
            for cls in answer_classes(t):
                for hard in (True, False):
                    r = regenerate(t, 5, answer=cls, hard=hard)
                    rows.append([r.prompt, r.answer])
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def test_wording_0_is_today_s_prompts():
    """Every family that existed before wordings asks (and re-asks) exactly what it asked
    then, so every recorded figure stays reproducible."""
    want = json.loads(HASHES.read_text())["hashes"]
    got = {key: _snapshot(key.split(":")[0], int(key.split(":")[1])) for key in want}
    assert got == want
    assert {key.split(":")[0] for key in want} == set(FAMILIES) - {"wordproblems"}


@pytest.mark.parametrize("family,name", TEMPLATES)
def test_three_held_out_wordings_distinct_from_training(family, name):
    for d in (1, 3, 5):
        draft = FAMILIES[family].TEMPLATES[name](random.Random(f"w:{d}"), d)
        trained = (draft.prompt, *draft.train_wordings)
        assert len(draft.heldout_wordings) >= 3
        assert len(set(draft.wordings)) == len(draft.wordings), draft.wordings
        # written from scratch: no held-out wording opens as a training one does
        openings = {" ".join(p.split()[:4]) for p in trained}
        assert not [p for p in draft.heldout_wordings if " ".join(p.split()[:4]) in openings]
        assert all(p.endswith((".", "?")) for p in draft.wordings)


@pytest.mark.parametrize("family", FAMILIES)
def test_held_out_wordings_ask_the_same_question(family):
    """Same seed, same values, answer and reference program; only the wording moves, and
    the held-out set takes turns through every held-out wording of each template."""
    seen = collections.defaultdict(set)
    for d in (1, 2, 4):
        train = _rounds(family, 3, seed=11, difficulty=d, wording="train")
        held = _rounds(family, 3, seed=11, difficulty=d, wording="heldout")
        for a, b in zip(train, held):
            assert (a.answer, a.meta["numbers"], a.meta["reference_program"], a.meta["number_range"]) == \
                (b.answer, b.meta["numbers"], b.meta["reference_program"], b.meta["number_range"])
            assert a.prompt != b.prompt and a.id == b.id
            assert (a.meta["wording"], b.meta["wording"]) == ("train", "heldout")
            seen[b.meta["template"]].add(b.meta["wording_index"])
    assert all(len(indices) == 3 for indices in seen.values()), seen


def test_held_out_reference_programs_are_right_in_the_sandbox():
    tasks = [t for f in FAMILIES for d in (1, 3, 5)
             for t in _rounds(f, 3, seed=2, difficulty=d, wording="heldout")]
    results = sandbox.run_many([t.meta["reference_program"] for t in tasks])
    wrong = [(t.prompt, r.status, r.stdout[-60:], t.answer) for t, r in zip(tasks, results) if not grade(t, r)]
    assert wrong == []


def test_regenerate_keeps_the_wording():
    for f in FAMILIES:
        for t in _rounds(f, 1, seed=4, difficulty=2, wording="heldout"):
            r = regenerate(t, 1)
            assert (r.meta["wording"], r.meta["wording_index"]) == ("heldout", t.meta["wording_index"])
            for cls in answer_classes(t):
                r = regenerate(t, 2, answer=cls)
                assert r.meta["wording_index"] == t.meta["wording_index"] and r.answer == cls


def test_held_out_wordings_find_their_re_asks():
    """Every held-out wording of every template, 3 difficulties x 3 questions: the wanted
    re-asks are found, in the same wording (lists written without brackets included)."""
    short = collections.Counter()
    for f in FAMILIES:
        for d in (1, 2, 3):
            for t in _rounds(f, 9, seed=9, difficulty=d, wording="heldout"):
                found, wanted = hardcode.reasks(t, 1)
                short[t.meta["template"], t.meta["wording_index"]] += wanted - len(found)
                for r in found:
                    assert r.task.meta["wording_index"] == t.meta["wording_index"]
                    if not answer_classes(t):
                        assert not hardcode.constant_follows(t, r.task, r.mapping)
    assert sum(short.values()) == 0, {k: v for k, v in short.items() if v}


def test_a_list_without_brackets_maps_whole():
    old = "Find the mean of these numbers: 3, 0, 1, 300, 2."
    new = "Find the mean of these numbers: 4, 7, 1, 9, 2, 8."
    assert hardcode.prompt_mapping(old, new) == {("list", 3, 0, 1, 300, 2): [4, 7, 1, 9, 2, 8]}
    code = "values = [3, 0, 1, 300, 2]\nprint(sum(values) / len(values))"
    assert hardcode.substitute(code, hardcode.prompt_mapping(old, new)) == \
        "values = [4, 7, 1, 9, 2, 8]\nprint(sum(values) / len(values))"
    # a date's "5, 2024" is not a list
    assert hardcode.prompt_mapping("What day was March 5, 2024?", "What day was March 6, 2024?")[5.0] == 6


@pytest.fixture(scope="module")
def pool():
    p = sandbox.Pool(2)
    yield p
    p.close()


@pytest.mark.slow
def test_references_pass_the_hard_coding_check_in_held_out_wordings(pool):
    tasks = [t for f in FAMILIES for t in _rounds(f, 3, seed=13, difficulty=2, wording="heldout")]
    programs = [t.meta["reference_program"] for t in tasks]
    results = pool.run_many(programs)
    verdicts = hardcode.check(tasks, programs, results, pool=pool)
    bad = [(t.prompt, v.reason) for t, v in zip(tasks, verdicts) if v is None or v.hardcoded or v.unknown]
    assert bad == []


# ------------------------------------------------------------------------------------
# the wordproblems family
# ------------------------------------------------------------------------------------

def _operations(program: str) -> int:
    return sum(isinstance(node, ast.BinOp) for node in ast.walk(ast.parse(program)))


def _literals(program: str) -> set:
    return {node.value for node in ast.walk(ast.parse(program))
            if isinstance(node, ast.Constant) and isinstance(node.value, int)}


def test_word_problems_have_one_to_four_operations_more_with_difficulty():
    ops = {d: {t.meta["template"]: _operations(t.meta["reference_program"])
               for t in _rounds("wordproblems", 1, seed=0, difficulty=d, wording="train")}
           for d in range(1, 6)}
    assert all(1 <= n <= 4 for by_template in ops.values() for n in by_template.values()), ops
    assert all(ops[3][name] > ops[1][name] for name in ops[1]), ops
    assert min(ops[1].values()) == 1 and max(ops[5].values()) == 4


def test_word_problems_carry_a_distractor_and_exact_answers():
    tasks = [t for d in range(1, 6) for t in _rounds("wordproblems", 4, seed=3, difficulty=d, wording="train")]
    for t in tasks:
        # distinct, and none structural (0, 1, 2): every value moves on a re-ask, alone
        assert len(set(t.meta["numbers"])) == len(t.meta["numbers"]) and min(t.meta["numbers"]) >= 3
        unused = set(t.meta["numbers"]) - _literals(t.meta["reference_program"])
        assert unused, f"no distractor in {t.prompt}"
        assert all(str(x) in t.prompt for x in unused)
        assert format_number(Fraction(t.answer)) == t.answer and Fraction(t.answer) >= 0
    assert any(Fraction(t.answer).denominator > 1 for t in tasks), "shares and discounts that do not come out whole"
    assert len({t.meta["wording_index"] for t in tasks}) == 2, "both training wordings are drawn"


def test_word_problems_change_names_objects_and_numbers():
    tasks = _rounds("wordproblems", 6, seed=0, difficulty=2, wording="train")
    by_template = collections.defaultdict(list)
    for t in tasks:
        by_template[t.meta["template"]].append(set(t.prompt.replace(".", " ").replace(",", " ").split()))
    for name, word_sets in by_template.items():
        assert len({frozenset(w) for w in word_sets}) == 6, name


# ------------------------------------------------------------------------------------
# splits and suites
# ------------------------------------------------------------------------------------

def test_eval_wording_holds_out_wordings_for_the_held_out_set_only():
    train, held = load_split(TaskConfig(suite="generated"), SplitConfig(train_size=40, eval_size=24,
                                                                        eval_wording="heldout"))
    assert {t.meta["wording"] for t in train} == {"train"} and {t.meta["wording"] for t in held} == {"heldout"}
    assert "wordproblems" in {t.family for t in train} | {t.family for t in held}
    train, held = load_split(TaskConfig(suite="liststats"), SplitConfig(train_size=10, eval_size=6))
    assert {t.meta["wording"] for t in train + held} == {"train"}
    with pytest.raises(ValueError, match="would train on the held-out wordings"):
        load_split(TaskConfig(suite="liststats", wording="heldout"), SplitConfig())
    with pytest.raises(ValueError, match="eval_wording apply to generated suites"):
        load_split(TaskConfig(suite="svamp"), SplitConfig(eval_wording="heldout"))
    with pytest.raises(ValueError, match="wording must be one of train, heldout"):
        SplitConfig(eval_wording="test")


def test_generated_holds_out_word_problems_as_a_family():
    train, held = load_split(TaskConfig(suite="generated"), SplitConfig(train_size=30, eval_size=8,
                                                                        held_out_families="wordproblems"))
    assert {t.family for t in held} == {"wordproblems"} and "wordproblems" not in {t.family for t in train}
    tasks = load_suite("generated", n=2 * len(FAMILIES), wording="heldout")
    assert {t.family for t in tasks} == set(FAMILIES) and {t.meta["wording"] for t in tasks} == {"heldout"}
    assert split(tasks, held_out_families=("wordproblems",))[1]
    with pytest.raises(ValueError, match="applies to generated suites"):
        load_suite("gsm8k", n=2, wording="heldout")
    with pytest.raises(ValueError, match="wording must be one of"):
        generate("liststats", 1, wording="unseen")


def test_the_mdl_unit_does_not_move_with_a_new_family():
    """The MDL reward's unit is the median reference length of the seven families the
    recorded figures used (22.375 AST nodes, 404 zlib bits); wordproblems would move it."""
    from latentcode.expert.mdl import reference_length
    assert (reference_length("ast"), reference_length("zlib")) == (22.375, 404.0)
