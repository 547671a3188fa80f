"""HumanEval and MBPP graded by their own tests in the sandbox, and the harness's refusals."""
from __future__ import annotations

import ast
import dataclasses
import json

import pytest

import sandbox
from tasks import humaneval, mbpp
from tasks.check import grade
from tasks.codetest import TIME_LIMITS
from tasks.sources import find_file

# MBPP's regexes ("\\d" in plain strings) warn when the sandbox compiles them in this process.
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence")


@pytest.fixture(scope="module")
def he():
    return {t.id: t for t in humaneval.load()}


@pytest.fixture(scope="module")
def mb():
    return {t.id: t for t in mbpp.load()}


def _passes(module, pairs, timeout_s=None):
    """Grades and results; each task under its own limit (meta["timeout_s"], else 2 s)
    unless ``timeout_s`` is given."""
    results = [None] * len(pairs)
    limits = [timeout_s or t.meta.get("timeout_s", 2.0) for t, _ in pairs]
    for limit in set(limits):
        at = [i for i, x in enumerate(limits) if x == limit]
        programs = [module.test_program(*pairs[i]) for i in at]
        for i, r in zip(at, sandbox.run_many(programs, timeout_s=limit)):
            results[i] = r
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
    # Each under its own limit: mbpp/123's reference (amicable numbers below 9999,
    # quadratic) needs ~4 s alone, and tasks/code_time_limits.json gives it 4 x that.
    pairs = [(t, t.meta["reference_code"]) for t in mb.values()]
    passed, results = _passes(mbpp, pairs)
    assert not [(t.id, r.error) for (t, _), ok, r in zip(pairs, passed, results) if not ok]


def test_sanitized_mbpp_loads_and_a_sample_passes():
    path = find_file("mbpp/sanitized-mbpp.jsonl")
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


def test_mbpp_prompt_shows_one_test_and_all_of_them_grade(mb):
    t = mb["mbpp/11"]  # three asserts and two challenge tests
    row = next(json.loads(line) for line in open(find_file("mbpp/mbpp.jsonl"))
               if json.loads(line)["task_id"] == 11)
    assert t.meta["entry_point"] == "remove_Occ"
    assert t.meta["shown_tests"] == row["test_list"][:1] and row["test_list"][0] in t.prompt
    assert t.meta["tests"] == row["test_list"] + row["challenge_test_list"]
    assert len(t.meta["tests"]) == 5 and not any(x in t.prompt for x in t.meta["tests"][1:])
    assert all(len(t.meta["tests"]) >= 3 and t.meta["tests"][0] in t.prompt for t in mb.values())


def _lookup_cheat(task) -> str:
    """The shown assert's expected value for its shown arguments, else None."""
    test = ast.parse(task.meta["shown_tests"][0]).body[0].test
    call, expected = test.left, test.comparators[0]
    args = ", ".join(ast.unparse(a) for a in call.args)
    kwargs = ", ".join(f"{k.arg!r}: {ast.unparse(k.value)}" for k in call.keywords)
    return (f"def {call.func.id}(*args, **kwargs):\n"
            f"    if (list(args), kwargs) == ([{args}], {{{kwargs}}}):\n"
            f"        return {ast.unparse(expected)}\n"
            f"    return None\n")


def test_a_lookup_table_of_the_shown_test_fails_the_hidden_ones(mb):
    tasks = list(mb.values())
    cheats = [(t, _lookup_cheat(t)) for t in tasks]
    # the cheat is real: it passes the test it was built from (all but mbpp/367, whose
    # setup code needs the reference's Node class)
    shown = [(dataclasses.replace(t, meta=dict(t.meta, tests=t.meta["shown_tests"])), c)
             for t, c in cheats]
    assert sum(_passes(mbpp, shown)[0]) >= 0.99 * len(tasks)
    passed = [t.id for (t, _), ok in zip(cheats, _passes(mbpp, cheats)[0]) if ok]
    # 1 of 500 (0.2%): mbpp/37, whose three asserts are the same assert
    assert len(passed) < 0.05 * len(tasks), passed


def test_tests_using_a_module_they_do_not_import_get_it():
    # mbpp/596's asserts compare with sys.getsizeof(...) and never import sys.
    t = next(t for t in mbpp.load(split="validation") if t.id == "mbpp/596")
    assert "sys.getsizeof" in t.meta["tests"][0] and "import" not in t.meta["test_setup_code"]
    own = "from sys import getsizeof\ndef tuple_size(t):\n    return getsizeof(t)\n"
    assert _passes(mbpp, [(t, t.meta["reference_code"]), (t, own)])[0] == [True, True]
    # the program still may not rebind the name the tests use, at import or during a call
    fake = "class S:\n    def getsizeof(self, x):\n        return 0\n"
    for rebinding in ["sys = S()\n", "def f():\n    global sys\n    sys = S()\n",
                      "import math as sys\n"]:
        program = fake + rebinding + "def tuple_size(t):\n    return 0\n"
        r = sandbox.run(mbpp.test_program(t, program))
        assert r.status == "error" and "rebinds sys" in r.error, r.error


def test_slow_references_get_a_limit_with_a_margin():
    limits = json.loads(TIME_LIMITS.read_text())
    assert "mbpp/123" in limits
    tasks = {t.id: t for t in mbpp.load(split="all") + humaneval.load() if t.id in limits}
    assert set(tasks) == set(limits)
    assert all(t.meta["timeout_s"] == limits[t.id] for t in tasks.values())
    assert "timeout_s" not in mbpp.load(limit=1)[0].meta
    for t in tasks.values():
        module = mbpp if t.family == "mbpp" else humaneval
        reference = t.meta.get("reference_code") or t.meta["code_prompt"] + t.meta["canonical_solution"]
        [ok], [r] = _passes(module, [(t, reference)])
        # the reference passes under its own limit (one out of time does not pass). How wide the
        # margin is depends on the CPU: bench/code_time_limits.py measures it, no test times it
        assert ok and r.status == "ok", (t.id, r)


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


@pytest.mark.parametrize("module", [humaneval, mbpp])
def test_a_clean_exit_before_the_tests_is_not_a_pass(module):
    """sys.exit(0) keeps a program's output, so the harness marks that its tests all ran."""
    from tasks.check import grade
    task = module.load(limit=1)[0]
    reference = task.meta.get("reference_code") or task.meta["code_prompt"] + task.meta["canonical_solution"]
    for cheat in ("import sys\nsys.exit(0)\n", "import sys\nsys.exit()\n",
                  "import sys\nprint('latentcode-tests-done-0123456789abcdef')\nsys.exit(0)\n"):
        r = sandbox.run(module.test_program(task, cheat + reference))
        assert r.status == "ok" and not grade(task, r), (cheat, r)
    assert grade(task, sandbox.run(module.test_program(task, reference)))
