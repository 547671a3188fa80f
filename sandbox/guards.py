"""Layer 1, run time: what a program sees and what it may touch.

- builtins: a curated dict (no ``open``, ``exec``, ``compile``, ``globals``, ``vars``,
  ``__import__``, ``breakpoint``); ``input`` reads the program's stdin only;
  ``getattr``/``hasattr``/``setattr`` are the guarded versions, ``type`` is one-argument
  only, ``eval`` evaluates arithmetic on number literals and nothing else.
- imports: an allow-list of pure-stdlib modules. A program never receives a real module
  object: it receives a read-only *view* holding the module's public, non-module
  attributes, minus a per-module deny list of functions that reach attributes or
  evaluate strings without the guard (``operator.attrgetter`` is replaced by a guarded
  version, ``string.Formatter`` is replaced, ``statistics.sys`` and ``json.codecs`` are
  simply absent because they are modules). ``sys`` is a safe subset of constants.
- ``str.format``/``format_map`` are replaced by a formatter that refuses ``_`` fields,
  because the format mini-language walks attributes itself.
- writes: instances may be modified (each program runs in its own process); modules,
  module views, functions and classes the program did not define may not.

The sandbox server builds all of this once, before forking, and imports no
RestrictedPython: compile-time checks are ``sandbox/policy.py``'s, in the caller.
"""
from __future__ import annotations

import ast
import builtins
import functools
import importlib
import operator
import string
import types

# RestrictedPython's INSPECT_ATTRIBUTES (frames, tracebacks, generators, coroutines),
# listed here so that this module does not import RestrictedPython.
_INSPECT = {"tb_frame", "tb_next", "f_back", "f_builtins", "f_code", "f_generator",
            "f_globals", "f_locals", "f_trace", "co_code", "gi_frame", "gi_code",
            "gi_yieldfrom", "cr_await", "cr_frame", "cr_code", "cr_origin", "ag_await",
            "ag_frame", "ag_code"}

# Modules a math / string / algorithm program needs. All pure computation.
ALLOWED_MODULES = (
    "math", "cmath", "statistics", "fractions", "decimal", "numbers", "random",
    "itertools", "functools", "collections", "collections.abc", "heapq", "bisect",
    "re", "string", "datetime", "calendar", "json", "operator", "typing",
    "dataclasses", "enum", "copy", "textwrap", "array", "unicodedata", "abc",
    "contextlib", "pprint", "difflib", "hashlib", "base64", "binascii", "struct",
    "time", "sys",
)

# Dunders a program may define and read. Everything else starting with "_" is refused.
SAFE_DUNDERS = frozenset(
    f"__{n}__" for n in (
        "init post_init repr str format hash bool len iter next reversed contains "
        "getitem setitem delitem missing call enter exit eq ne lt le gt ge "
        "add sub mul truediv floordiv mod divmod pow matmul lshift rshift and or xor "
        "radd rsub rmul rtruediv rfloordiv rmod rdivmod rpow rmatmul rlshift rrshift "
        "rand ror rxor iadd isub imul itruediv ifloordiv imod ipow "
        "neg pos abs invert int float complex round trunc floor ceil index "
        "name qualname doc"
    ).split()
)

# Public attributes that still lead to interpreter internals.
DENIED_ATTRIBUTES = frozenset(_INSPECT) | {
    "f_lasti", "f_trace_lines", "gi_running", "cr_origin", "obj", "mro",
    "format_field", "get_field", "get_value", "vformat",
}

# Per-module names removed beyond the generic rules (non-public, modules).
MODULE_DENY = {
    "operator": {"attrgetter", "methodcaller"},  # replaced with guarded versions
    "string": {"Formatter"},
    "random": {"SystemRandom"},
    "functools": {"singledispatchmethod"},
    "typing": {"get_type_hints", "ForwardRef"},  # they eval() strings
    "dataclasses": {"make_dataclass"},  # builds code from strings
    "enum": {"_simple_enum"},
    "time": {"tzset"},
    "contextlib": {"chdir", "redirect_stdout", "redirect_stderr"},
    "difflib": {"restore"},
    "pprint": {"PrettyPrinter"},
    "calendar": {"TextCalendar", "HTMLCalendar", "LocaleTextCalendar", "LocaleHTMLCalendar"},
}


