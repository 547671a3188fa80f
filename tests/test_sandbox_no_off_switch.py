"""Issue 27, item 1: nothing a program can reach switches the Python policy off.

The red team's four routes (a forward reference evaluated on a bare name, code dataclasses
generates for an inherited field, helper objects that showed the guard object, super() over
string.Formatter with a dotted forward reference), each as a test, and the class each stands
for: every route to a frame, every object the sandbox hands out, every code generator, every
forward-reference evaluation. With the policy on each attempt must end blocked or as a plain
error; with it off (the program owns its process) the OS layers must hold the payload: no
secret read, no file written.
"""
from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

import sandbox
from sandbox import guards

BOTH = pytest.mark.parametrize("python_policy", [True, False], ids=["policy", "os-only"])
DROP = Path("/tmp/sbx_offswitch")
SECRET = Path("/tmp/sbx_offswitch_secret.txt")
# What each route does once it believes it holds a real builtin or the server's globals.
PAYLOAD = (
    "def payload():\n"
    "    for attempt in ('read', 'write'):\n"
    "        try:\n"
    "            if attempt == 'read':\n"
    "                print('GOT', open('/tmp/sbx_offswitch_secret.txt').read())\n"
    "            else:\n"
    "                open('/tmp/sbx_offswitch/pwned', 'w').write('x')\n"
    "                print('WROTE')\n"
    "        except BaseException as e:\n"
    "            print('held', type(e).__name__)\n")

ROUTES = {
    # 1. a forward reference evaluated on a bare name: with no namespace, eval supplies the
    # real builtins (the real three-argument type) ...
    "forward-ref-bare-name": (
        "import typing\n"
        "ref = typing.get_args(typing.Optional['type'])[0]\n"
        "T = ref._evaluate(None, None, frozenset())\n"
        "print('ESCAPED', T('K', (), {}))\npayload()\n"),
    # ... and a dotted one walks attributes without the guard (frames, globals)
    "forward-ref-dotted": (
        "import typing\n"
        "g = (x for x in [1])\n"
        "ref = typing.get_args(typing.Optional['g.gi_frame.f_back.f_globals'])[0]\n"
        "print('ESCAPED', ref._evaluate({'g': g}, None, frozenset()))\npayload()\n"),
    "forward-ref-singledispatch": (
        "import functools\n"
        "@functools.singledispatch\ndef f(x):\n    return 'base'\n"
        "def g(x: 'type'):\n    return 'hit'\n"
        "f.register(functools.wraps(max)(g))\n"
        "print('ESCAPED', f.registry)\npayload()\n"),
    # 2. code dataclasses generates for an inherited field (a renamed Field of the base)
    # (a renamed field's name is written into the parameter list of the function that
    # dataclasses execs to build __init__: the name below makes a default value there,
    # evaluated with the server's __main__ globals, where open is the real one)
    "dataclass-inherited-field": (
        "import dataclasses\n"
        "@dataclasses.dataclass\nclass A:\n"
        "    x: list = dataclasses.field(init=False, repr=False, compare=False)\n"
        "f = dataclasses.fields(A)[0]\n"
        "f.name = INJECT\n"
        "@dataclasses.dataclass\nclass B(A):\n    y: int = 2\n"
        "print(B())\npayload()\n"),
    "dataclass-field-setattr": (
        "import dataclasses\n"
        "@dataclasses.dataclass\nclass A:\n"
        "    x: list = dataclasses.field(init=False, repr=False, compare=False)\n"
        "setattr(dataclasses.fields(A)[0], 'name', INJECT)\n"
        "@dataclasses.dataclass\nclass B(A):\n    y: int = 2\n"
        "print(B())\npayload()\n"),
    "dataclass-field-subclass": (
        "import dataclasses\n"
        "class F(type(dataclasses.field())):\n"
        "    @property\n    def name(self):\n        return \"x=print('INJECTED') or 1\"\n"
        "    @name.setter\n    def name(self, v):\n        pass\n"
        "@dataclasses.dataclass\nclass A:\n"
        "    x: int = F(1, None, True, True, None, True, {}, False)\n"
        "print(A())\npayload()\n"),
    # 3. helper objects that showed the sandbox's guard object
    "attrgetter-factory-args": (
        "import operator\nprint('ESCAPED', operator.attrgetter.args[0])\npayload()\n"),
    "attrgetter-instance": (
        "import operator\nprint('ESCAPED', operator.attrgetter('real')._guards)\npayload()\n"),
    "methodcaller-instance": (
        "import operator\nprint('ESCAPED', operator.methodcaller('upper')._guards)\npayload()\n"),
    "format-method-partial": (
        "f = 'x'.format\nprint('ESCAPED', f.func, f.args)\npayload()\n"),
    "wraps-partial": (
        "import functools\nw = functools.wraps(len)\nprint('ESCAPED', w.func, w.keywords)\npayload()\n"),
    "getattr-bound-guard": (
        "print('ESCAPED', getattr(getattr, '__self__'))\npayload()\n"),
    # 4. super() over string.Formatter, with a dotted forward reference
    "formatter-super-forward-ref": (
        "import string, typing\n"
        "class F(string.Formatter):\n"
        "    def get_field(self, field_name, args, kwargs):\n"
        "        ref = typing.get_args(typing.Optional['s.get_field'])[0]\n"
        "        real = ref._evaluate({'s': super()}, None, frozenset())\n"
        "        return real(field_name, args, kwargs)\n"
        "print('ESCAPED', F().format('{0.gi_frame.f_back}', (x for x in [1])))\npayload()\n"),
    "formatter-super-get-field": (
        "import string\n"
        "class F(string.Formatter):\n"
        "    def get_field(self, field_name, args, kwargs):\n"
        "        return super().get_field(field_name, args, kwargs)\n"
        "print('ESCAPED', F().format('{0.gi_frame}', (x for x in [1])))\npayload()\n"),
    "formatter-vformat-field": (
        "import string\n"
        "class F(string.Formatter):\n"
        "    def get_value(self, key, args, kwargs):\n"
        "        return (x for x in [1])\n"
        "print('ESCAPED', F().format('{a.gi_frame.f_back.f_globals}'))\npayload()\n"),
}

