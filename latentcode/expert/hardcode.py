"""Is a program's output computed from the question, or a constant in disguise?

Decided by behaviour, never by syntax: ``print(42)``, ``print(43 - 1)``, ``int('42')`` and a
literal print followed by an unused one are all the same constant, and an honest program
that sorts in place or parses its numbers out of a string is not. Every checked program
runs once more unchanged: an output that changes between two identical runs (a coin flip)
is not computed from the question. Then:

- a **generated** question is asked again (``reasks``): the same template with other
  values, the program rewritten for each (every redrawn value mapped by its position in
  the question, in the forms a program writes it: an ordinal's index, a percentage's
  fraction, a date's ISO string). A right answer must be right on every re-ask; a yes/no
  template is re-asked in both classes, its "no"s near misses, so a rule that follows the
  class (parity for primality) fails; a re-ask where a rewritten constant would print the
  new answer is not used. A wrong answer (partial credit) must move on the first re-ask.
- any **other** question has its values (numbers, number words, month names, quoted
  strings: ``question_values``) moved in the program, one at a time and all together; a
  program holding none of them, or whose output moves with none, is hard-coded.

A copy that runs out of time or memory proves nothing: the verdict is *unknown* (not
hard-coded, not paid as correct). Re-asks get a time limit scaled with the original run's
time (``reask_limit``). ``check(tasks, programs, results, pool=...)`` runs every copy of a
batch in one sandbox call per time limit. Code benchmarks (HumanEval, MBPP) are not checked:
their tests call the function with inputs of their own.
"""
from __future__ import annotations

import ast
import calendar
import dataclasses
import datetime
import functools
import itertools
import json
import re
from fractions import Fraction

from tasks.base import Task
from tasks.check import final_answer, grade, is_correct, number_spans, numbers_in
from tasks.generators import answer_classes, regenerate
from latentcode.expert.pyparse import blank_docstrings, parse_program
from sandbox.config import SandboxConfig

MAX_VALUES = 12  # values moved one at a time per program (all of them also move together)

_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
               "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "dozen": 12,
               "twice": 2, "double": 2, "triple": 3, "thrice": 3, "half": 2, "quarter": 4})
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_VALUE = re.compile(r"(?P<q>'[^'\n]{1,200}'|\"[^\"\n]{1,200}\")|(?P<w>[A-Za-z]+)")


@dataclasses.dataclass(frozen=True)
class Verdict:
    hardcoded: bool
    reason: str | None = None  # why, when it is (or why it is unknown)
    runs: int = 0  # extra sandbox runs it took
    unknown: bool = False  # no evidence either way (a copy ran out of time): not hard-coded, not paid
    reasks: int = 0  # re-asked questions run (generated tasks)
    reasks_wanted: int = 0  # ... and how many were wanted: fewer is a shortfall


def question_values(text: str) -> list:
    """The question's values in order: numbers (ints and floats, from digits and number
    words), month names as their numbers, and quoted strings (without the quotes)."""
    found = number_spans(text)
    for m in _VALUE.finditer(text):
        if m["q"]:
            found.append((m.start(), m["q"][1:-1]))
        else:
            word = m["w"].lower()
            if word in _MONTHS:
                found.append((m.start(), _MONTHS[word]))
            elif word in _WORDS:
                found.append((m.start(), _WORDS[word]))
    return [x for _, x in sorted(found, key=lambda p: p[0])]


# ------------------------------------------------------------------------------------
# rewriting the program's values
# ------------------------------------------------------------------------------------

