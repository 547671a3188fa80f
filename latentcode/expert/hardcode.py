"""Is a program's output computed from the question, or a constant in disguise?

Decided by behaviour, never by syntax: ``print(42)``, ``print(43 - 1)``, ``int('42')`` and a
literal print followed by an unused one are all the same constant, and an honest program
that sorts in place or parses its numbers out of a string is not. The question's values
(its numbers, number words, month names and quoted strings: ``question_values``) are
located in the program wherever they stand (numeric literals, inside string literals) and
moved, one at a time and all together; the program runs again each time. Its output is
**hard-coded** when

- the program holds none of the question's values (its output cannot depend on them), or
- no moved copy that runs prints a different answer (the output does not move when the
  numbers it must depend on move; a copy that raises or times out proves nothing), or
- for a generated task, the program rewritten for a re-asked question (``regenerate``:
  the same template with new values, every redrawn value mapped by its position in the
  question) is not right there too (for a program whose first answer was wrong: its
  answer there does not move; a wrong computation is wrong, not memorised).

``check(tasks, programs, results, pool=...)`` runs every copy of a batch in one sandbox
call. Code benchmarks (HumanEval, MBPP) are not checked: their tests call the function
with inputs of their own.
"""
from __future__ import annotations

import ast
import calendar
import dataclasses
import functools
import json
import re

from tasks.base import Task
from tasks.check import final_answer, grade, is_correct, number_spans, numbers_in
from tasks.generators import regenerate
from latentcode.expert.pyparse import parse_program

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
    reason: str | None = None  # why, when it is
    runs: int = 0  # extra sandbox runs it took


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