# The class behind route 1/4: frames, by every route that reads an attribute.
FRAME_ROUTES = {
    "getattr-gi-frame": "def g():\n    yield 1\nprint(getattr(g(), 'gi_' + 'frame'))",
    "attrgetter-f-back": "import operator\ndef g():\n    yield 1\n"
                         "print(operator.attrgetter('gi_frame.f_back')(g()))",
    "methodcaller-frame": "import operator\nprint(operator.methodcaller('gi_frame')((x for x in [1])))",
    "format-frame": "print('{0.gi_frame}'.format((x for x in [1])))",
    "format-map-frame": "print('{g.gi_frame}'.format_map({'g': (x for x in [1])}))",
    "format-index-frame": "print('{0[0].gi_frame}'.format([(x for x in [1])]))",
    "coroutine-frame": "async def c():\n    pass\nprint(getattr(c(), 'cr_' + 'frame'))",
    "async-gen-frame": "async def a():\n    yield 1\nprint(getattr(a(), 'ag_' + 'frame'))",
    "traceback-from-exit": ("class CM:\n    def __enter__(self):\n        return self\n"
                            "    def __exit__(self, t, v, tb):\n        self.tb = tb\n        return True\n"
                            "cm = CM()\nwith cm:\n    1 / 0\nprint(getattr(cm.tb, 'tb_' + 'frame'))"),
    "traceback-exitstack": ("import contextlib\ngot = []\n"
                            "with contextlib.ExitStack() as s:\n"
                            "    s.push(lambda t, v, tb: got.append(tb) or True)\n    1 / 0\n"
                            "print(getattr(got[0], 'tb_' + 'next'), getattr(got[0], 'tb_' + 'frame'))"),
    "reduce-getattr": "import functools\nprint(functools.reduce(getattr, ['gi_frame', 'f_back'], (x for x in [1])))",
    "dataclass-replace-field": ("import dataclasses\n@dataclasses.dataclass\nclass P:\n    gi_frame: int = 0\n"
                                "print(dataclasses.replace((x for x in [1])))"),
    "match-kwd-frame": "match (x for x in [1]):\n    case object(gi_frame=f):\n        print(f)",
    "sys-getframe": "import sys\nprint(sys._getframe())",
    "sys-exc-info": "import sys\ntry:\n    1 / 0\nexcept Exception:\n    print(sys.exc_info())",
    "exception-traceback": "try:\n    1 / 0\nexcept Exception as e:\n    print(e.__traceback__)",
    "with-traceback": "try:\n    1 / 0\nexcept Exception as e:\n    print(getattr(e.with_traceback(None), 'tb_' + 'frame'))",
    "forward-ref-frame": ("import functools\n@functools.singledispatch\ndef f(x):\n    return 0\n"
                          "g = (x for x in [1])\ndef h(x: 'g.gi_frame.f_back'):\n    return 1\nf.register(h)"),
}