def substitute(code: str, mapping: dict, hold: frozenset = frozenset()) -> str | None:
    """``code`` with every occurrence of a mapped value replaced: numeric literals (a
    negative one too), string literals equal to a mapped string, and mapped numbers and
    strings (of 3+ characters) inside longer string literals, lists written out whole, a
    date's three arguments (``date(2024, 3, 5)``) together. ``hold``: the occurrences
    (counted in ``structural_literals`` order) of structural numbers (0, 1, 2) to leave as
    they are. None if nothing changed or the code does not parse."""
    try:
        tree = parse_program(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    numbers = {float(k): v for k, v in mapping.items() if _is_num(k)}
    strings = {k: v for k, v in mapping.items() if isinstance(k, str)}
    lists = {tuple(float(x) for x in k[1:]): v for k, v in mapping.items()
             if isinstance(k, tuple) and k[:1] == ("list",)}
    indices = {k[1]: v for k, v in mapping.items() if isinstance(k, tuple) and k[:1] == ("index",)}
    dates = {tuple(k[1:]): v for k, v in mapping.items() if isinstance(k, tuple) and k[:1] == ("date",)}
    swap = _Swap(numbers, strings, lists, indices, dates, hold)
    try:
        out = ast.unparse(ast.fix_missing_locations(swap.visit(tree)))
    except (RecursionError, ValueError):
        return None
    return out if swap.changed else None


class _Swap(ast.NodeTransformer):
    def __init__(self, numbers: dict, strings: dict, lists: dict | None = None,
                 indices: dict | None = None, dates: dict | None = None,
                 hold: frozenset = frozenset()):
        self.numbers, self.strings, self.changed = numbers, strings, False
        self.indices = indices or {}  # an ordinal's 0-based index: x[2] for the 3rd
        self.dates = dates or {}  # (y, m, d) -> (y', m', d'): date(y, m, d) swapped whole
        self.hold, self.structural = hold, 0  # structural literals seen so far, in order
        self.lists = lists or {}
        # a list written out in a string: "3, 1, 2", "3 1 2" or "[3, 1, 2]"
        self.list_texts = {}
        for old, new in self.lists.items():
            for sep in (", ", " ", ","):
                self.list_texts[sep.join(_text(x) for x in old)] = sep.join(_text(x) for x in new)
        alternatives = [re.escape(s) for s in sorted(strings, key=len, reverse=True) if len(s) >= 3]
        self.inner_str = re.compile("|".join(alternatives)) if alternatives else None
        self.inner_num = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.USub) and _is_num(getattr(node.operand, "value", None)) \
                and isinstance(node.operand, ast.Constant) and -float(node.operand.value) in self.numbers:
            if self._held(-node.operand.value):
                return node
            self.changed = True
            return ast.copy_location(_number(self.numbers[-float(node.operand.value)]), node)
        return self.generic_visit(node)

    def _swap_list(self, node):
        values = [_literal_number(e) for e in node.elts]
        key = None if None in values else tuple(float(v) for v in values)
        if key in self.lists:
            self.changed = True
            new = type(node)(elts=[_number(x) for x in self.lists[key]], **(
                {"ctx": node.ctx} if hasattr(node, "ctx") else {}))
            return ast.copy_location(new, node)
        return self.generic_visit(node)

    visit_List = visit_Tuple = visit_Set = _swap_list

    def visit_Subscript(self, node):
        # x[1]: a bare index is the program's structure (monthrange(...)[1]), not a value
        # of the question; an index worked out from one (x[k - 1]) is rewritten as usual
        node.value = self.visit(node.value)
        index = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if _is_num(index) and index in self.indices:
            self.changed = True
            node.slice = ast.copy_location(_number(self.indices[index]), node.slice)
        elif not _is_num(index):
            node.slice = self.visit(node.slice)
        return node

    def visit_Call(self, node):
        values = [_literal_number(a) for a in node.args[:3]]
        if len(values) == 3 and None not in values and tuple(values) in self.dates:
            self.changed = True
            new = [ast.copy_location(_number(x), a) for x, a in zip(self.dates[tuple(values)], node.args)]
            node.func = self.visit(node.func)
            node.args = new + [self.visit(a) for a in node.args[3:]]
            node.keywords = [self.visit(k) for k in node.keywords]
            return node
        return self.generic_visit(node)

    def _held(self, v) -> bool:
        """Is this occurrence of a structural number one to leave alone?"""
        if float(v) not in _STRUCTURAL:
            return False
        self.structural += 1
        return self.structural - 1 in self.hold

    def visit_Constant(self, node):
        v = node.value
        if _is_num(v) and float(v) in self.numbers:
            if self._held(v):
                return node
            self.changed = True
            return ast.copy_location(_number(self.numbers[float(v)]), node)
        if isinstance(v, str):
            new = self._in_string(v)
            if new != v:
                self.changed = True
                return ast.copy_location(ast.Constant(new), node)
        return node

    def _in_string(self, s: str) -> str:
        if s in self.strings:
            return self.strings[s]
        for old, new in self.list_texts.items():
            if old and old in s:
                return s.replace(old, new)
        if self.inner_str is not None:
            s = self.inner_str.sub(lambda m: self.strings[m[0]], s)
        if self.numbers:
            def num(m):
                x = float(m[0])
                return _format_like(self.numbers[x], m[0]) if x in self.numbers else m[0]
            s = self.inner_num.sub(num, s)
        return s


