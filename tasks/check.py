"""Answer checking: is a program's final output the task's answer?

Only the final answer counts: the value of a final bare expression, else the last non-empty
printed line. A program that prints every candidate (0, 1, ..., 10000) is graded on its
last line alone, so guessing in bulk scores nothing. Direct (text) answers go through the
same ``grade`` and so the same rules.

The target decides how the prediction is read, in this order:

- boolean ("True", "false", "yes", "no"): the prediction must be a boolean word too;
  1 and 0 are not booleans.
- list ("[1, 2, 3]", "(a, b)", or "1, 2, 3" when the target is not one number): the
  prediction may be bracketed, comma separated or space separated; same length, and each
  element checked by these rules.
- number ("1,234.5", "3/4", "25%", "$5", "12 apples"): the prediction's number is its whole
  text when that parses, else the *last* number in it ("The answer is 1,234.5 dollars");
  a prediction that is a list of several numbers is never one number. Thousands
  separators, currency signs and trailing unit words are ignored (units are not checked).
  A minus sign may be written as "-" or as U+2212, U+2012, U+2013, U+2014, U+FE63 or
  U+FF0D ("−5" is -5, never 5). The target's own precision decides what is equal:

  * integer target (its value is whole: "72983", "-5", "1,234", "1e6", "12.0"): the
    prediction must equal it exactly. The only slack is float noise: a prediction within
    ``1e-13 * max(1, |target|)`` *and* less than 1/2 away (so it rounds to the target) also
    counts, which accepts 30.000000000000004 and 29.999999999999996 for 30 but never a
    different integer (100000000007 is not 100000000000, nor is 10**15 + 7 near 10**15).
  * decimal target ("12.95", "0.5", "1.5e-3", "12.50"), d = the number of decimal places it
    is written with (trailing zeros count; an exponent shifts them): the prediction rounded
    to d places, half to even, must be the target. 12.95, 12.9500 and 12.950000000000001
    match "12.95"; 12.9, 12.96 and 12.955 do not; 16.3125 matches "16.312" (the even
    neighbour) but not "16.313". Beyond that only float noise counts: within
    ``1e-13 * max(1, |target|)`` when the prediction is written with 15 or more significant
    digits (a double's repr, not a rounded answer). It matters only for targets written
    with 13 or more significant digits: a variance of 7e10 stated to 6 decimals, printed by
    a program as 70481210611.85938, matches; 70481210611.86 does not.
  * fraction target ("3/4", "10/3"): exact as a Fraction (0.75 and 3/4 match "3/4"), up to
    the same float noise (3.3333333333333335 matches "10/3"; 0.6667 and 3.3333 do not).

  Percent: "%", "percent" or "per cent" after a number is a unit like any other, so
  "25%" is 25 and "7298300%" is 7298300 (not 72983). The percent *reading* (x% is x/100)
  applies only in a percent context: the target itself has a "%", or ``question`` asks for
  a percentage, i.e. a sentence of the question that ends in "?", or its last sentence,
  contains "%", "percent", "percentage" or "per cent" ("What percentage of the class are
  girls?", "... Give the answer as a percent."; not "Its population grows by 23%. How many
  residents does it have now?"). In a percent context a prediction with "%" against a
  target without one is also read as x/100, and a prediction without "%" against a target
  with one as x*100: for target "25%", "25%", "25" and 0.25 all match; for target "0.25"
  and a question that asks for a percentage, "25%" matches too. Without one, "25%" is not
  0.25 and 0.25 is not 25. A number without "%" on either side is never rescaled.
  ``rel_tol`` is accepted for old callers and ignored: it cannot loosen these rules.
- string: equal after stripping surrounding quotes and a trailing full stop, collapsing
  whitespace and ignoring case (``case_sensitive=True`` for tasks where case is the point).

Never right: a prediction that is, or ends on, NaN or an infinity ("nan", "inf", "-inf",
"Infinity", "NaN", any case), whatever the target, even a target written "nan" or "inf".
Numbers with huge exponents ("1e999999999") are not numbers at all (reading them would
build a gigantic integer); "1e999" is read exactly and is simply a wrong answer.
"""
from __future__ import annotations

