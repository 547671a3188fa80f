"""Building the program that grades a code benchmark: the candidate, then its tests.

Passing means the sandbox reports status 'ok'. What the model is shown and what grades
it differ (``tasks/mbpp.py``: one assert shown, every assert and challenge test graded;
``tasks/humaneval.py``: the docstring shown, the hidden ``check`` graded). Appending tests
to model-written code naively can be gamed by training, so the harness closes the two
cheap ways around the asserts that the sandbox policy still allows:

- returning an object whose ``__eq__`` always says True: the functions under test are
  wrapped so that they may only return plain values (numbers, strings, bytes, None,
  Fraction, Decimal, and lists/tuples/sets/dicts/deques/Counters of them), checked by
  exact type, so a subclass with its own ``__eq__`` is refused too;
- rebinding a name the tests rely on (``abs = lambda x: 0``, ``def round(...)``, or a
  ``global`` doing it during a call): such a program fails with an AssertionError that
  names the names. Names the benchmark itself defines (the entry point, MBPP's helper
  classes) are allowed, and so is a plain ``import sys`` (it binds the module itself).

Tests that use an allowed module without importing it (mbpp/596's asserts call
``sys.getsizeof``) get the import from the harness, just before the tests; the program
under test is not changed.

Time limits: the caller's default (2 s) applies unless ``code_time_limits.json`` lists the
task; it lists each task whose reference solution needs more than a quarter of the
default, with max(2 s, 4 x the reference's time), so a reference uses at most a quarter
of its limit and no grade flips with load. ``bench/code_time_limits.py`` writes it; the
loaders put the limit in ``meta["timeout_s"]``.

Not covered: anything the sandbox allows a program to do to objects the tests share with it.
"""
from __future__ import annotations

import ast
import functools
import json
import math
import secrets
import warnings
from pathlib import Path

from sandbox.guards import ALLOWED_MODULES

# Modules a test may use without importing them: the harness imports them for it.
MODULES = frozenset(m.split(".")[0] for m in ALLOWED_MODULES)
TIME_LIMITS = Path(__file__).with_name("code_time_limits.json")
# Printed by the harness after the last test. A clean sys.exit(0) keeps a program's output,
# so a candidate exiting before the tests would otherwise look like a pass; the marker holds
# a secret drawn per process, which the candidate cannot read (no files, no frames).
DONE = f"latentcode-tests-done-{secrets.token_hex(8)}"

GUARD = '''
def latentcode_plain_returns(fn, name):
    import collections, decimal, fractions
    containers = (list, tuple, set, frozenset, collections.deque)
    mappings = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)
    plain = (int, float, complex, str, bytes, bool, type(None), fractions.Fraction,
             decimal.Decimal) + containers + mappings
    def inspect_value(v):
        if not any(type(v) is t for t in plain):
            raise TypeError(name + " returned a " + type(v).__name__ +
                            "; only plain values (numbers, strings, containers of them) are graded")
        if any(type(v) is t for t in mappings):
            for k, x in v.items():
                inspect_value(k)
                inspect_value(x)
        elif any(type(v) is t for t in containers):
            for x in v:
                inspect_value(x)
    def guarded(*args, **kwargs):
        v = fn(*args, **kwargs)
        inspect_value(v)
        return v
    return guarded
'''


def harness(program: str, tests: str, *, allowed: set[str]) -> str:
    """``program`` + the guard + a refusal if it rebinds what ``tests`` use + imports of
    the modules ``tests`` use without importing them + ``tests``."""
    used = _free_names(tests + GUARD)
    rebound = sorted(_module_bindings(program) & used - allowed)
    refuse = ""
    if rebound:
        refuse = (f"raise AssertionError({'the program rebinds ' + ', '.join(rebound)!r} + "
                  "', which the tests use; rename them')\n")
    imports = "".join(f"import {m}\n" for m in sorted(used & MODULES - allowed))
    return (f"{program.rstrip()}\n\n{GUARD}\n{refuse}{imports}{tests.strip()}\n"
            f"print()\nprint({DONE!r})\n")


def time_limit(task_id: str) -> float | None:
    """The task's own time limit in seconds, or None (the caller's default applies)."""
    return _time_limits().get(task_id)


@functools.cache
def _time_limits() -> dict[str, float]:
    if not TIME_LIMITS.exists():
        return {}  # bench/code_time_limits.py writes it
    try:
        limits = json.loads(TIME_LIMITS.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{TIME_LIMITS}: not valid JSON: {e}") from None
    if not isinstance(limits, dict):
        raise ValueError(f"{TIME_LIMITS}: must be an object {{task_id: seconds}}")
    for task_id, s in limits.items():
        if type(s) not in (int, float) or not math.isfinite(s) or s <= 0:
            raise ValueError(f"{TIME_LIMITS}: {task_id!r}: a limit must be a positive "
                             f"number of seconds, not {s!r}")
    return {k: float(v) for k, v in limits.items()}


def without_main_block(program: str) -> str:
    """Drop top-level ``if __name__ == "__main__":`` blocks. A test harness imports the
    program (the original HumanEval harness runs it under exec, where the block is
    skipped); the sandbox runs programs as ``__main__``, so the block would run here."""
    try:
        tree = parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return program
    lines = program.splitlines(keepends=True)
    for node in reversed(tree.body):
        if isinstance(node, ast.If) and not node.orelse and ast.unparse(node.test) in (
                "__name__ == '__main__'", "'__main__' == __name__"):
            del lines[node.lineno - 1:node.end_lineno]
    return "".join(lines)


def guarded_call(name: str) -> str:
    """Source that wraps function ``name`` so that it may only return plain values."""
    return f"latentcode_plain_returns({name}, {name!r})"


def _module_bindings(program: str) -> set[str]:
    """Names the program binds in its module namespace (a fragment that does not parse has
    no bindings we can see; the sandbox reports its syntax error)."""
    try:
        tree = parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    # ``global`` and walrus bind module names from inside functions and comprehensions.
    names = {g for n in ast.walk(tree) if isinstance(n, ast.Global) for g in n.names}
    names |= {n.target.id for n in ast.walk(tree) if isinstance(n, ast.NamedExpr)}
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        names |= _binds(node) - _plain_imports(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                 ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                 ast.GeneratorExp)):
            todo.extend(ast.iter_child_nodes(node))
    return names


def _binds(node) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return {node.id}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        return {node.name}
    return set()


def _plain_imports(node) -> set[str]:
    """``import sys``, ``import collections.abc``: the name is bound to the module itself
    (the sandbox's one view of it), which is what a test using that name expects."""
    if not isinstance(node, ast.Import):
        return set()
    return {a.name.split(".")[0] for a in node.names if a.asname in (None, a.name)}


def _free_names(source: str) -> set[str]:
    """Names ``source`` reads but never binds itself: builtins and the program's globals."""
    tree = parse(source)
    loads, bound = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        else:
            bound |= _binds(n)
    return loads - bound


def top_level_defs(source: str) -> dict[str, str]:
    """{name: "function" | "class"} for the top-level defs of benchmark-written code."""
    kinds = {ast.FunctionDef: "function", ast.AsyncFunctionDef: "function", ast.ClassDef: "class"}
    return {n.name: kinds[type(n)] for n in parse(source).body if type(n) in kinds}


def parse(source: str) -> ast.Module:
    """ast.parse without the invalid-escape warnings that benchmark code ("\\d") triggers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
        return ast.parse(source)