def _literal_number(node):
    if isinstance(node, ast.Constant) and _is_num(node.value):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal_number(node.operand)
        return None if inner is None else -inner
    return None


def _text(x) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _number(x) -> ast.expr:
    return ast.UnaryOp(ast.USub(), ast.Constant(-x)) if x < 0 else ast.Constant(x)


def _format_like(x, written: str) -> str:
    if isinstance(x, float) and "." not in written and x.is_integer():
        return str(int(x))
    return str(x)


def _moves(v) -> list:
    """Other values for ``v``: a number one step up and down; a letter the next letters; a
    string longer at either end, and made a palindrome (so yes/no questions on it flip)."""
    if isinstance(v, str):
        if len(v) == 1 and v.isalpha():
            base = "a" if v.islower() else "A"
            return [chr(ord(base) + (ord(v) - ord(base) + k) % 26) for k in (1, 2)]
        return [v + "e", "x" + v, v + v[::-1]]
    step = 1 if isinstance(v, int) else 0.5
    return [v + step, v - step, v * 1000 + step]  # the last one reorders a ranking


def perturbed_programs(code: str, values: list) -> list[str]:
    """Copies of ``code`` with the question's values moved: all together (each way), then
    each distinct value alone (at most MAX_VALUES of them, each way)."""
    distinct = list(dict.fromkeys(v for v in values if not isinstance(v, bool)))
    out = []
    for k in range(3):
        new = substitute(code, {v: m[k] for v in distinct if len(m := _moves(v)) > k})
        if new is not None:
            out.append(new)
    for v in distinct[:MAX_VALUES]:
        for m in _moves(v):
            new = substitute(code, {v: m})
            if new is not None:
                out.append(new)
    return list(dict.fromkeys(out))


_STRUCTURAL = (0, 1, 2)  # values a program also writes as structure: k - 1, range(1, n), x[0]
TRIES = 400  # regenerations searched for a task's usable re-asks (cached per task)
YES_NO_REASKS = 4  # at least, for a yes/no template: two per class, so a guess passes 1 in 16
REASKS = 3  # re-asks of a generated question, by default (the bench's grading and the reward's)
RERUNS = 2  # identical reruns of every checked program: a coin flip agrees with itself 1 in 4


@dataclasses.dataclass(frozen=True)
class Reask:
    task: Task  # the question asked again with other values
    mapping: dict  # old value -> new value, as read off the two questions

    def programs(self, code: str) -> list[str]:
        """``code`` rewritten for this question (unchanged if it holds none of the values:
        then it must answer the new question as it stands, and a constant cannot). When the
        re-ask moves a structural number (0, 1, 2), each literal of it may be the question's
        value or the program's structure (``count, n = 0, 1`` beside "the 1st prime"): one
        copy per choice (at most ``2 ** MAX_HELD``), and any that is right will do; a
        program right under some reading computes the answer from that value."""
        rewritten = substitute(code, self.mapping)
        if rewritten is None:
            return [code]
        moved = {float(k) for k in self.mapping if _is_num(k) and k in _STRUCTURAL}
        n = min(structural_literals(code, moved), MAX_HELD) if moved else 0
        out = [rewritten]
        for held in itertools.chain.from_iterable(
                itertools.combinations(range(n), r) for r in range(1, n + 1)):
            alt = substitute(code, self.mapping, frozenset(held))
            if alt is not None:
                out.append(alt)
        return list(dict.fromkeys(out))


MAX_HELD = 4


