"""Answer checking: a table of right and wrong answers, final answers, and grading."""
from __future__ import annotations

from fractions import Fraction

import pytest

import sandbox
from sandbox import Result
from tasks.base import Task, format_number
from tasks.check import countdown_ok, extract_number, final_answer, grade, is_correct

MATCH = [
    ("42", "42"), ("42.0", "42"), (" 42 ", "42"), ("-7", "-7"),
    ("30.000000000000004", "30"),  # float noise on an integer answer
    ("1,234", "1234"), ("1234", "1,234"), ("1,234,567.5", "1234567.5"),
    ("3.3333333333333335", "10/3"), ("0.75", "3/4"), ("3/4", "0.75"), ("6/8", "3/4"),
    ("0.6667", "2/3"),  # a rounded reference answer (MAWPS writes 0.6667)
    ("25%", "25%"), ("25", "25%"), ("0.25", "25%"), ("25%", "0.25"), ("25 percent", "25"),
    ("$5", "5"), ("-$5", "-5"), ("$1,234.50", "1234.5"), ("12 apples", "12"), ("5", "5 km/h"),
    ("The answer is 1,234.5 dollars", "1234.5"), ("so 5 + 3 = 8", "8"), ("1e6", "1000000"),
    ("[42]", "42"), ("(42)", "42"),
    ("hello", "Hello"), ("  Hello   World ", "hello world"), ("'png'", "png"), ("png.", "png"),
    ("[1, 2, 3]", "[1, 2, 3]"), ("1, 2, 3", "[1, 2, 3]"), ("[1, 2, 3]", "1, 2, 3"),
    ("1 2 3", "[1, 2, 3]"), ("[1.0, 2, 3]", "[1, 2, 3]"), ("(1, 2, 3)", "[1, 2, 3]"),
    ("['fig', 'pear']", "['fig', 'pear']"), ("fig, pear", "['fig', 'pear']"),
    ("[fig, pear]", "['Fig', 'Pear']"), ("[]", "[]"),
    ("True", "True"), ("true", "True"), ("yes", "True"), ("No.", "False"), ("False", "no"),
    ("2024-03-05", "2024-03-05"), ("Tuesday", "tuesday"),
]

NO_MATCH = [
    (None, "42"), ("", "42"), ("41", "42"), ("4 2", "42"), ("-42", "42"),
    ("12345679", "12345678"),  # a large integer answer must be exact ...
    ("12345678.4", "12345678"),  # ... not within a relative tolerance
    ("0.25", "25"), ("25", "0.25"),  # no % anywhere: different answers
    ("3.4", "10/3"), ("0.7", "3/4"),
    ("1, 2, 3, 42", "42"), ("[41, 42]", "42"), ("[42, 41]", "42"),  # candidates, not an answer
    ("no number here", "42"), ("forty-two", "42"), ("nan", "42"), ("inf", "42"),
    ("[1, 2]", "[1, 2, 3]"), ("[3, 2, 1]", "[1, 2, 3]"), ("[1, 2, 4]", "[1, 2, 3]"),
    ("['pear', 'fig']", "['fig', 'pear']"), ("1 2", "[1, 2, 3]"),
    ("1", "True"), ("0", "False"), ("True", "False"), ("maybe", "True"), ("yes", "no"),
    ("hello world", "helloworld"), ("dlrow", "world"), ("2024-03-06", "2024-03-05"),
]


@pytest.mark.parametrize("prediction, target", MATCH)
def test_matches(prediction, target):
    assert is_correct(prediction, target)


@pytest.mark.parametrize("prediction, target", NO_MATCH)
def test_does_not_match(prediction, target):
    assert not is_correct(prediction, target)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("prediction", ["1e999999999", "1e-999999999", "9" * 5000,
                                        "The answer is 1e999999999 apples"])
def test_hostile_numbers_are_wrong_not_slow(prediction):
    assert not is_correct(prediction, "42") and not is_correct(prediction, "0.5")


def test_tolerance_applies_to_non_integer_targets_only():
    assert is_correct("2.50001", "2.5") and not is_correct("2.501", "2.5")
    assert is_correct("2.501", "2.5", rel_tol=1e-3)
    assert not is_correct("100001", "100000", rel_tol=1e-3)


def test_case_sensitive_strings():
    assert is_correct("plANET", "PLanet") and not is_correct("plANET", "PLanet", case_sensitive=True)