# The class behind route 2: stdlib code generators, fed names that are not identifiers.
GENERATOR_ROUTES = {
    "namedtuple-field": "import collections\nP = collections.namedtuple('P', ['a=print(1)'])\nprint(P)",
    "namedtuple-rename-dunder": ("import collections\nP = collections.namedtuple('P', ['__globals__'], rename=True)\n"
                                 "print(P._fields, getattr(P(1), '__globals__'))"),
    "typing-namedtuple": "import typing\nP = typing.NamedTuple('P', [('a=1', int)])\nprint(P)",
    "typeddict-dataclass": ("import typing, dataclasses\n"
                            "T = typing.TypedDict('T', {\"a=print('INJECTED') or 1\": int})\n"
                            "dataclasses.dataclass(T)\nprint('made')"),
    "make-dataclass": "import dataclasses\nprint(dataclasses.make_dataclass('X', ['a=1']))",
    "enum-functional-names": "import enum\nE = enum.Enum('E', 'A B')\nprint(getattr(E, '_convert_'))",
}


@pytest.fixture
def canaries():
    shutil.rmtree(DROP, ignore_errors=True)
    DROP.mkdir(mode=0o777)
    DROP.chmod(0o777)
    token = "offswitch-" + secrets.token_hex(8)
    SECRET.write_text(token)
    SECRET.chmod(0o644)
    yield token
    shutil.rmtree(DROP, ignore_errors=True)
    SECRET.unlink(missing_ok=True)


def _held(r: sandbox.Result, token: str) -> None:
    text = f"{r.stdout}\n{r.value}\n{r.error}"
    assert token not in text, r
    assert list(DROP.iterdir()) == [], r


@pytest.mark.parametrize("name", ROUTES)
@BOTH
def test_a_red_team_route_does_not_switch_the_policy_off(name, python_policy, canaries):
    inject = "INJECT = " + repr("a=print('INJECTED', open), *b") + "\n"
    r = sandbox.run(PAYLOAD + inject + ROUTES[name], timeout_s=2.0, python_policy=python_policy)
    _held(r, canaries)
    if python_policy:
        assert r.status in ("blocked", "error"), r
        for word in ("ESCAPED", "INJECTED", "GOT", "WROTE", "Guards"):
            assert word not in r.stdout, r


@pytest.mark.parametrize("name", FRAME_ROUTES)
def test_no_route_reaches_a_frame_or_a_traceback_s_frame(name):
    r = sandbox.run(FRAME_ROUTES[name], timeout_s=2.0)
    assert r.status in ("blocked", "error"), r
    assert "<frame" not in r.stdout and "<traceback" not in r.stdout, r


@pytest.mark.parametrize("name", GENERATOR_ROUTES)
def test_stdlib_code_generators_get_only_identifiers(name):
    r = sandbox.run(GENERATOR_ROUTES[name], timeout_s=2.0)
    assert r.status in ("blocked", "error"), r
    assert "INJECTED" not in r.stdout and "1\n" != r.stdout, r


@BOTH
def test_the_os_layers_hold_a_program_that_owns_its_process(python_policy, canaries):
    """With the policy off nothing needs switching off: the program is ordinary Python.
    The same payload must still find the OS layers: no secret, no file."""
    r = sandbox.run(PAYLOAD + "payload()\n", python_policy=python_policy)
    _held(r, canaries)
    assert r.stdout.count("held") == 2, r