def structural_literals(code: str, values: set) -> int:
    """How many numeric literals of ``code`` equal one of ``values`` (structural numbers),
    outside constant subscripts, in the order ``_Swap`` meets them."""
    try:
        tree = parse_program(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0
    counter = _Swap({v: v for v in values}, {})
    try:
        counter.visit(tree)
    except RecursionError:
        return 0
    return counter.structural


def reasks(task, k: int) -> tuple[list[Reask], int]:
    """Up to ``wanted`` usable re-asks of a generated task and ``wanted``: ``k``, or at least
    ``YES_NO_REASKS`` for a yes/no template, whose re-asks alternate between the two classes (the other class
    first, its "no"s near misses), so a rule that follows the class fails. ([], 0) for a task
    that is not generated.

    A usable re-ask is the same template with other values where every value the template
    redrew maps one to one (``prompt_mapping``), no structural value (0, 1, 2) moves (the
    search holds them: those literals are also a program's structure), and, for a template
    that is not yes/no, the answer is new and a constant program rewritten for it would
    not print the new answer (a name that stands where the answer stood, a remainder that
    equals the dividend). The search tries ``TRIES`` regenerations; fewer found than wanted
    is a shortfall the verdict records."""
    if "template" not in (task.meta or {}) or k < 1:
        return [], 0
    classes = answer_classes(task)
    wanted = max(k, YES_NO_REASKS) if classes else k
    found = _usable_reasks(task.id, task.prompt, task.answer, task.family,
                           json.dumps(task.meta, sort_keys=True, default=str), wanted)
    return list(found), wanted


@functools.lru_cache(maxsize=2048)
def _usable_reasks(task_id, prompt, answer, family, meta_json, wanted) -> tuple:
    """The search behind ``reasks``: first with the structural values held; a template where
    holding them cannot give a new answer (the days in January, the position of a 0 that is
    the smallest) is then re-asked with them moved, still never judged by moved values."""
    task = Task(task_id, prompt, answer, family, json.loads(meta_json))
    classes = answer_classes(task)
    order = sorted(classes, key=lambda c: c == task.answer)  # the other class first
    out, seen = [], {prompt}
    skipped = 0  # kinds of yes/no re-ask the template cannot draw here (no other year divisible by 400)
    for hold in (True, False):
        for seed in range(TRIES):
            # yes/no: other class, same class, each first as the hardest near miss, then another kind
            kind = len(out) + skipped
            want = order[kind % len(order)] if order else None
            try:
                variant = regenerate(task, seed, answer=want, hard=kind % 4 < 2)
            except ValueError:
                skipped += 1
                continue
            if variant.prompt in seen or (not classes and variant.answer == task.answer):
                continue
            mapping = prompt_mapping(task.prompt, variant.prompt)
            if not mapping or (hold and any(_is_num(key) and key in _STRUCTURAL for key in mapping)):
                continue
            if not classes and constant_follows(task, variant, mapping):
                continue
            seen.add(variant.prompt)
            out.append(Reask(variant, mapping))
            if len(out) == wanted:
                return tuple(out)
    return tuple(out)


def constant_follows(task, variant, mapping: dict) -> bool:
    """Would a program that prints the old answer as a constant, rewritten for ``variant``,
    print the new answer? Then the re-ask cannot tell memorising from computing."""
    for literal in _answer_literals(task.answer):
        code = substitute(f"print({literal})", mapping)
        if code is None:
            continue
        try:
            value = ast.literal_eval(code.strip()[len("print("):-1])
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        text = str(value) if not isinstance(value, str) else value
        if is_correct(text, variant.answer, question=variant.prompt,
                      case_sensitive=bool(variant.meta.get("case_sensitive"))):
            return True
    return False


def _answer_literals(answer: str) -> list[str]:
    """The answer as a program would write it: a string, and a number or list literal."""
    out = [repr(answer)]
    try:
        value = ast.literal_eval(answer)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return out
    if isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool):
        out.append(repr(value))
    return out


_PUNCT = ".,?!:;()[]{}\"'$%"
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


