"""Finding programs in replies, truncation, program lengths, hard-coded outputs."""
from __future__ import annotations

import pytest

from latentcode.expert.extract import ast_node_count, extract_program
import sandbox
from latentcode.expert.hardcode import check
from tasks.base import Task
from latentcode.expert.mdl import lzma_bits, program_lengths, zlib_bits

FENCE = "```"


@pytest.mark.parametrize("text, finished, status, code", [
    (f"Sure:\n{FENCE}python\nprint(1)\n{FENCE}\nDone.", True, "ok", "print(1)"),
    (f"{FENCE}py\nx = 2\nx * 3\n{FENCE}", True, "ok", "x = 2\nx * 3"),
    (f"{FENCE}\nprint('bare fence')\n{FENCE}", True, "ok", "print('bare fence')"),
    (f"{FENCE}text\nnot code\n{FENCE}\n{FENCE}python\nprint(2)\n{FENCE}", True, "ok", "print(2)"),
    ("x = 5\nprint(x)", True, "ok", "x = 5\nprint(x)"),  # bare code
    ("The answer is 5.", True, "no_code", None),
    ("answer", True, "no_code", None),  # a lone name is prose, not a program
    (f"{FENCE}python\n\n{FENCE}", True, "no_code", None),
    # cut by the token limit: the fence never closed
    (f"{FENCE}python\nfor i in range(3):\n    print(i", False, "truncated", None),
    (f"{FENCE}python\nx = 1\nprint(x)\n", False, "truncated", None),
    # bare code cut mid-statement
    ("total = (1 +\n", False, "truncated", None),
    # a finished reply with a syntax error is run (and fails there), not called truncated
    (f"{FENCE}python\nprint(1 +)\n{FENCE}", True, "ok", "print(1 +)"),
])
def test_extract_program(text, finished, status, code):
    ex = extract_program(text, finished)
    assert ex.status == status, ex
    if code is not None:
        assert ex.code == code


def test_truncated_program_is_never_returned_as_runnable():
    ex = extract_program(f"{FENCE}python\ntotal = 0\nfor x in [1, 2, 3]:\n    total +=", False)
    assert ex.status == "truncated" and ex.reason


def test_ast_nodes_exist_even_for_broken_code():
    assert ast_node_count("x = 1") < ast_node_count("x = 1\ny = x * 2 + 3")
    assert ast_node_count("def f(:\n") > 0


def test_compressed_lengths_grow_with_content_and_start_near_zero():
    assert zlib_bits("") == 0 and lzma_bits("") == 0
    short, long = "print(1)", "import statistics\nprint(statistics.mean([3, 0, 1, 300, 2]))"
    assert zlib_bits(short) < zlib_bits(long)
    assert program_lengths(long)["ast_nodes"] == ast_node_count(long)


@pytest.mark.parametrize("code, hardcoded", [
    ('print("The answer is 42")', True),
    ("x = 42\nprint(x)", True),
    ("print(f'answer: {42}')", True),
    ("42", True),
    ("print(-5)", True),
    ("print(sum([1, 2]))", False),
    ("x = [1, 2]\nprint(sum(x))", False),
    ("x = 3\nx += 1\nprint(x)", False),
    ("def f():\n    return 2\nprint(f())", False),
    ("xs = [3, 0, 1]\nsum(xs) / len(xs)", False),
    ("for i in range(3):\n    print(i)", False),
    ("print('start')\nprint(len('abc'))", False),  # only the last print is the answer
])
def test_hardcoded_output_by_behaviour(code, hardcoded):
    """The same cases the old syntactic check had, decided by running them: a question that
    holds 1, 2, 3, 0 and 'abc' (and not 42 or 5), values moved in each program."""
    task = Task("q/1", "Use the numbers 1, 2, 3 and 0 and the word 'abc'.", "", "gsm8k", {})
    pool = sandbox.Pool(1)
    try:
        [v] = check([task], [code], pool.run_many([code]), pool=pool)
    finally:
        pool.close()
    assert v.hardcoded is hardcoded, v
