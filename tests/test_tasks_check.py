"""Answer checking: a table of right and wrong answers, final answers, and grading."""
from __future__ import annotations

from fractions import Fraction

import pytest

import sandbox
from sandbox import Result
from tasks.base import Task, format_number
from tasks.check import (asks_for_percent, countdown_ok, extract_number, final_answer, grade,
                         is_correct, list_credit, numbers_in, parse_number)

MATCH = [
    ("42", "42"), ("42.0", "42"), (" 42 ", "42"), ("-7", "-7"),
    ("30.000000000000004", "30"),  # float noise on an integer answer
    ("1,234", "1234"), ("1234", "1,234"), ("1,234,567.5", "1234567.5"),
    ("3.3333333333333335", "10/3"), ("0.75", "3/4"), ("3/4", "0.75"), ("6/8", "3/4"),
    ("0.6666666666666666", "0.6667"), ("2/3", "0.6667"),  # a rounded reference (MAWPS: 0.6667)
    ("25%", "25%"), ("25", "25%"), ("0.25", "25%"), ("25 percent", "25"),
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
    ("25%", "0.25"),  # a "%" prediction is 25, not 0.25, unless the question asks for a percent
    ("0.6667", "2/3"),  # a fraction target is exact: a rounded prediction is not 2/3
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
    # "2.501" matches "2.5" now: equal at the one decimal the target is written with.
    assert is_correct("2.50001", "2.5") and is_correct("2.501", "2.5")
    assert not is_correct("2.56", "2.5") and not is_correct("2.506", "2.50")
    assert is_correct("2.501", "2.5", rel_tol=1e-3)
    assert not is_correct("100001", "100000", rel_tol=1e-3)


@pytest.mark.parametrize("rel_tol", [1e-4, 1e-3, 0.1, 1.0])
def test_rel_tol_is_ignored_and_cannot_loosen(rel_tol):
    assert not is_correct("2.6", "2.5", rel_tol=rel_tol)
    assert not is_correct("100000000007", "100000000000", rel_tol=rel_tol)
    assert not is_correct("0.7", "2/3", rel_tol=rel_tol)
    assert list_credit("[2.6, 7]", "[2.5, 7]", rel_tol=rel_tol) == 0.5


# --- Precision of the target: each rule as a policy under RL pressure would probe it. ---

@pytest.mark.parametrize("prediction, target", [
    ("100000000007", "100000000000"), ("99999999993", "100000000000"),  # off by 7 near 1e11
    ("100000000001", "100000000000"), ("1.00000000007e11", "100000000000"),
    ("100000000000.4", "100000000000"), ("100000000007.00000", "100000000000"),
    ("1000000000000007", "1000000000000000"), ("1000000000000000.6", "1000000000000000"),
    ("12345678901234567000", "12345678901234567890"),  # a float cannot hold it: not exact
    ("72984", "72983"), ("72982.9", "72983"), ("-72983", "72983"), ("30.0001", "30"),
])
def test_integer_target_rejects_near_misses(prediction, target):
    assert not is_correct(prediction, target)


@pytest.mark.parametrize("prediction, target", [
    ("30.000000000000004", "30"), ("29.999999999999996", "30"),  # 0.1 * 3 * 100 and friends
    ("30.0", "30"), ("3e1", "30"), ("72983.0", "72983"), ("1,234", "1234"), ("-5.0", "-5"),
    ("100000000000.00002", "100000000000"), ("1e11", "100000000000"),
    ("5.551115123125783e-17", "0"), ("-2.7755575615628914e-17", "0"),  # 0.1 + 0.2 - 0.3
    ("1000000000000000.125", "1000000000000000"), ("12", "12.0"),
])
def test_integer_target_accepts_float_noise(prediction, target):
    assert is_correct(prediction, target)


@pytest.mark.parametrize("prediction, target, ok", [
    ("12.95", "12.95", True), ("12.950000000000001", "12.95", True), ("12.9500", "12.95", True),
    ("12.949999999999999", "12.95", True), ("12.954", "12.95", True), ("12.9451", "12.95", True),
    ("12.9", "12.95", False), ("12.96", "12.95", False), ("13", "12.95", False),
    ("12.955", "12.95", False), ("12.945", "12.95", False),  # exact halves round half to even
    ("16.3125", "16.312", True), ("16.3125", "16.313", False), ("16.312500000000004", "16.313", True),
    ("0.5", "0.5", True), ("0.50", "0.5", True), ("0.54", "0.5", True), ("0.55", "0.5", False),
    ("3.14", "3.14", True), ("3.141592653589793", "3.14", True), ("3.15", "3.14", False),
    ("12.54", "12.50", False), ("12.5", "12.50", True), ("12.504", "12.50", True),
    ("0.0015", "1.5e-3", True), ("0.00155", "1.5e-3", False),
    ("0.8333333333333333", "0.8333333333333334", True),  # float noise on a 16-digit target
    ("0.8333333333333336", "0.8333333333333334", True),  # two ulps apart: float noise
    ("100000000000.54", "100000000000.5", True), ("100000000000.56", "100000000000.5", False),
])
def test_decimal_target_is_equal_at_its_own_precision(prediction, target, ok):
    assert is_correct(prediction, target) is ok


def test_floor_division_mean_fails_at_higher_difficulty():
    """A mean printed with // used to pass a large decimal target within rel 1e-4."""
    values = [123456, 987651, 555555, 100000]  # mean 441665.5
    target = "441665.5"
    assert is_correct(str(sum(values) / len(values)), target)
    assert not is_correct(str(sum(values) // len(values)), target)
    assert not is_correct("441665", target) and not is_correct("441666", target)
    assert not is_correct("441665.4", target) and is_correct("441665.50", target)


@pytest.mark.parametrize("prediction, target, ok", [
    ("3/4", "3/4", True), ("0.75", "3/4", True), ("6/8", "3/4", True),
    ("0.7500000000000001", "3/4", True),
    ("3.3333333333333335", "10/3", True), ("3.3333333333333333", "10/3", True), ("10/3", "10/3", True),
    ("3.333", "10/3", False), ("3.3333", "10/3", False), ("0.6667", "2/3", False),
    ("0.751", "3/4", False),
    ("-0.75", "3/4", False), ("\u22123/4", "-3/4", True),
])
def test_fraction_target_is_exact(prediction, target, ok):
    assert is_correct(prediction, target) is ok


PERCENT_QUESTION = "A class has 40 students and 10 are girls. What percentage of the class are girls?"
GROWTH = ("A town has 72300 residents. Its population grows by 1%, and then 40 people move "
          "away. How many residents does it have now?")


@pytest.mark.parametrize("prediction, target", [
    ("7298300%", "72983"), ("7298300 percent", "72983"),  # percent inflation of an integer
    ("25%", "0.25"), ("2500%", "25"), ("0.25", "25"), ("25", "0.25"),
    ("26%", "25%"), ("0.26", "25%"), ("2500", "25%"),
])
def test_percent_reading_needs_a_percent_target_or_question(prediction, target):
    assert not is_correct(prediction, target)
    assert not is_correct(prediction, target, question="How many apples are left?")


def test_percent_in_the_story_is_not_a_question_for_a_percent():
    assert not asks_for_percent(GROWTH) and not asks_for_percent(None)
    assert not is_correct("7298300%", "72983", question=GROWTH)
    assert not grade(Task("g", GROWTH, "72983", "arithmetic", {}), Result("ok", stdout="7298300%\n"))
    assert is_correct("72983", "72983", question=GROWTH)


@pytest.mark.parametrize("question", [
    PERCENT_QUESTION, "By what percent did the price rise?", "What is the discount in %?",
    "Ann saves 3 of 12 coins. Give the answer as a percent.", "What per cent is left?",
])
def test_percent_readings_where_the_question_asks_for_one(question):
    assert asks_for_percent(question)
    assert is_correct("25%", "0.25", question=question) and is_correct("25", "25", question=question)
    assert is_correct("25%", "25", question=question) and is_correct("0.25", "25%", question=question)
    assert not is_correct("26%", "0.25", question=question)
    assert not is_correct("0.25", "25", question=question)  # no "%" on either side: as written


def test_percent_target():
    for prediction in ("25%", "25", "25 percent", "0.25", "25.0%", "0.25000000000000006"):
        assert is_correct(prediction, "25%"), prediction
    assert is_correct("12.5", "12.5%") and is_correct("0.125", "12.5%")
    assert not is_correct("0.126", "12.5%")
    assert grade(Task("p", PERCENT_QUESTION, "25", "gsm8k", {}), Result("ok", stdout="25%\n"))
    assert grade(Task("p", PERCENT_QUESTION, "0.25", "gsm8k", {}), Result("ok", stdout="25%\n"))


@pytest.mark.parametrize("minus", ["\u2212", "\u2012", "\u2013", "\u2014", "\ufe63", "\uff0d"])
def test_unicode_minus_is_minus(minus):
    assert is_correct(f"{minus}5", "-5") and not is_correct(f"{minus}5", "5")
    assert is_correct("-5", f"{minus}5") and not is_correct("5", f"{minus}5")
    assert is_correct(f"The answer is {minus}12.5 degrees", "-12.5")
    assert not is_correct(f"The answer is {minus}12.5 degrees", "12.5")
    assert is_correct(f"{minus}$1,234.50", "-1234.5") and is_correct(f"{minus}3/4", "-0.75")
    assert is_correct(f"[{minus}1, 2]", "[-1, 2]") and not is_correct(f"[{minus}1, 2]", "[1, 2]")
    assert list_credit(f"[{minus}1, {minus}2]", "[-1, 2]") == 0.5
    assert parse_number(f"{minus}7") == (Fraction(-7), False)
    assert numbers_in(f"from {minus}3 to 4") == [-3, 4] and extract_number(f"x = {minus}7") == -7


def test_a_dash_between_numbers_is_not_a_sign():
    assert numbers_in("pages 3\u20139") == [3, 9] and numbers_in("3 \u2013 9") == [3, 9]
    assert extract_number("the answer\u201442") == 42


@pytest.mark.parametrize("prediction", [
    "nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "infinity.", "INF",
    "\u2212inf", "The answer is nan", "42 / 0 = inf", "so the answer is 42, or inf",
])
@pytest.mark.parametrize("target", ["42", "0", "0.5", "3/4", "25%", "nan", "inf", "-inf",
                                    "Infinity", "NaN"])
def test_nan_and_inf_are_never_right(prediction, target):
    assert not is_correct(prediction, target)
    assert not is_correct(prediction, target, question="What percentage of the runs is nan?")


def test_nan_and_inf_never_right_in_lists_or_by_grade():
    assert not is_correct("[1, nan]", "[1, nan]") and not is_correct("[inf, 2]", "[inf, 2]")
    assert list_credit("[nan, 2]", "[nan, 2]") == 0.5
    assert not grade(_task("nan"), Result("ok", stdout="nan\n"))
    assert not grade(_task("42"), Result("ok", value="nan"))
    assert not grade(_task("inf"), Result("ok", value="inf"))
    assert not grade(_task("1"), Result("ok", value="Decimal('NaN')"))


@pytest.mark.timeout(10)
@pytest.mark.parametrize("prediction", ["1e999", "-1e999", "1e-999", "1e999%", "1.5e999999",
                                        "1e+999999999", "[1e999999999]", "10**999999999"])
@pytest.mark.parametrize("target", ["42", "0", "0.5", "3/4", "25%", "[1]", "1e999"])
def test_huge_exponents_stay_guarded(prediction, target):
    # Read exactly, so only equal to itself ("%" is a unit here). 1e-999 is not float noise
    # on 0: noise is allowed only to a number written like a double's repr (15+ digits).
    expected = prediction in ("1e999", "1e999%") and target == "1e999"
    assert is_correct(prediction, target) is expected
    assert is_correct(prediction, target, question="What percentage is it?") is expected


@pytest.mark.parametrize("prediction, target", [
    ("$1,234.50", "1234.5"), ("$1,234.50", "1,234.50"), ("12 apples", "12"), ("3/4", "0.75"),
    ("0.75", "3/4"), ("42.0", "42"), ("The answer is 1,234.5 dollars", "1234.5"),
    ("1234.5", "$1,234.50"), ("2/3", "0.6667"), ("10/3", "3.33"), ("[0.5, 1.25]", "[0.5, 1.25]"),
    ("[0.5000000000000001, 1.25]", "[0.5, 1.25]"), ("0.30000000000000004", "0.3"),
    ("0.30000000000000004", "3/10"),
])
def test_honest_answers_keep_passing(prediction, target):
    assert is_correct(prediction, target)


def test_list_elements_keep_their_written_precision():
    assert is_correct("[12.5]", "[12.50]") and not is_correct("[12.54]", "[12.50]")
    assert is_correct("[12.54]", "[12.5]") and not is_correct("[100000000007]", "[100000000000]")
    assert list_credit("[12.54, 3]", "[12.50, 3]") == 0.5


@pytest.mark.parametrize("reply, target, question, ok", [
    ("Answer: 100000000007", "100000000000", "How many?", False),
    ("Answer: 30.000000000000004", "30", "How many?", True),
    ("The answer is 441665", "441665.5", "What is the average?", False),
    ("Answer: 7298300%", "72983", GROWTH, False),
    ("Answer: 25%", "0.25", PERCENT_QUESTION, True),
    ("Answer: 25%", "0.25", "What fraction of the class are girls?", False),
    ("Answer: \u22125", "5", "What is 2 - 7?", False),
    ("Answer: \u22125", "-5", "What is 2 - 7?", True),
    ("Answer: nan", "nan", "What is it?", False), ("Answer: 1e999", "42", "How many?", False),
])
def test_direct_mode_uses_the_same_rules(reply, target, question, ok):
    from latentcode.expert.grading import grade_direct
    answer, right = grade_direct(Task("d", question, target, "gsm8k", {}), reply)
    assert right is ok and right == is_correct(answer, target, question=question)


def test_case_sensitive_strings():
    assert is_correct("plANET", "PLanet") and not is_correct("plANET", "PLanet", case_sensitive=True)


@pytest.mark.parametrize("text, number", [
    ("The answer is 1,234.5 dollars", 1234.5), ("It costs $12.", 12), ("3/4 of them", Fraction(3, 4)),
    ("x = -7", -7), ("25%", 25), ("between 3 and 9", 9), ("1e3", 1000), ("no digits", None),
    ("12345678901234567890123", 12345678901234567890123),  # exact, not a float
    ("x = \u22127", -7), ("it fell by \u20133.5 degrees", -3.5),  # unicode minus signs
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
    from tasks.codetest import DONE
    assert grade(_task("", "mbpp"), Result("ok", stdout=f"\n{DONE}\n"))
    assert not grade(_task("", "mbpp"), Result("ok"))  # the tests did not all run


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


def test_a_target_more_precise_than_a_double_accepts_the_double():
    # statistics.pvariance of a list of 6-digit numbers, exact, against its float repr
    assert is_correct("70481210611.85938", "70481210611.859375")
    assert not is_correct("70481210611.86", "70481210611.859375")


def test_float_noise_is_allowed_only_to_a_double_s_repr():
    assert is_correct("5.551115123125783e-17", "0")  # 0.1 + 0.2 - 0.3
    assert not is_correct("1e-17", "0") and not is_correct("0.0000000000001", "0")


def test_a_task_carries_how_it_is_graded():
    from tasks.base import Task
    kinds = {f: Task("x", "q", "", f).kind for f in ("humaneval", "mbpp", "countdown", "gsm8k", "liststats")}
    assert kinds == {"humaneval": "code", "mbpp": "code", "countdown": "expression",
                     "gsm8k": "answer", "liststats": "answer"}