class PolicyError(Exception):
    """Raised at run time when the program reaches for something the policy refuses."""



class ModuleView:
    """A read-only stand-in for a module: its public, non-module attributes only."""

    __slots__ = ("_name", "_attrs")

    def __init__(self, name: str, attrs: dict):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_attrs", attrs)

    def __getattr__(self, name):
        try:
            return self._attrs[name]
        except KeyError:
            raise AttributeError(f"module '{self._name}' has no attribute '{name}' "
                                 "(or the sandbox does not offer it)") from None

    def __setattr__(self, name, value):
        raise PolicyError(f"module '{self._name}' is read-only in the sandbox")

    def __delattr__(self, name):
        raise PolicyError(f"module '{self._name}' is read-only in the sandbox")

    def __dir__(self):
        return sorted(self._attrs)

    def __repr__(self):
        return f"<module '{self._name}' (sandbox view)>"


class Guards:
    """Everything the rewritten program calls: _getattr_, _write_, imports, builtins.

    Each program runs in its own forked copy, so the set of classes the program
    defined is the program's own.
    """

    def __init__(self, views: dict[str, ModuleView], stdin_text: str = ""):
        self.views = views
        self.reset(stdin_text)

    def reset(self, stdin_text: str) -> None:
        """Per-program state. The server builds one Guards before forking; each child
        resets its own copy, which is far cheaper than building one after the fork
        (every object touched after a fork costs a copy-on-write page fault)."""
        self.own_classes: set[type] = set()
        self.stdin_lines = iter(stdin_text.splitlines())

    # attribute access -------------------------------------------------------------
    def getattr(self, obj, name, *default):
        if not isinstance(name, str):
            raise TypeError("attribute name must be a string")
        if (name.startswith("__") and name not in SAFE_DUNDERS) or name in DENIED_ATTRIBUTES:
            raise PolicyError(f"access to attribute '{name}' is not allowed")
        if isinstance(obj, ModuleView) and name.startswith("_"):
            raise PolicyError(f"module '{obj._name}' has no public attribute '{name}'")
        if isinstance(obj, str) and name in ("format", "format_map"):
            return functools.partial(_safe_format, obj) if name == "format" \
                else functools.partial(_safe_format_map, obj)
        if obj is str and name in ("format", "format_map"):
            return _safe_format if name == "format" else _safe_format_map
        try:
            value = getattr(obj, name)
        except AttributeError as e:
            if default:
                return default[0]
            raise AttributeError(str(e)) from None  # a fresh error: no .obj back-reference
        if isinstance(value, types.ModuleType):
            raise PolicyError(f"attribute '{name}' is a module; import it instead")
        return value

    def hasattr(self, obj, name):
        try:
            self.getattr(obj, name)
        except (AttributeError, PolicyError):
            return False
        return True

    def write(self, obj):
        """Instances may be modified (each program runs in its own process, so nothing
        leaks to the next); modules and classes the program did not define may not."""
        if isinstance(obj, (ModuleView, types.ModuleType, types.FunctionType,
                            types.BuiltinFunctionType)):
            raise PolicyError(f"cannot modify {obj!r}")
        if isinstance(obj, type) and obj not in self.own_classes:
            raise PolicyError(f"cannot modify class {obj.__name__}: the program did not define it")
        return obj

    def setattr(self, obj, name, value):
        if not isinstance(name, str) or name.startswith("__"):
            raise PolicyError(f"setting attribute {name!r} is not allowed")
        setattr(self.write(obj), name, value)

    def delattr(self, obj, name):
        if not isinstance(name, str) or name.startswith("__"):
            raise PolicyError(f"deleting attribute {name!r} is not allowed")
        delattr(self.write(obj), name)

    def build_class(self, func, name, *bases, **kw):
        # RestrictedPython writes every class as `class X(metaclass=__metaclass__)`, and
        # refuses a metaclass keyword in the source; anything else here is an attack.
        if kw.pop("metaclass", type) is not type or kw:
            raise PolicyError("metaclasses and class keywords are not allowed")
        cls = builtins.__build_class__(func, name, *bases, **kw)
        self.own_classes.add(cls)
        return cls

    def import_(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0:
            raise PolicyError("relative imports are not allowed")
        if name in LAZY_HELPERS and type(fromlist) is list:
            # C code importing its helper (datetime.strptime -> _strptime) passes a list;
            # an import statement passes None or a tuple, and `__import__` is unnameable.
            return importlib.import_module(name)
        if name not in self.views:
            raise PolicyError(f"import of '{name}' is not allowed")
        if fromlist or "." not in name:
            return self.views[name]
        return self.views[name.split(".")[0]]  # `import collections.abc` binds `collections`

    def input(self, prompt=""):
        try:
            return next(self.stdin_lines)
        except StopIteration:
            raise EOFError("EOF when reading a line") from None


def _check_field(field_name: str):
    for part in field_name.replace("[", ".").split("."):
        if part.startswith("_") or part in DENIED_ATTRIBUTES:
            raise PolicyError(f"format field '{field_name}' is not allowed")


class _SafeFormatter(string.Formatter):
    def get_field(self, field_name, args, kwargs):
        _check_field(field_name)
        return super().get_field(field_name, args, kwargs)


_FORMATTER = _SafeFormatter()


def _safe_format(fmt, *args, **kwargs):
    return _FORMATTER.vformat(fmt, args, kwargs)


def _safe_format_map(fmt, mapping):
    return _FORMATTER.vformat(fmt, (), mapping)


_ARITH_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator,
                ast.unaryop)