# Everything the program can name, walked through the guard (dir() then getattr, three
# steps deep): no step may lead to the guard object, a real module, a frame, a traceback,
# a code object, a closure cell, the server, or a real builtin the sandbox replaced.
WALK = r"""
import math, cmath, statistics, fractions, decimal, numbers, random, itertools, functools
import collections, heapq, bisect, re, string, datetime, calendar, json, operator, typing
import dataclasses, enum, copy, textwrap, array, unicodedata, abc, contextlib, pprint
import difflib, hashlib, base64, binascii, struct, time, sys
def helper():
    return 1
@dataclasses.dataclass
class D:
    x: int = 0
roots = [print, len, getattr, hasattr, setattr, delattr, type, input, eval, iter, next,
         sys.stdout, sys.stdin, sys.stderr, sys.stdout.buffer, operator.attrgetter('x'),
         operator.methodcaller('x'), 'a'.format, 'a'.format_map, functools.wraps(len),
         string.Formatter(), collections.UserString('a'), D, D(), helper,
         math, cmath, statistics, fractions, decimal, numbers, random, itertools, functools,
         collections, heapq, bisect, re, string, datetime, calendar, json, operator, typing,
         dataclasses, enum, copy, textwrap, array, unicodedata, abc, contextlib, pprint,
         difflib, hashlib, base64, binascii, struct, time, sys]
BAD = {'Guards', 'module', 'frame', 'traceback', 'code', 'cell', 'Server', 'mappingproxy_of_globals'}
REAL = {'open', 'exec', 'compile', 'globals', 'vars', 'breakpoint', '__import__', 'locals'}
seen, bad, queue = set(), set(), [(r, 0, 'root') for r in roots]
while queue and len(seen) < 30000:
    obj, depth, path = queue.pop()
    if id(obj) in seen:
        continue
    seen.add(id(obj))
    try:
        name = type(obj).__name__
    except BaseException:  # a metaclass: the sandbox will not hand it out
        name = 'metaclass'
    if name in BAD:
        bad.add(name + ' at ' + path)
    if callable(obj) and getattr(obj, '__name__', '') in REAL and name == 'builtin_function_or_method':
        bad.add('real builtin ' + obj.__name__ + ' at ' + path)
    if depth >= 3 or isinstance(obj, (str, bytes, int, float, complex)):
        continue
    if isinstance(obj, (tuple, list, set, frozenset)):
        queue.extend((v, depth + 1, path + '[]') for v in list(obj)[:50])
    elif isinstance(obj, dict):
        queue.extend((v, depth + 1, path + '{}') for v in list(obj.values())[:50])
    try:
        names = dir(obj)
    except Exception:
        continue
    for n in names:
        if n.startswith('__'):
            continue
        try:
            value = getattr(obj, n)
        except BaseException:
            continue
        queue.append((value, depth + 1, path + '.' + n))
print('WALKED', len(seen))
print('BAD', sorted(bad)[:20])
"""


def test_nothing_the_program_can_reach_leads_to_sandbox_internals():
    r = sandbox.run(WALK, timeout_s=30.0, memory_mb=512)
    assert r.ok, r
    assert int(r.stdout.split("WALKED ")[1].split()[0]) > 1500, r.stdout  # it looked
    assert "BAD []" in r.stdout, r.stdout


def test_the_audit_hook_holds_no_state_a_program_could_set():
    """The hook is a closure over the allowed events, a frame getter, the namespaces it
    trusts (compared by identity), a name check and the error it raises: no flag, no
    object of the sandbox's with attributes, no module global read when it runs."""
    g = {}
    hook = guards.make_audit_hook(g, {})
    kinds = {type(c.cell_contents).__name__ for c in hook.__closure__}
    assert kinds <= {"frozenset", "dict", "tuple", "builtin_function_or_method", "function",
                     "type"}, kinds
    assert set(hook.__code__.co_names) <= {"getattr", "f_globals", "f_back"}, hook.__code__.co_names
    assert not hasattr(hook, "__self__") and hook.__dict__ == {}


def test_ordinary_programs_still_use_what_was_closed():
    code = ("import dataclasses, functools, operator, string, collections, typing\n"
            "@dataclasses.dataclass\nclass A:\n    x: int = 1\n"
            "@dataclasses.dataclass\nclass B(A):\n    y: int = 2\n"
            "print(B(), dataclasses.replace(B(), y=5), dataclasses.fields(B)[1].name)\n"
            "print(operator.attrgetter('x', 'y')(B()), operator.methodcaller('count', 'a')('banana'))\n"
            "print('{0:>4}|{k}'.format(7, k='v'), string.Formatter().format('{0}-{1}', 1, 2))\n"
            "P = collections.namedtuple('P', 'a b')\nprint(P(1, 2)._asdict())\n"
            "def deco(f):\n    @functools.wraps(f)\n    def w(*a):\n        return f(*a)\n    return w\n"
            "@deco\ndef named():\n    return 3\nprint(named.__name__, named(), typing.Optional['A'])\n")
    r = sandbox.run(code)
    assert r.ok, r
    assert r.stdout == ("B(x=1, y=2) B(x=1, y=5) y\n(1, 2) 3\n   7|v 1-2\n{'a': 1, 'b': 2}\n"
                        "named 3 typing.Optional[ForwardRef('A')]\n"), r.stdout