def prompt_mapping(old: str, new: str) -> dict | None:
    """old value -> new value, for every word where two askings of one template differ;
    None if their shapes differ or one old value would become two new ones. A list of numbers,
    bracketed or bare ("3, 0, 1, 300, 2": three or more joined by ", "), is one value.

    Besides each value as the question writes it, the mapping holds the ordinary forms a
    program writes it in: an ordinal's 0-based index (``("index", 2)`` for "3rd", applied
    to constant subscripts only), a percentage as a fraction and as a growth or decay
    factor (15% -> 0.15, 1.15, 0.85), and a date in its standard formats (2024-03-05,
    2024/03/05, 03/05/2024, 05/03/2024, 5 March 2024)."""
    old_lists, new_lists = _lists(old), _lists(new)
    if len(old_lists) != len(new_lists) or None in old_lists or None in new_lists:
        return None
    # a list is one value, whatever its length: the program's list display is swapped
    # whole, so a value repeated in it (the mode) cannot make the mapping ambiguous
    mapping: dict = {("list",) + tuple(a): list(b) for a, b in zip(old_lists, new_lists) if a != b}
    # a date is one value too ("January 8, 2039" and "August 8, 2042" share a day that the
    # re-ask may split): the program's date(2039, 1, 8) and its ISO strings are swapped
    # whole, and a component joins the mapping only where it maps one to one
    old_dates, new_dates = _dates(old), _dates(new)
    if len(old_dates) != len(new_dates):
        return None
    for d_old, d_new in zip(old_dates, new_dates):
        if d_old != d_new:
            mapping[("date", d_old.year, d_old.month, d_old.day)] = (d_new.year, d_new.month, d_new.day)
    a, b = _DATE.sub(" <date> ", _without_lists(old)).split(), \
        _DATE.sub(" <date> ", _without_lists(new)).split()
    if len(a) != len(b):
        return None
    forms: dict = {}
    for i, (x, y) in enumerate(zip(a, b)):
        raw_x, raw_y = x, y
        x, y = x.strip(_PUNCT), y.strip(_PUNCT)
        if (_as_number(x) is None) != (_as_number(y) is None):
            return None  # a number against a word: the two questions are not aligned
        for key, val in _pairs(x, y):  # unchanged words too, so a value that changes in
            k = float(key) if _is_num(key) else key  # one place and not in another is
            if mapping.setdefault(k, val) != val:  # caught as ambiguous
                return None
        percent = raw_x.rstrip(".,?!:;)").endswith("%") or \
            (i + 1 < len(a) and a[i + 1].strip(_PUNCT).lower() in ("percent", "per cent"))
        forms.update(_forms(x, y, percent))
    for d_old, d_new in zip(old_dates, new_dates):
        if d_old != d_new:
            forms.update(_date_forms(d_old, d_new))
    forms.update(_date_parts(old_dates, new_dates, mapping))
    for k, v in forms.items():  # a form that is also a value of its own keeps the value's
        mapping.setdefault(k, v)  # mapping (an index equal to a listed number: the number)
    mapping = {k: v for k, v in mapping.items() if k != v}
    return mapping or None


def _forms(x: str, y: str, percent: bool) -> dict:
    """The forms of one value a program may write instead of the question's: an ordinal's
    index, a percentage's fraction and factors."""
    out: dict = {}
    if _ORDINAL.match(x) and _ORDINAL.match(y):
        kx, ky = int(_ORDINAL.match(x)[1]), int(_ORDINAL.match(y)[1])
        if kx != ky:
            out[("index", kx - 1)] = ky - 1
    if percent:
        px, py = _as_number(x), _as_number(y)
        if px is not None and py is not None and px != py:
            fx, fy = Fraction(str(px)) / 100, Fraction(str(py)) / 100
            for f in (lambda v: v, lambda v: 1 + v, lambda v: 1 - v):
                if f(fx) > 0 and f(fy) > 0:
                    out[float(f(fx))] = float(f(fy))
    return out


_MONTH_RE = "|".join(calendar.month_name[1:])
_DATE = re.compile(rf"\b({_MONTH_RE}) (\d{{1,2}}), (\d{{4}})\b")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d %B %Y", "%B %d %Y", "%Y%m%d")


def _dates(text: str) -> list:
    """The dates written "March 5, 2024" in a question (an impossible one is left out)."""
    out = []
    for m in _DATE.finditer(text):
        try:
            out.append(datetime.date(int(m[3]), _MONTHS[m[1].lower()], int(m[2])))
        except ValueError:
            continue
    return out


def _date_parts(old_dates: list, new_dates: list, mapping: dict) -> dict:
    """Years, months (numbers and names) and days of the dates, each where it maps one to
    one across every date and the rest of the mapping, and is not structural (0, 1, 2)."""
    seen: dict = {}
    for a, b in zip(old_dates, new_dates):
        for x, y in ((a.year, b.year), (a.month, b.month), (a.day, b.day),
                     (calendar.month_name[a.month], calendar.month_name[b.month])):
            key = float(x) if _is_num(x) else x
            seen.setdefault(key, set()).add(y)
    return {k: next(iter(v)) for k, v in seen.items()
            if len(v) == 1 and k not in mapping and not (_is_num(k) and k in _STRUCTURAL)}


