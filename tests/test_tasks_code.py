"""HumanEval and MBPP graded by their own tests in the sandbox, and the harness's refusals."""
from __future__ import annotations

import pytest

import sandbox
from tasks import humaneval, mbpp
from tasks.check import grade
from tasks.sources import data_dir

# MBPP's regexes ("\\d" in plain strings) warn when the sandbox compiles them in this process.
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence")


@pytest.fixture(scope="module")
def he():
    return {t.id: t for t in humaneval.load()}


@pytest.fixture(scope="module")
def mb():
    return {t.id: t for t in mbpp.load()}


def _passes(module, pairs, timeout_s=2.0):
    results = sandbox.run_many([module.test_program(t, p) for t, p in pairs], timeout_s=timeout_s)
    return [grade(t, r) for (t, _), r in zip(pairs, results)], results


def test_every_humaneval_canonical_solution_passes(he):
    # Both forms: a body continuing the prompt (the original harness), a complete function.
    tasks = list(he.values())
    pairs = [(t, t.meta["canonical_solution"]) for t in tasks]
    pairs += [(t, t.meta["code_prompt"] + t.meta["canonical_solution"]) for t in tasks]
    passed, results = _passes(humaneval, pairs)
    failed = [(t.id, r.error) for (t, _), ok, r in zip(pairs, passed, results) if not ok]
    assert not failed


def test_every_mbpp_test_split_reference_passes(mb):
    pairs = [(t, t.meta["reference_code"]) for t in mb.values()]
    # mbpp/123's reference (amicable numbers below 9999, quadratic) needs ~4 s alone.
    passed, results = _passes(mbpp, pairs, timeout_s=20.0)
    assert not [(t.id, r.error) for (t, _), ok, r in zip(pairs, passed, results) if not ok]


def test_sanitized_mbpp_loads_and_a_sample_passes():
    path = data_dir() / "mbpp" / "sanitized-mbpp.jsonl"
    tasks = mbpp.load(path)
    assert len(tasks) == 257 and len(mbpp.load(path, split="all")) == 427
    sample = [(t, t.meta["reference_code"]) for t in tasks[::5]]
    assert all(_passes(mbpp, sample, timeout_s=20.0)[0])
    with_imports = [t for t in tasks if t.meta["test_setup_code"]]
    assert with_imports and all("import" in t.meta["test_setup_code"] for t in with_imports)


def test_wrong_programs_fail(he, mb):
    h0, m11 = he["HumanEval/0"], mb["mbpp/11"]
    wrong = [(h0, "def has_close_elements(numbers, threshold):\n    return False\n"),
             (h0, "    return None\n"),
             (h0, "def some_other_name(numbers, threshold):\n    return True\n"),
             (h0, "def has_close_elements(numbers, threshold):\n    return True\n"),
             (h0, "def has_close_elements(numbers, threshold)\n    return True\n")]
    assert _passes(humaneval, wrong)[0] == [False] * len(wrong)
    assert _passes(mbpp, [(m11, "def remove_Occ(s, ch):\n    return s\n"),
                          (m11, "")])[0] == [False, False]


def test_a_main_block_is_not_run(he, mb):
    main = "\n\nif __name__ == '__main__':\n    print(1)\n    assert False\n"
    h2, m11 = he["HumanEval/2"], mb["mbpp/11"]
    right = [(h2, "def truncate_number(n):\n    return n % 1.0" + main)]
    assert _passes(humaneval, right)[0] == [True]
    assert _passes(mbpp, [(m11, m11.meta["reference_code"] + main)])[0] == [True]
    # the block is dropped, not refused: run as written, the sandbox would run it
    assert sandbox.run("if __name__ == '__main__':\n    assert False\n").status == "error"


def test_mbpp_prompt_shows_the_tests():
    t = mbpp.load(limit=1)[0]
    assert t.meta["entry_point"] == "remove_Occ" and t.meta["tests"][0] in t.prompt


ALWAYS_EQUAL = "class Anything:\n    def __eq__(self, other):\n        return True\n"


def test_an_object_equal_to_everything_does_not_pass(he, mb):
    h0, m11 = he["HumanEval/0"], mb["mbpp/11"]
    # The same trick passes the raw asserts: the guard is what stops it.
    raw = sandbox.run(ALWAYS_EQUAL + "def f(*a):\n    return Anything()\nassert f(1) == 2\n")
    assert raw.status == "ok"
    subclass = "class Yes(int):\n    def __eq__(self, other):\n        return True\n"
    hacks = [(humaneval, h0, ALWAYS_EQUAL + "def has_close_elements(*a):\n    return Anything()\n"),
             (humaneval, h0, subclass + "def has_close_elements(*a):\n    return Yes(0)\n"),
             (mbpp, m11, ALWAYS_EQUAL + "def remove_Occ(*a):\n    return Anything()\n")]
    for module, task, program in hacks:
        r = sandbox.run(module.test_program(task, program))
        assert r.status == "error" and "only plain values" in r.error, r.error


@pytest.mark.parametrize("rebinding", [
    "def abs(x):\n    return 0\n",
    "abs = lambda x: 0\n",
    "import math as abs\n",
    "def make():\n    global abs\n    abs = lambda x: 0\n",
    "if True:\n    for abs in [lambda x: 0]:\n        pass\n",
])
def test_rebinding_a_name_the_tests_use_fails(he, rebinding):
    # HumanEval/2 (truncate_number) checks abs(candidate(x) - y) < 1e-6.
    t = he["HumanEval/2"]
    program = rebinding + "def truncate_number(number):\n    return number % 1.0\n"
    r = sandbox.run(humaneval.test_program(t, program))
    assert r.status == "error" and "rebinds abs" in r.error, r.error
    honest = sandbox.run(humaneval.test_program(t, "def truncate_number(n):\n    return n % 1.0\n"))
    assert honest.status == "ok"


def test_redefining_a_prompt_helper_does_not_help(he):
    # HumanEval/38 checks decode_cyclic(encode_cyclic(s)) == s: identity for both would pass.
    t = he["HumanEval/38"]
    cheat = "def encode_cyclic(s):\n    return s\n\ndef decode_cyclic(s):\n    return s\n"
    r = sandbox.run(humaneval.test_program(t, cheat))
    assert (r.status, r.error_type) == ("error", "AssertionError")


def test_mbpp_helper_classes_are_allowed(mb):
    # mbpp/110's setup code builds trees from the reference's own Node class.
    t = next(t for t in mb.values() if t.meta["test_setup_code"])
    assert "Node" in t.meta["test_setup_code"]
    assert sandbox.run(mbpp.test_program(t, t.meta["reference_code"])).status == "ok"