def substitute(code: str, mapping: dict) -> str | None:
    """``code`` with every occurrence of a mapped value replaced: numeric literals (a
    negative one too), string literals equal to a mapped string, and mapped numbers and
    strings (of 3+ characters) inside longer string literals. None if nothing changed or
    the code does not parse."""
    try:
        tree = parse_program(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    numbers = {float(k): v for k, v in mapping.items() if _is_num(k)}
    strings = {k: v for k, v in mapping.items() if isinstance(k, str)}
    lists = {tuple(float(x) for x in k[1:]): v for k, v in mapping.items() if isinstance(k, tuple)}
    swap = _Swap(numbers, strings, lists)
    try:
        out = ast.unparse(ast.fix_missing_locations(swap.visit(tree)))
    except (RecursionError, ValueError):
        return None
    return out if swap.changed else None


class _Swap(ast.NodeTransformer):
    def __init__(self, numbers: dict, strings: dict, lists: dict | None = None):
        self.numbers, self.strings, self.changed = numbers, strings, False
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
        if not (isinstance(node.slice, ast.Constant) and _is_num(node.slice.value)):
            node.slice = self.visit(node.slice)
        return node

    def visit_Constant(self, node):
        v = node.value
        if _is_num(v) and float(v) in self.numbers:
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


def reasked_programs(task, code: str, tries: int = 100):
    """(re-asked task, [program rewritten for it], ambiguous), or None when the task is not
    generated or no regeneration in ``tries`` has the same shape with an unambiguous value
    mapping.

    The redrawn values are read off the two questions: the same template asked twice
    differs exactly where a value was drawn (numbers, ordinals, month names, names, words,
    quoted strings), so a word-level diff of the two pairs every old value with its new
    one. A mapping that moves 0, 1 or 2 is *ambiguous*: those literals are also the
    program's structure (``sorted(x)[k - 1]`` with a 1 in the list), so rewriting them can
    break an honest program; one without is preferred."""
    if "template" not in (task.meta or {}):
        return None
    found = _reasked(task.id, task.prompt, task.answer, task.family,
                     json.dumps(task.meta, sort_keys=True, default=str), tries)
    if found is None:
        return None
    variant, mapping, ambiguous = found
    rewritten = substitute(code, mapping)
    if rewritten is None:  # it holds none of the redrawn values: it must answer the new
        return variant, [code], False  # question unchanged, and cannot
    return variant, [rewritten], ambiguous


def more_reasked_programs(task, code: str, k: int, tries: int = 100) -> list:
    """[(re-asked task, program rewritten for it)] for up to ``k`` re-asked questions
    with unambiguous value mappings and other answers, distinct from each other and from
    ``reasked_programs``' (which comes first among them); [] when the task is not generated.
    A program right on all of them computes the template, not a special case of it (the
    median of an odd-length list, the largest value for the most frequent)."""
    if "template" not in (task.meta or {}) or k < 1:
        return []
    found = _reasked_many(task.id, task.prompt, task.answer, task.family,
                          json.dumps(task.meta, sort_keys=True, default=str), tries, k)
    out = []
    for variant, mapping in found:
        rewritten = substitute(code, mapping)
        out.append((variant, rewritten if rewritten is not None else code))
    return out


@functools.lru_cache(maxsize=1024)
def _reasked_many(task_id, prompt, answer, family, meta_json, tries, k):
    task = Task(task_id, prompt, answer, family, json.loads(meta_json))
    out, seen = [], set()
    for seed in range(tries):
        variant = regenerate(task, seed)
        if variant.answer == task.answer or variant.prompt in seen:
            continue
        mapping = prompt_mapping(task.prompt, variant.prompt)
        if not mapping or any(_is_num(key) and key in _STRUCTURAL for key in mapping):
            continue
        seen.add(variant.prompt)
        out.append((variant, mapping))
        if len(out) == k:
            break
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _reasked(task_id, prompt, answer, family, meta_json, tries):
    """(variant, value mapping, ambiguous) for a task: the first regeneration with a
    different answer and an unambiguous mapping, else the first ambiguous one. Depends on
    the task alone, so a GRPO group's completions share one search."""
    found = _reasked_many(task_id, prompt, answer, family, meta_json, tries, 1)
    if found:
        return (*found[0], False)
    task = Task(task_id, prompt, answer, family, json.loads(meta_json))
    for seed in range(tries):  # none unambiguous: the first ambiguous one
        variant = regenerate(task, seed)
        if variant.answer != task.answer:
            mapping = prompt_mapping(task.prompt, variant.prompt)
            if mapping:
                return variant, mapping, True
    return None


_PUNCT = ".,?!:;()[]{}\"'$%"
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


def prompt_mapping(old: str, new: str) -> dict | None:
    """old value -> new value, for every word where two askings of one template differ;
    None if their shapes differ or one old value would become two new ones."""
    old_lists, new_lists = _lists(old), _lists(new)
    if len(old_lists) != len(new_lists) or None in old_lists or None in new_lists:
        return None
    # a list is one value, whatever its length: the program's list display is swapped
    # whole, so a value repeated in it (the mode) cannot make the mapping ambiguous
    mapping: dict = {("list",) + tuple(a): list(b) for a, b in zip(old_lists, new_lists) if a != b}
    a, b = _BRACKETS.sub(" [] ", old).split(), _BRACKETS.sub(" [] ", new).split()
    if len(a) != len(b):
        return None
    for x, y in zip(a, b):
        x, y = x.strip(_PUNCT), y.strip(_PUNCT)
        if (_as_number(x) is None) != (_as_number(y) is None):
            return None  # a number against a word: the two questions are not aligned
        for key, val in _pairs(x, y):  # unchanged words too, so a value that changes in
            k = float(key) if _is_num(key) else key  # one place and not in another is
            if mapping.setdefault(k, val) != val:  # caught as ambiguous
                return None
    mapping = {k: v for k, v in mapping.items() if k != v}
    return mapping or None


_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def _lists(text: str) -> list:
    """The bracketed lists of numbers in a question, each as a list (None if one holds
    something else)."""
    out = []
    for m in _BRACKETS.finditer(text):
        items = [x.strip() for x in m[1].split(",") if x.strip()]
        nums = [_as_number(x) for x in items]
        out.append(None if None in nums else nums)
    return out


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

def check(tasks, programs: list[str], results, *, pool, timeout_s: float = 2.0,
          memory_mb: int = 256, reask: bool = True, variants: int = 1) -> list[Verdict | None]:
    """One Verdict per program whose run was ``ok`` (None for the others and for code
    benchmarks), from one sandbox batch of every moved and re-asked copy. ``variants`` > 1:
    a right answer to a generated question must also be right on that many re-asked
    questions (the first one included), not only on one."""
    if variants < 1:
        raise ValueError(f"variants ({variants}) must be at least 1")
    plans, batch = [], []
    for task, code, r in zip(tasks, programs, results):
        if r is None or r.status != "ok" or task.kind == "code" or not code:
            plans.append(None)
            continue
        again = reasked_programs(task, code) if reask else None
        # a re-asked question (generated tasks) settles it, unless its mapping is ambiguous;
        # otherwise the values are moved
        asked = again[1] if again else []
        moved = [] if again and not again[2] else perturbed_programs(code, question_values(task.prompt))
        right = grade(task, r)
        more = []  # further re-asked questions a right answer must also get right
        if variants > 1 and right and again and not again[2]:
            more = more_reasked_programs(task, code, variants)[1:]  # the first is ``again``
        plans.append((task, final_answer(r.stdout, r.value), right, len(batch),
                      len(asked), len(moved), again, more))
        batch += asked + moved + [c for _, c in more]
    runs = pool.run_many(batch, timeout_s=timeout_s, memory_mb=memory_mb) if batch else []
    return [None if p is None else _verdict(p, runs) for p in plans]


def _verdict(plan, runs) -> Verdict:
    task, answer, right, first, n_asked, n_moved, again, more = plan
    used = n_asked + n_moved + len(more)
    if again and not again[2]:  # asked again with other values
        r = runs[first]
        if right:  # a right answer must be right there too (and on the further ones)
            if not grade(again[0], r):
                return Verdict(True, "wrong on the same question asked with other values", used)
            extra = runs[first + n_asked + n_moved:first + used]
            if all(grade(v, x) for (v, _), x in zip(more, extra)):
                return Verdict(False, None, used)
            return Verdict(True, f"wrong on one of {1 + len(more)} re-askings of the question "
                                 "with other values", used)
        # a wrong answer only has to move: it is wrong, not necessarily memorised
        if r.ok and final_answer(r.stdout, r.value) != answer:
            return Verdict(False, None, used)
        return Verdict(True, "its output did not move on the question asked with other values",
                       used)
    if again and grade(again[0], runs[first]):
        return Verdict(False, None, used)  # ambiguous mapping, but right on the new question
    moved_runs = runs[first + n_asked:first + used]
    if n_moved == 0:
        return Verdict(True, "the program holds none of the question's values", used)
    if not any(r.ok and final_answer(r.stdout, r.value) != answer for r in moved_runs):
        return Verdict(True, "its output did not move when the question's values did", used)
    return Verdict(False, None, used)


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