def arith_eval(expression, globals=None, locals=None):
    """eval() for arithmetic only: number literals, + - * / // % ** and unary signs."""
    if not isinstance(expression, str):
        raise PolicyError("eval() takes a string of arithmetic in the sandbox")
    tree = ast.parse(expression.strip(), "<eval>", "eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ARITH_NODES) or (
                isinstance(node, ast.Constant) and type(node.value) not in (int, float, complex)):
            raise PolicyError("eval() in the sandbox accepts only arithmetic on number literals, "
                              f"not {type(node).__name__}")
    return eval(compile(tree, "<eval>", "eval"), {"__builtins__": {}})


def _guarded_attrgetter(*names):
    for n in names:
        _check_field(n)
    return operator.attrgetter(*names)


def _guarded_methodcaller(name, *args, **kwargs):
    _check_field(name)
    return operator.methodcaller(name, *args, **kwargs)


def _sys_view(stdout, stderr, stdin) -> dict:
    import sys
    out = {k: getattr(sys, k) for k in (
        "maxsize", "maxunicode", "float_info", "int_info", "hash_info", "version",
        "version_info", "byteorder", "platform", "implementation", "float_repr_style",
        "getrecursionlimit", "getsizeof", "intern", "get_int_max_str_digits",
        "set_int_max_str_digits")}
    out.update(argv=["program"], stdout=stdout, stderr=stderr, stdin=stdin,
               exit=sys.exit, setrecursionlimit=_bounded_recursionlimit)
    return out


def _bounded_recursionlimit(n: int):
    import sys
    sys.setrecursionlimit(max(50, min(int(n), 100_000)))


# Modules the allowed ones import lazily, on first use. The child cannot load anything
# from disk (chroot, Landlock), so they are imported in the server, before any fork.
LAZY_HELPERS = ("_strptime", "encodings.utf_16", "encodings.utf_32", "encodings.latin_1",
                "encodings.ascii", "encodings.cp1252", "encodings.idna", "encodings.punycode",
                "encodings.unicode_escape", "encodings.raw_unicode_escape", "encodings.hex_codec",
                "encodings.base64_codec", "locale")


