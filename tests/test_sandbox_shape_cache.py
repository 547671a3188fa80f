"""Issue 27, item 6: the policy's transform cached per program shape, never at the cost of
a program's semantics: a program of a known shape must compile to exactly what a fresh
compile gives (same bytecode, constants, names, line numbers), and run the same."""
from __future__ import annotations

import ast
import random
import re
import types
from pathlib import Path

import pytest

import sandbox
from sandbox import policy

BENIGN = sorted((Path(__file__).resolve().parent / "corpus" / "sandbox" / "benign").glob("*.py"))


def _normal(code):
    """What a code object does: bytecode, names, constants (recursively), line numbers.
    Column numbers are left out: the cache zeroes them."""
    consts = tuple(_normal(c) if isinstance(c, types.CodeType) else (type(c), repr(c))
                   for c in code.co_consts)
    return (code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            consts, tuple(line for _, _, line in code.co_lines()), code.co_name, code.co_flags)


def _fresh(source):
    body, last = policy.compile_program(source)
    return _normal(body), _normal(last) if last else None


def _cached(source):
    import marshal
    data = policy._compile_by_shape(source)
    assert data is not None, "this shape should be cacheable"
    body, last = marshal.loads(data)
    return _normal(body), _normal(last) if last else None


def _mutate_literals(source: str, rng: random.Random) -> str:
    """The same program with other numbers and plain strings (what a re-ask changes)."""
    def number(m):
        text = m.group(0)
        return str(rng.randint(0, 999)) if "." not in text else f"{rng.uniform(0, 99):.3f}"

    out = re.sub(r"(?<![\w.])\d+(\.\d+)?(?![\w.])", number, source)
    return re.sub(r"'([a-z ]{1,12})'", lambda m: repr(m.group(1)[::-1] + "q"), out)


@pytest.mark.parametrize("path", BENIGN, ids=lambda p: p.stem)
def test_a_known_shape_compiles_to_what_a_fresh_compile_gives(path):
    source = path.read_text()
    policy._templates.clear()
    assert _cached(source) == _fresh(source)  # the template's own program
    rng = random.Random(path.name)
    for _ in range(3):
        variant = _mutate_literals(source, rng)
        try:
            fresh = _fresh(variant)
        except policy.CompileRefused:
            continue
        assert _cached(variant) == fresh, variant


def test_each_program_gets_its_own_literals_on_the_server():
    template = "x = {a}\ny = '{s}'\nprint(x * 2, y.upper(), b'{s}', {a}.5, {a}j)\n"
    codes = [template.format(a=i, s=s) for i, s in [(1, "ab"), (22, "zz"), (333, "q r")]]
    rs = sandbox.run_many(codes + codes[:1])
    assert [r.stdout for r in rs] == ["2 AB b'ab' 1.5 1j\n", "44 ZZ b'zz' 22.5 22j\n",
                                      "666 Q R b'q r' 333.5 333j\n", "2 AB b'ab' 1.5 1j\n"], rs


def test_what_the_key_must_tell_apart():
    """Programs that must never share a template: each pair differs in something other
    than a literal's value."""
    pairs = [("x = 1\nprint(x)", "x = 1\nprint(y)"),
             ("print('a')", "print(b'a')"),
             ("print('a')", "print(f'a')"),
             ("print('a' 'b')", "print('a', 'b')"),
             ("x = 1\n\nprint(x)", "x = 1\nprint(x)"),  # line numbers
             ("print(1)", "print(-1)"),
             ("s = 'x'\nprint(s)", "s = r'x'\nprint(s)"),
             ("print('{}')", "print(f'{x}')")]
    for a, b in pairs:
        assert policy.program_shape(a)[0] != policy.program_shape(b)[0], (a, b)
    same = [("print(1)  # one", "print(2)"), ("x = 'a'\nprint(x)", "x = 'bcd'\nprint(x)"),
            ("print(1.5)", "print(2e3)")]
    for a, b in same:
        assert policy.program_shape(a)[0] == policy.program_shape(b)[0], (a, b)


def test_a_literal_that_looks_like_a_renamed_attribute_is_left_alone():
    r = sandbox.run("class C:\n    _v = 5\nprint('x_v', C()._v)")
    assert r.stdout == "x_v 5\n", r
    r = sandbox.run("class C:\n    _v = 5\nprint('x_w', C()._v)")
    assert r.stdout == "x_w 5\n", r


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_refusals_and_errors_are_the_fresh_compile_s():
    policy._templates.clear()
    for code in ("x = 1\nprint(x.__class__)", "print(1)\nreturn 2", "print(0x)",
                 "x = 'a\\q'\nprint(x)", "print(b'\u00e9')", "print(1_000_000_0)"):
        fresh = None
        try:
            fresh = ("ok", _fresh(code))
        except policy.CompileRefused as e:
            fresh = (e.kind, e.message)
        out = policy.compile_to_bytes(code)
        if isinstance(out, dict):
            assert (out["status"], out["error"].split(" (line")[0]) == fresh, (code, out)
        else:
            assert fresh[0] == "ok" and _cached(code) == fresh[1], code


def test_the_cache_is_bounded_in_entries_and_in_bytes(monkeypatch):
    policy._templates.clear()
    policy._sizes.clear()
    for i in range(policy._MAX_TEMPLATES + 50):
        policy.compile_to_bytes(f"v{i} = 1\nprint(v{i})")
    assert len(policy._templates) == policy._MAX_TEMPLATES
    monkeypatch.setattr(policy, "_MAX_TEMPLATE_TOTAL", 40_000)  # the same rule, sooner
    big = "x = [" + ", ".join(["1"] * 1000) + "]\n"  # 3 KB
    for i in range(30):
        out = policy.compile_to_bytes(f"w{i} = 0\n{big}print(len(x))")
        assert isinstance(out, bytes)
    assert policy._sizes[None] <= 40_000 and len(policy._templates) < 20
    assert sum(v for k, v in policy._sizes.items() if k is not None) == policy._sizes[None]
    assert len(policy._sizes) == len(policy._templates) + 1
    assert ast.parse("x = 1")  # (the module still works)