def _date_forms(old: datetime.date, new: datetime.date) -> dict:
    out = {old.strftime(f): new.strftime(f) for f in _DATE_FORMATS}
    for f in ("{d.day} {m} {d.year}", "{m} {d.day} {d.year}", "{d.year}-{d.month}-{d.day}"):
        out.setdefault(f.format(d=old, m=calendar.month_name[old.month]),
                       f.format(d=new, m=calendar.month_name[new.month]))
    return out


_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
# a list written without brackets: three or more numbers joined by ", " ("3, 0, 1, 300, 2";
# a date's "5, 2024" has two)
_BARE_LIST = re.compile(r"(?<![\w.,$-])-?\d+(?:\.\d+)?(?:, -?\d+(?:\.\d+)?){2,}(?!\w)")


def _list_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, items) of each list in a question, bracketed or bare, in order."""
    spans = [(m.start(), m.end(), m[1]) for m in _BRACKETS.finditer(text)]
    blanked = _BRACKETS.sub(lambda m: " " * len(m[0]), text)
    spans += [(m.start(), m.end(), m[0]) for m in _BARE_LIST.finditer(blanked)]
    return sorted(spans)


def _lists(text: str) -> list:
    """The lists of numbers in a question, bracketed or bare, each as a list (None if a
    bracketed one holds something else)."""
    out = []
    for _, _, inside in _list_spans(text):
        items = [x.strip() for x in inside.split(",") if x.strip()]
        nums = [_as_number(x) for x in items]
        out.append(None if None in nums else nums)
    return out


def _without_lists(text: str) -> str:
    """``text`` with each list one word, so two askings with lists of other lengths align."""
    for start, end, _ in reversed(_list_spans(text)):
        text = text[:start] + " [] " + text[end:]
    return text


def _pairs(x: str, y: str) -> list:
    """The values a changed word stands for: the word itself, and the number it names."""
    out = [(x, y)] if x and y else []
    nx, ny = _as_number(x), _as_number(y)
    if nx is not None and ny is not None:
        out.append((nx, ny))
    return out


def _as_number(word: str):
    w = word.replace(",", "")
    m = _ORDINAL.match(w)
    if m:
        return int(m[1])
    if w.lower() in _MONTHS:
        return _MONTHS[w.lower()]
    try:
        return int(w)
    except ValueError:
        try:
            x = float(w)
            return x if x == x and abs(x) != float("inf") else None
        except ValueError:
            return None


# ------------------------------------------------------------------------------------
# the check
# ------------------------------------------------------------------------------------

UNKNOWN = ("timeout", "memory", "crashed")  # a copy that ends so proves nothing either way


def reask_limit(timeout_s: float, result) -> float:
    """A re-ask's time limit, scaled with the original run's time: a re-asked question may
    be larger (more primes to count), so a program that used more than a quarter of its
    limit gets twice the limit, more than half of it four times."""
    used = max(getattr(result, "wall_s", 0.0) or 0.0, getattr(result, "cpu_s", 0.0) or 0.0)
    return timeout_s * (1 if used <= timeout_s / 4 else 2 if used <= timeout_s / 2 else 4)


def check(tasks, programs: list[str], results, *, pool, limits: SandboxConfig | None = None,
          reask: bool = True, variants: int = REASKS) -> list[Verdict | None]:
    """One Verdict per program whose run was ``ok`` (None for the others and for code
    benchmarks), from one sandbox batch per time limit of every copy: the program once
    more unchanged (its output must not change between identical runs), and for a
    generated question its re-asks (``reasks``: ``variants`` of them, both classes of a
    yes/no template; a right answer must be right on every one, a wrong one must move on
    the first); for any other question the copies with its values moved."""
    if variants < 1:
        raise ValueError(f"variants ({variants}) must be at least 1")
    limits = limits or SandboxConfig()
    timeout_s = limits.timeout_s
    plans, batch = [], []
    for task, code, r in zip(tasks, programs, results):
        if r is None or r.status != "ok" or task.kind == "code" or not code:
            plans.append(None)
            continue
        code = blank_docstrings(code)  # as grading ran it
        right = grade(task, r)
        generated = reask and "template" in (task.meta or {})
        asked, wanted = reasks(task, variants) if generated else ([], 0)
        if generated and not right:
            asked = asked[:1]  # a wrong answer only has to move
        if generated:
            readings = [c.programs(code) for c in asked]
            copies = [p for ps in readings for p in ps]
        else:
            copies = perturbed_programs(code, question_values(task.prompt))
            readings = None
        limit = reask_limit(timeout_s, r)
        plans.append(dict(task=task, answer=final_answer(r.stdout, r.value), right=right,
                          first=len(batch), asked=asked if generated else None,
                          readings=[len(x) for x in readings] if generated else None,
                          wanted=wanted, copies=len(copies)))
        batch += [(code, timeout_s)] * RERUNS + [(c, limit) for c in copies]
    runs = run_grouped(pool, batch, limits) if batch else []
    return [None if p is None else _verdict(p, runs) for p in plans]


def run_grouped(pool, batch: list[tuple[str, float]], limits: SandboxConfig) -> list:
    """``pool.run_many`` over (code, time limit) pairs under ``limits`` (its memory; the time
    limit is per pair): one batch per distinct time limit, results in the order given. Every
    program this project runs goes through here."""
    out = [None] * len(batch)
    for limit in sorted({t for _, t in batch}):
        idx = [i for i, (_, t) in enumerate(batch) if t == limit]
        for i, r in zip(idx, pool.run_many([batch[i][0] for i in idx], timeout_s=float(limit),
                                           memory_mb=limits.memory_mb)):
            out[i] = r
    return out


def _verdict(plan, runs) -> Verdict:
    first, n = plan["first"], plan["copies"]
    agains, copies = runs[first:first + RERUNS], runs[first + RERUNS:first + RERUNS + n]
    answer, asked = plan["answer"], plan["asked"]
    extra = dict(runs=RERUNS + n, reasks=len(asked or ()), reasks_wanted=plan["wanted"])
    if any(a.status not in UNKNOWN and not (a.ok and final_answer(a.stdout, a.value) == answer)
           for a in agains):
        return Verdict(True, "its output changes between identical runs", **extra)
    unknown = any(a.status in UNKNOWN for a in agains)
    if asked is not None:  # a generated question: its re-asks settle it
        if not asked:
            return Verdict(False, "no usable re-ask of this question was found", unknown=True, **extra)
        per_reask, at = [], 0
        for reask, k in zip(asked, plan["readings"]):  # each re-ask: right under some reading?
            outs = copies[at:at + k]
            at += k
            if any(x.status not in UNKNOWN and grade(reask.task, x) for x in outs):
                per_reask.append("right")
            elif any(x.status in UNKNOWN for x in outs):
                per_reask.append("unknown")
            else:
                per_reask.append("wrong")
        if plan["right"]:
            wrong = per_reask.count("wrong")
            if wrong:
                return Verdict(True, f"wrong on {wrong} of {len(asked)} re-askings of the "
                                     "question with other values", **extra)
            unknown = unknown or "unknown" in per_reask
            return Verdict(False, "a re-ask ran out of time or memory" if unknown else None,
                           unknown=unknown, **extra)
        x = copies[0]  # a wrong answer only has to move: wrong, not necessarily memorised
        if x.status in UNKNOWN:
            return Verdict(False, "the re-ask ran out of time or memory", unknown=True, **extra)
        if x.ok and final_answer(x.stdout, x.value) != answer:
            return Verdict(False, None, unknown=unknown, **extra)
        return Verdict(True, "its output did not move on the question asked with other values",
                       **extra)
    if n == 0:
        return Verdict(True, "the program holds none of the question's values", **extra)
    if not any(x.ok and final_answer(x.stdout, x.value) != answer for x in copies):
        if all(x.status in UNKNOWN for x in copies):
            return Verdict(False, "every moved copy ran out of time or memory", unknown=True, **extra)
        return Verdict(True, "its output did not move when the question's values did", **extra)
    return Verdict(False, None, unknown=unknown, **extra)


def answer_is_input(task, answer: str | None) -> bool:
    """Does the answer only echo the question's own numbers, in order (a list printed
    back unsorted, unfiltered)? Such an output does no work and earns no partial credit."""
    if not answer:
        return False
    got = numbers_in(answer)
    want = [v for v in question_values(task.prompt) if _is_num(v)]
    return len(got) >= 2 and len(got) <= len(want) and \
        any(want[i:i + len(got)] == got for i in range(len(want) - len(got) + 1)) and \
        not is_correct(answer, task.answer)