def build_views() -> dict[str, ModuleView]:
    """Import the allow-listed modules and build their views (once, in the server)."""
    for name in LAZY_HELPERS:
        importlib.import_module(name)
    views = {}
    for name in ALLOWED_MODULES:
        if name == "sys":
            continue
        mod = importlib.import_module(name)
        deny = MODULE_DENY.get(name, set())
        attrs = {k: v for k, v in vars(mod).items()
                 if not k.startswith("_") and k not in deny
                 and not isinstance(v, types.ModuleType)}
        if name == "operator":
            attrs.update(attrgetter=_guarded_attrgetter, methodcaller=_guarded_methodcaller)
        if name == "string":
            attrs["Formatter"] = _SafeFormatter
        views[name] = ModuleView(name, attrs)
    # `import collections.abc` then `collections.abc.Iterable` must work.
    coll = dict(views["collections"]._attrs, abc=views["collections.abc"])
    views["collections"] = ModuleView("collections", coll)
    return views


_SAFE_BUILTIN_NAMES = (
    "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict "
    "divmod enumerate filter float format frozenset hash hex id int isinstance "
    "issubclass iter len list map max memoryview min next object oct ord pow print "
    "property range repr reversed round set slice sorted staticmethod str sum super "
    "tuple zip dir aiter anext NotImplemented Ellipsis False True None"
).split()


def _one_arg_type(*args):
    if len(args) != 1:
        raise PolicyError("type() with three arguments is not allowed; use a class statement")
    return type(args[0])


def make_globals(guards: Guards, stdout, stderr, stdin) -> dict:
    """The program's global namespace: guards plus a curated builtins dict."""
    b = {n: getattr(builtins, n) for n in _SAFE_BUILTIN_NAMES}
    b.update({n: v for n, v in vars(builtins).items()
              if isinstance(v, type) and issubclass(v, BaseException)})
    b.update(getattr=guards.getattr, hasattr=guards.hasattr, setattr=guards.setattr,
             delattr=guards.delattr, type=_one_arg_type, input=guards.input, eval=arith_eval,
             __import__=guards.import_, __build_class__=guards.build_class,
             __name__="__main__", PolicyError=PolicyError)
    views = dict(guards.views)
    views["sys"] = ModuleView("sys", _sys_view(stdout, stderr, stdin))
    guards.views = views
    return {
        "__builtins__": b, "__name__": "__main__", "__metaclass__": type,
        "_getattr_": guards.getattr, "_getitem_": operator.getitem,
        "_getiter_": iter, "_iter_unpack_sequence_": _iter_unpack,
        "_unpack_sequence_": _unpack, "_write_": guards.write,
        "_inplacevar_": _inplacevar, "_arith_eval_": arith_eval, "_print_": _Print, "_print": _Print(), "_apply_": _apply,
    }


class _Print:
    """RestrictedPython routes `print(...)` through `_print_(_getattr_)._call_print`."""

    def __init__(self, _getattr=None):
        pass

    def _call_print(self, *args, **kwargs):
        print(*args, **kwargs)

    def __call__(self):  # the `printed` variable: we print for real, nothing is collected
        return ""


def _apply(f, *args, **kwargs):
    return f(*args, **kwargs)


def _unpack(it, spec, _getiter_=iter):
    out = list(it)
    if len(out) >= spec["min_len"]:
        for idx, child in spec["childs"]:
            out[idx] = _unpack(out[idx], child)
    return out


def _iter_unpack(it, spec, _getiter_=iter):
    for ob in it:
        yield _unpack(ob, spec)


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand,
    "//=": operator.ifloordiv, "@=": operator.imatmul,
}


def _inplacevar(op, x, y):
    return _INPLACE[op](x, y)

