"""Answer checking: is a program's final output the task's answer?

Only the final answer counts: the value of a final bare expression, else the last non-empty
printed line. A program that prints every candidate (0, 1, ..., 10000) is graded on its
last line alone, so guessing in bulk scores nothing.

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
  Integer targets must match exactly (up to 1e-9 relative, for float noise such as
  30.000000000000004); other targets within ``rel_tol``. Percent rule: a "%" on either
  side means both readings are accepted, so "25%" matches 25, 0.25 and "25%"; without a
  "%" anywhere, 25 and 0.25 are different answers.
- string: equal after stripping surrounding quotes and a trailing full stop, collapsing
  whitespace and ignoring case (``case_sensitive=True`` for tasks where case is the point).
"""
from __future__ import annotations

import ast
import re
from fractions import Fraction

CODE_FAMILIES = ("humaneval", "mbpp")

# A number as people and Python write it: 1,234.5  -3  .5  1e6  3/4 (then an optional %).
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_NUMBER = rf"-?(?:{_NUM})(?:\s*/\s*\d+)?"
_IN_TEXT = re.compile(rf"(?<![\w.])(?P<num>{_NUMBER})(?P<pct>\s*%)?")
_WHOLE = re.compile(rf"(?P<sign>-)?\s*[$€£]?\s*(?P<num>{_NUMBER})\s*(?P<pct>%|percent)?"
                    r"\s*(?:[A-Za-z]+(?:[ /-][A-Za-z]+)*)?\.?", re.I)
_EXPONENT = re.compile(r"[eE]([-+]?\d+)")
_TRUE, _FALSE = {"true", "yes"}, {"false", "no"}
# Reprs a final bare expression gives for numbers and dates, turned into what print shows.
_REPRS = [(re.compile(r"Fraction\((-?\d+), (\d+)\)"), r"\1/\2"),
          (re.compile(r"Decimal\('([^']*)'\)"), r"\1"),
          (re.compile(r"datetime\.date\((\d+), (\d+), (\d+)\)"),
           lambda m: f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}")]


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
    x, written = found[-1][0], found[-1][2]
    if x.denominator == 1:
        return int(x)
    if "/" in written or abs(x) > 1e300:  # a float would overflow
        return x
    return float(x)


def numbers_in(text: str) -> list[int | float]:
    """Every number in a question, in order (for ``meta["numbers"]`` and held-out ranges)."""
    return [int(x) if x.denominator == 1 else float(x) for x, _, _ in _numbers(text)]


def _numbers(text: str) -> list[tuple[Fraction, bool, str]]:
    out = []
    for m in _IN_TEXT.finditer(text):
        x = _fraction(m["num"])
        if x is not None:
            out.append((x, bool(m["pct"]), m["num"]))
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
    m = _WHOLE.fullmatch(text.strip())
    if m is None:
        return None
    x = _fraction(m["num"])
    if x is None:
        return None
    return (-x if m["sign"] else x), bool(m["pct"])


def is_correct(prediction: str | None, target: str, *, rel_tol: float = 1e-4,
               case_sensitive: bool = False) -> bool:
    """Does ``prediction`` (a final answer) match ``target``? Rules in the module docstring."""
    if prediction is None:
        return False
    p, t = str(prediction).strip(), str(target).strip()
    if _as_bool(t) is not None:
        return _as_bool(p) == _as_bool(t)
    t_list = _as_list(t, loose=parse_number(t) is None)
    if t_list is not None:
        p_list = _as_list(p, loose=True)
        p_list = p.split() if p_list is None else p_list
        return len(p_list) == len(t_list) and all(
            is_correct(a, b, rel_tol=rel_tol, case_sensitive=case_sensitive)
            for a, b in zip(p_list, t_list))
    target_number = parse_number(t)
    if target_number is not None:
        got = _prediction_number(p)
        return got is not None and _numbers_match(got, target_number, rel_tol)
    return _norm(p, case_sensitive) == _norm(t, case_sensitive)


def list_credit(prediction: str | None, target: str, *, rel_tol: float = 1e-4,
                case_sensitive: bool = False) -> float | None:
    """For a list target: the fraction of positions ``prediction`` gets right, over the
    longer of the two lists ([1, 2, 9] against [1, 2, 3]: 2/3). None if the target is not a
    list; 0.0 if the prediction is not one."""
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
    right = sum(is_correct(a, b, rel_tol=rel_tol, case_sensitive=case_sensitive)
                for a, b in zip(p_list, t_list))
    return right / max(len(p_list), len(t_list))


def _as_bool(s: str) -> bool | None:
    word = s.strip(" .!'\"").lower()
    return True if word in _TRUE else False if word in _FALSE else None


def _as_list(s: str, *, loose: bool) -> list[str] | None:
    """Elements of "[1, 'a']" or "(1, 2)"; with ``loose``, of "1, 2" too. None if not a list."""
    if s[:1] in "[(" and s[-1:] in "])":
        try:
            v = ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            v = None  # e.g. [apple, fig]: unquoted words, split below
        if isinstance(v, (list, tuple)):
            return [e if isinstance(e, str) else repr(e) for e in v]
        inner = s[1:-1].strip()
        return [e.strip() for e in inner.split(",")] if inner else []
    if loose and "," in s:
        return [e.strip() for e in s.split(",")]
    return None


def _prediction_number(p: str) -> tuple[Fraction, bool] | None:
    whole = parse_number(p)
    if whole is not None:
        return whole
    if _is_number_list(p):
        return None  # several candidates are not one answer
    found = _numbers(p)
    return (found[-1][0], found[-1][1]) if found else None


def _is_number_list(p: str) -> bool:
    bracketed = p[:1] in "[(" and p[-1:] in "])"
    elements = _as_list(p, loose=not bracketed)
    if elements is None or len(elements) == 1:
        return False
    return bracketed or all(parse_number(e) is not None for e in elements)


def _numbers_match(got: tuple[Fraction, bool], want: tuple[Fraction, bool],
                   rel_tol: float) -> bool:
    (p, p_pct), (t, t_pct) = got, want
    readings_p = [p, p / 100] if p_pct else [p]
    readings_t = [t, t / 100] if t_pct else [t]
    return any(_close(a, b, rel_tol) for a in readings_p for b in readings_t)


def _close(a: Fraction, b: Fraction, rel_tol: float) -> bool:
    if b.denominator == 1:  # integer target: exact, up to float noise
        return abs(a - b) <= Fraction(1, 10**9) * max(1, abs(b))
    return abs(a - b) <= Fraction(rel_tol) * max(abs(a), abs(b))


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

    Code benchmarks: ``result`` must come from ``test_program(task, program)``, so 'ok'
    means every test passed. Countdown: the expression check. Everything else:
    ``is_correct(final_answer(...), task.answer)``.
    """
    if result.status != "ok":
        return False
    if task.family in CODE_FAMILIES:
        return True
    answer = final_answer(result.stdout, result.value)
    if task.family == "countdown":
        return countdown_ok(answer, task.meta["numbers"], task.answer)
    return is_correct(answer, task.answer, case_sensitive=bool(task.meta.get("case_sensitive")))