@pytest.mark.parametrize("text, number", [
    ("The answer is 1,234.5 dollars", 1234.5), ("It costs $12.", 12), ("3/4 of them", Fraction(3, 4)),
    ("x = -7", -7), ("25%", 25), ("between 3 and 9", 9), ("1e3", 1000), ("no digits", None),
    ("12345678901234567890123", 12345678901234567890123),  # exact, not a float
])
def test_extract_number(text, number):
    assert extract_number(text) == number and type(extract_number(text)) is type(number)


@pytest.mark.parametrize("stdout, value, answer", [
    ("1\n2\n3\n", None, "3"), ("a\n\n  b  \n\n", None, "b"), ("", None, None), ("\n \n", None, None),
    ("printed\n", "7", "7"),  # a final bare expression wins over printed lines
    ("", "'hello'", "hello"), ("", "Fraction(10, 3)", "10/3"), ("", "Decimal('1.50')", "1.50"),
    ("", "datetime.date(2024, 3, 5)", "2024-03-05"), ("", "[1, 2]", "[1, 2]"),
])
def test_final_answer(stdout, value, answer):
    assert final_answer(stdout, value) == answer


def _task(answer, family="arithmetic", **meta):
    return Task("t", "q", answer, family, meta)


def test_printing_every_candidate_scores_zero():
    """Only the final answer counts: a program that prints 0..10000 is graded on 10000."""
    spray, honest = sandbox.run_many(["for i in range(10001):\n    print(i)",
                                      "print(6 * 7)"])
    assert spray.status == "ok" and "42\n" in spray.stdout
    assert not grade(_task("42"), spray) and grade(_task("42"), honest)
    one_line = sandbox.run("print(*range(10001))")
    assert one_line.status == "ok" and not grade(_task("42"), one_line)
    as_list = sandbox.run("print(list(range(10001)))")
    assert not grade(_task("42"), as_list) and not grade(_task("10000"), as_list)


def test_only_an_ok_run_can_be_right():
    assert not grade(_task("42"), Result("error", stdout="42\n", error="ValueError"))
    assert not grade(_task("42"), Result("timeout", stdout="42\n"))
    assert not grade(_task("", "humaneval"), Result("error"))
    assert grade(_task("", "mbpp"), Result("ok"))


def test_grade_reads_case_sensitivity_from_meta():
    r = Result("ok", stdout="planet\n")
    assert grade(_task("PLANET", "strings"), r)
    assert not grade(_task("PLANET", "strings", case_sensitive=True), r)


@pytest.mark.parametrize("answer, ok", [
    ("30 + 93 - 100", True), ("(93 - 100) + 30", True), ("93 + 30 - 100 = 23", True),
    ("30+93-100", True), ("23", False), ("93 + 30 - 100 = 24", False),
    ("30 + 93 - 100 + 0", False),  # a number that is not in the list
    ("30 + 93", False),  # not every number
    ("30 + 30 + 93 - 100 - 30", False),  # one number twice
    ("-(100 - 93 - 30)", False),  # unary minus is not an operation of the game
    ("(100 - 93) ** 1 + 16", False), ("abs(30 + 93 - 100)", False), ("", False), (None, False),
    ("30 + 93 - 100)", False), ("__import__('os')", False),
])
def test_countdown_expression_check(answer, ok):
    assert countdown_ok(answer, [30, 100, 93], "23") is ok


@pytest.mark.parametrize("terms", [1000, 20000])  # parses but nests deeply; does not parse
def test_countdown_long_expression_is_wrong_not_a_crash(terms):
    assert not countdown_ok("+".join(["1"] * terms), [1, 1, 1], "3")


def test_countdown_division_is_exact():
    assert countdown_ok("(8 / 3) * 3", [8, 3, 3], "8")
    assert not countdown_ok("8 / (3 - 3)", [8, 3, 3], "8")


@pytest.mark.parametrize("x, text", [
    (504.0, "504"), ("0.8333333333333334", "0.8333333333333334"), (Fraction(10, 3), "10/3"),
    (Fraction(306, 5), "61.2"), ("1,234", "1234"), (-0.04545, "-0.04545"), (Fraction(-1, 8), "-0.125"),
    (10**30, str(10**30)),
])
def test_format_number(x, text):
    assert format_number(x) == text