import ast
import re
from fractions import Fraction
from typing import NamedTuple
from tasks.codetest import DONE


# A number as people and Python write it: 1,234.5  -3  .5  1e6  3/4 (then an optional %).
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_NUMBER = rf"-?(?:{_NUM})(?:\s*/\s*\d+)?"
_PERCENT = r"%|per\s?cent\b"
_IN_TEXT = re.compile(rf"(?<![\w.])(?P<num>{_NUMBER})(?P<pct>\s*(?:{_PERCENT}))?", re.I)
_NON_FINITE = r"[-+]?(?:nan|inf(?:inity)?)"
# Numbers and non-finite words, in order: a prediction that ends on "nan" ends on no number.
_IN_TEXT_ALL = re.compile(rf"{_IN_TEXT.pattern}|(?<![\w.])(?P<bad>{_NON_FINITE})(?!\w)", re.I)
_WHOLE = re.compile(rf"(?P<sign>-)?\s*[$€£]?\s*(?P<num>{_NUMBER})\s*(?P<pct>{_PERCENT})?"
                    r"\s*(?:[A-Za-z]+(?:[ /-][A-Za-z]+)*)?\.?", re.I)
_WHOLE_NON_FINITE = re.compile(rf"\s*{_NON_FINITE}\s*\.?\s*", re.I)
_EXPONENT = re.compile(r"[eE]([-+]?\d+)")
# Minus signs people and word processors write: minus, figure dash, en dash, em dash,
# small and fullwidth hyphen-minus. All read as "-" wherever a number is read.
_MINUS = str.maketrans({c: "-" for c in "\u2212\u2012\u2013\u2014\ufe63\uff0d"})
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_ASKS_PERCENT = re.compile(r"%|\bper\s?cent", re.I)
# Float noise allowed on a number: relative, with an absolute floor of the same size near 0.
# About 450 ulps of a double; far below any precision a target is written in.
_NOISE = Fraction(1, 10**13)
_TRUE, _FALSE = {"true", "yes"}, {"false", "no"}
# Reprs a final bare expression gives for numbers and dates, turned into what print shows.
_REPRS = [(re.compile(r"Fraction\((-?\d+), (\d+)\)"), r"\1/\2"),
          (re.compile(r"Decimal\('([^']*)'\)"), r"\1"),
          (re.compile(r"datetime\.date\((\d+), (\d+), (\d+)\)"),
           lambda m: f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}")]


class _Number(NamedTuple):
    value: Fraction
    percent: bool  # written with "%", "percent" or "per cent"
    written: str  # the digits as written, for the target's precision


def final_answer(stdout: str, value: str | None) -> str | None:
    """The value of a final bare expression if there is one, else the last printed line."""
    if value is not None:
        return _from_repr(value)
    lines = [line.strip() for line in (stdout or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def _from_repr(value: str) -> str:
    if value[:1] in "'\"":  # a string's repr: grade the string, not its quotes
        try:
            v = ast.literal_eval(value)
            if isinstance(v, str):
                return v
        except (ValueError, SyntaxError):
            pass
    for pattern, repl in _REPRS:
        value = pattern.sub(repl, value)
    return value


def extract_number(text: str) -> float | Fraction | None:
    """The number a sentence ends on: "The answer is 1,234.5 dollars" -> 1234.5.

    An int for whole numbers, a Fraction for "a/b", a float otherwise; "25%" gives 25.
    """
    found = _numbers(text)
    if not found:
        return None
    x, written = found[-1].value, found[-1].written
    if x.denominator == 1:
        return int(x)
    if "/" in written or abs(x) > 1e300:  # a float would overflow
        return x
    return float(x)


def numbers_in(text: str) -> list[int | float]:
    """Every number in a question, in order (for ``meta["numbers"]`` and held-out ranges)."""
    return [int(n.value) if n.value.denominator == 1 else float(n.value) for n in _numbers(text)]


def number_spans(text: str) -> list[tuple[int, int | float]]:
    """(offset, value) of every number in ``text``, read as ``numbers_in`` reads them."""
    out = []
    for m in _IN_TEXT.finditer(text.translate(_MINUS)):
        x = _fraction(m["num"])
        if x is not None:
            out.append((m.start(), int(x) if x.denominator == 1 else float(x)))
    return out


def _numbers(text: str, *, non_finite: bool = False) -> list[_Number | None]:
    """The numbers in ``text``, in order; with ``non_finite``, None for each "nan"/"inf"."""
    out: list[_Number | None] = []
    for m in (_IN_TEXT_ALL if non_finite else _IN_TEXT).finditer(text.translate(_MINUS)):
        if non_finite and m["bad"]:
            out.append(None)
            continue
        x = _fraction(m["num"])
        if x is not None:
            out.append(_Number(x, bool(m["pct"]), m["num"]))
    return out


def _fraction(s: str) -> Fraction | None:
    s = s.replace(",", "").replace(" ", "")
    exponent = _EXPONENT.search(s)
    if exponent and len(exponent[1].lstrip("+-0")) > 3:
        return None  # Fraction("1e999999999") builds 10**999999999: minutes, for a model's joke
    try:
        if "/" in s:
            num, den = s.split("/")
            return Fraction(num) / Fraction(den) if Fraction(den) != 0 else None
        return Fraction(s)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None


def parse_number(text: str) -> tuple[Fraction, bool] | None:
    """(value, has_percent) when the whole text is one number with optional $, % or unit."""
    n = _whole_number(text)
    return None if n is None else (n.value, n.percent)


def _whole_number(text: str) -> _Number | None:
    m = _WHOLE.fullmatch(text.strip().translate(_MINUS))
    if m is None:
        return None
    x = _fraction(m["num"])
    if x is None:
        return None
    return _Number(-x if m["sign"] else x, bool(m["pct"]), m["num"])


def asks_for_percent(question: str | None) -> bool:
    """Does the question ask for a percentage? Its asking sentences (those ending in "?",
    and the last one) mention "%", "percent", "percentage" or "per cent"; a percentage in
    the story alone ("grows by 23%. How many residents ...?") does not count."""
    if not question:
        return False
    sentences = [s for s in _SENTENCE_END.split(question.strip()) if s]
    asking = [s for s in sentences[:-1] if s.rstrip().endswith("?")] + sentences[-1:]
    return any(_ASKS_PERCENT.search(s) for s in asking)


def is_correct(prediction: str | None, target: str, *, rel_tol: float | None = None,
               case_sensitive: bool = False, question: str | None = None) -> bool:
    """Does ``prediction`` (a final answer) match ``target``? Rules in the module docstring.

    ``question``: the task's prompt, which decides whether a percent reading is allowed.
    ``rel_tol``: ignored (kept so that old callers still work); precision comes from the
    target as written."""
    if prediction is None:
        return False
    p, t = str(prediction).strip(), str(target).strip()
    if _WHOLE_NON_FINITE.fullmatch(p.translate(_MINUS)):
        return False  # NaN and infinities are never an answer, whatever the target says
    if _as_bool(t) is not None:
        return _as_bool(p) == _as_bool(t)
    t_list = _as_list(t, loose=parse_number(t) is None)
    if t_list is not None:
        p_list = _as_list(p, loose=True)
        p_list = p.split() if p_list is None else p_list
        return len(p_list) == len(t_list) and all(
            is_correct(a, b, case_sensitive=case_sensitive, question=question)
            for a, b in zip(p_list, t_list))
    target_number = _whole_number(t)
    if target_number is not None:
        got = _prediction_number(p)
        return got is not None and _numbers_match(got, target_number, asks_for_percent(question))
    return _norm(p, case_sensitive) == _norm(t, case_sensitive)


def list_credit(prediction: str | None, target: str, *, rel_tol: float | None = None,
                case_sensitive: bool = False, question: str | None = None) -> float | None:
    """For a list target: the fraction of positions ``prediction`` gets right, over the
    longer of the two lists ([1, 2, 9] against [1, 2, 3]: 2/3). None if the target is not a
    list; 0.0 if the prediction is not one. Elements are checked by ``is_correct`` (same
    ``question``; ``rel_tol`` ignored)."""
    t = str(target).strip()
    t_list = _as_list(t, loose=parse_number(t) is None) if _as_bool(t) is None else None
    if t_list is None:
        return None
    if prediction is None:
        return 0.0
    p = str(prediction).strip()
    p_list = _as_list(p, loose=True)
    p_list = p.split() if p_list is None else p_list
    if not p_list and not t_list:
        return 1.0
    right = sum(is_correct(a, b, case_sensitive=case_sensitive, question=question)
                for a, b in zip(p_list, t_list))
    return right / max(len(p_list), len(t_list))


def credit_beyond_question(prediction: str | None, target: str, question: str, *,
                           case_sensitive: bool = False) -> float | None:
    """Partial credit a list answer earns for work: the share of positions it gets right
    beyond what the question's own items already get, in the order the question gives them
    or its reverse (echoing, reversing, appending to or renaming the question's list earns
    nothing), rescaled to [0, 1]. None if the target is not a list."""
    share = list_credit(prediction, target, case_sensitive=case_sensitive, question=question)
    if share is None:
        return None
    told = question_order(target, question)
    base = max((list_credit("[" + ", ".join(x) + "]", target, case_sensitive=case_sensitive,
                            question=question) or 0.0) for x in (told, told[::-1]))
    if base >= 1:
        return 0.0
    return max(0.0, share - base) / (1 - base)


def question_order(target: str, question: str) -> list[str]:
    """The target list's elements in the order the question first names them (numbers by
    value, anything else as a whole word, ignoring case); repeated elements take successive
    mentions, and an element the question never names is left out."""
    t = str(target).strip()
    items = _as_list(t, loose=parse_number(t) is None) or []
    numbers = number_spans(question)
    used: set[int] = set()
    placed = []
    for item in items:
        x = parse_number(item)
        if x is not None:
            spots = [pos for pos, v in numbers if v == x[0]]
        else:
            word = re.escape(item.strip("'\" "))
            spots = [m.start() for m in re.finditer(rf"(?<!\w){word}(?!\w)", question, re.I)] if word else []
        spot = next((p for p in spots if p not in used), None)
        if spot is not None:
            used.add(spot)
            placed.append((spot, item))
    return [item for _, item in sorted(placed)]


def _as_bool(s: str) -> bool | None:
    word = s.strip(" .!'\"").lower()
    return True if word in _TRUE else False if word in _FALSE else None


def _as_list(s: str, *, loose: bool) -> list[str] | None:
    """Elements of "[1, 'a']" or "(1, 2)"; with ``loose``, of "1, 2" too. None if not a list."""
    if s[:1] in "[(" and s[-1:] in "])":
        inner = s[1:-1].strip()
        pieces = [e.strip() for e in inner.split(",")] if inner else []
        try:
            v = ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            v = None  # e.g. [apple, fig]: unquoted words, split below
        if isinstance(v, (list, tuple)):
            if (len(pieces) == len(v) and all(type(e) in (int, float) for e in v)
                    and all(parse_number(e) is not None for e in pieces)):
                return pieces  # numbers as written: "[2.50]" keeps its two decimals
            return [e if isinstance(e, str) else repr(e) for e in v]
        return pieces
    if loose and "," in s:
        return [e.strip() for e in s.split(",")]
    return None


def _prediction_number(p: str) -> _Number | None:
    whole = _whole_number(p)
    if whole is not None:
        return whole
    if _is_number_list(p):
        return None  # several candidates are not one answer
    found = _numbers(p, non_finite=True)
    return found[-1] if found else None  # None too when it ends on "nan" or "inf"


def _is_number_list(p: str) -> bool:
    bracketed = p[:1] in "[(" and p[-1:] in "])"
    elements = _as_list(p, loose=not bracketed)
    if elements is None or len(elements) == 1:
        return False
    return bracketed or all(parse_number(e) is not None for e in elements)


def _numbers_match(got: _Number, want: _Number, percent_context: bool) -> bool:
    """Is the prediction ``got`` the target ``want``, at the target's precision? The target
    is compared in its own units; a percent context (the question asks for a percentage,
    or the target has "%") adds the x% = x/100 reading."""
    readings = [got.value]
    if percent_context and got.percent and not want.percent:
        readings.append(got.value / 100)  # "25%" for a target of 0.25
    if want.percent and not got.percent:  # the target's "%" is a percent context itself
        readings.append(got.value * 100)  # 0.25 for a target of "25%"
    noisy = _significant_digits(got.written) >= 15  # a double's repr, not a rounded answer
    return any(_equal_at_precision(x, want, noisy) for x in readings)


def _significant_digits(written: str) -> int:
    mantissa = re.split(r"[eE]", written.replace(",", "").lstrip("+-"))[0]
    return len(mantissa.replace(".", "").lstrip("0"))


def _equal_at_precision(x: Fraction, want: _Number, noisy: bool = True) -> bool:
    t = want.value
    diff = abs(x - t)
    noise = _NOISE * max(1, abs(t)) if noisy else Fraction(0)
    if t.denominator == 1:  # integer target: exact, up to float noise that rounds to it
        return diff == 0 or (diff < Fraction(1, 2) and diff <= noise)
    d = _decimals(want.written)
    if d is None:  # a fraction ("3/4", "10/3"): exact, up to float noise
        return diff <= noise
    return round(x, d) == t or diff <= noise  # a double cannot tell them apart


def _decimals(written: str) -> int | None:
    """Decimal places a number is written with ("12.50": 2, "1.5e-3": 4); None for "a/b"."""
    s = written.replace(",", "").replace(" ", "").lstrip("-")
    if "/" in s:
        return None
    mantissa, _, exponent = s.lower().partition("e")
    places = len(mantissa.partition(".")[2])
    return max(0, places - int(exponent or 0))


def _norm(s: str, case_sensitive: bool) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        s = s[1:-1]
    s = " ".join(s.rstrip(".").split())
    return s if case_sensitive else s.casefold()


def countdown_ok(answer: str | None, numbers: list[int], target: str) -> bool:
    """Is ``answer`` an arithmetic expression over exactly ``numbers`` that equals ``target``?

    "30 + 93 - 100" and "30 + 93 - 100 = 23" both count; "23" alone does not (the target is
    in the question, so printing it proves nothing). Only + - * / and parentheses; each
    number used exactly once; division is exact (Fraction), division by zero is wrong.
    """
    if not answer:
        return False
    expr, _, rhs = answer.partition("=")
    if rhs.strip() and not is_correct(rhs, target):
        return False
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if sum(isinstance(n, ast.Constant) for n in ast.walk(tree)) != len(numbers):
        return False  # checked first, so that "1+1+...+1" cannot recurse deeply below
    used: list[int] = []
    value = _evaluate(tree.body, used)
    return value is not None and sorted(used) == sorted(numbers) and value == Fraction(target)


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b if b else None}


def _evaluate(node, used: list[int]) -> Fraction | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = _evaluate(node.left, used), _evaluate(node.right, used)
        return None if a is None or b is None else _OPS[type(node.op)](a, b)
    return None  # names, calls, unary minus, powers: not in the rules


def grade(task, result) -> bool:
    """Did this sandbox run solve the task? Anything but status 'ok' is wrong.

    Code benchmarks: ``result`` must come from ``test_program(task, program)``; it passed
    when it is 'ok' and its last line is the harness's marker, printed after the last test
    (a candidate that exits cleanly before the tests prints no marker). Countdown: the expression check. Everything else:
    ``is_correct(final_answer(...), task.answer, question=task.prompt)``, so a percent
    reading is allowed only where the question asks for a percentage.
    """
    if result.status != "ok":
        return False
    if task.kind == "code":  # every test ran: the harness's last line is printed
        return final_answer(result.stdout, None) == DONE
    answer = final_answer(result.stdout, result.value)
    if task.kind == "expression":
        return countdown_ok(answer, task.meta["numbers"], task.answer)
    return is_correct(answer, task.answer, case_sensitive=bool(task.meta.get("case_sensitive")),
                      question=task.prompt)
