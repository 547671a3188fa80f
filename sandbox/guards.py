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

The sandbox server builds all of this once, before forking its zygote, which never
imports RestrictedPython: compile-time checks are ``sandbox/policy.py``'s, in the server.
"""
from __future__ import annotations

import ast
import builtins
import collections
import dataclasses
import functools
import importlib
import inspect
import keyword
import operator
import string
import sys
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


AUDIT_ALLOWED = frozenset({
    "builtins.id", "object.__setattr__", "object.__delattr__", "time.sleep",
    "array.__new__", "sys.addaudithook", "sys.excepthook", "sys.unraisablehook",
    "random.seed",
})


def make_audit_hook(program_globals: dict, runner_globals: dict):
    """A CPython audit hook (PEP 578), installed in each child before its program runs and
    never removed. The guards check the names a program writes; this hook checks what any
    code does on the program's behalf, whoever wrote that code: it refuses every audited
    event except those ordinary computation raises. So library code the program drives (a
    typing forward reference, functools.update_wrapper, a match statement, a raw file
    object) still cannot open a file, import, compile or run source, reach a frame or a
    code object, load ctypes, or touch the os.

    The hook is a closure with no state a program could set: no flag, no attribute, no
    object of the sandbox's holding it (the interpreter's hook list is not reachable from
    Python). It never reads an audited attribute itself, so it needs no re-entrancy flag:
    it finds the frame that raised the event as ``sys._getframe(0).f_back`` (``f_back``
    and ``f_globals`` raise no event; the nested ``sys._getframe`` event it causes is
    recognised by the frame's globals being this module's), and it decides by the
    *module* that frame runs in, compared by identity.

    Allowed beyond the plain events:
    - ``exec``/``compile`` from the sandbox's runner (``runner_globals``), from the code
      generators of dataclasses and namedtuple (whose inputs the guards check to be plain
      identifiers) and from ``ast.parse`` (which builds only a tree);
    - ``compile`` of a dotted public name anywhere (``typing.Optional["Node"]`` compiles
      its forward reference); *running* such code is refused, so no forward reference is
      ever evaluated, in any namespace;
    - ``object.__getattr__`` (frames, code objects) from the runner's error report and
      from inspect reading a signature (dataclasses builds its ``__doc__`` that way);
    - ``sys._getframe`` from any frame that is not the program's (namedtuple, enum and
      typing ask for their caller's module name); the program's own frames are refused.
    """
    getframe = sys._getframe
    own = globals()
    allowed = AUDIT_ALLOWED
    dotted, refused = _dotted_public_name, PolicyError  # bound now: no module global is read later
    compilers = (runner_globals, vars(dataclasses), vars(collections), vars(ast))
    frame_readers = (runner_globals, vars(inspect))
    program = program_globals

    def hook(event, args):
        if event in allowed:
            return
        if event == "sys._getframe" and args and getattr(args[0], "f_globals", None) is own:
            return  # the getframe(0) just below, in a nested call of this hook
        caller = getframe(0).f_back
        module = caller.f_globals if caller is not None else None
        if event in ("exec", "compile"):
            for g in compilers:
                if module is g:
                    return
            if event == "compile" and dotted(args[0]):
                return
        elif event == "object.__getattr__":
            for g in frame_readers:
                if module is g:
                    return
        elif event == "sys._getframe" and module is not program and module is not None:
            return
        raise refused(f"the sandbox refuses '{event}' while a program runs")

    return hook


def _dotted_public_name(source) -> bool:
    if isinstance(source, (bytes, bytearray)):
        try:
            source = bytes(source).decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(source, str) or len(source) > 200:
        return False
    return all(p.isidentifier() and not p.startswith("_") for p in source.strip().split("."))



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

    def __init__(self, views: dict[str, ModuleView], stdin=None):
        self.views = views
        self.stdin = stdin  # the program's stdin stream (fd 0 in the child)
        self.reset()

    def reset(self) -> None:
        """Per-program state. The server builds one Guards before forking; each child
        resets its own copy, which is far cheaper than building one after the fork
        (every object touched after a fork costs a copy-on-write page fault)."""
        self.own_classes: set[type] = set()

    # attribute access -------------------------------------------------------------
    def getattr(self, obj, name, *default):
        check_attribute_name(name)
        if isinstance(obj, ModuleView) and name.startswith("_"):
            raise PolicyError(f"'{obj._name}' has no public attribute '{name}'")
        try:
            value = getattr(obj, name)
        except AttributeError as e:
            if default:
                return default[0]
            raise AttributeError(str(e)) from None  # a fresh error: no .obj back-reference
        if isinstance(value, types.ModuleType):
            raise PolicyError(f"attribute '{name}' is a module; import it instead")
        if name in ("format", "format_map"):
            return _checked_format(value)
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
                            types.BuiltinFunctionType, dataclasses.Field)):
            # a dataclass Field's name is written into the code dataclasses generates
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
        if any(isinstance(b, type) and issubclass(b, type) for b in bases):
            # A metaclass of the program's could be called with a dict it chose
            # (__instancecheck__, __match_args__, ...): no class body the policy checked.
            raise PolicyError("a class may not subclass type (metaclasses are not allowed)")
        if any(isinstance(b, type) and issubclass(b, dataclasses.Field) for b in bases):
            # dataclasses writes a Field's name into the code it generates; a subclass
            # could answer `name` with anything
            raise PolicyError("a class may not subclass dataclasses.Field")
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
        line = self.stdin.readline()
        if not line:
            raise EOFError("EOF when reading a line")
        return line[:-1] if line.endswith("\n") else line


def check_attribute_name(name) -> None:
    """The one rule for an attribute name that came from the program, whoever reads it
    (getattr, attrgetter, methodcaller, update_wrapper, a format field): the safe
    dunders, single-underscore names (`_cache`, `_replace`) and public names pass;
    other dunders, `_sunder_` names (enum's `_convert_`, `_missing_`) and the
    attributes that lead to frames or code do not. The same rule the compiler applies
    to `obj._x_` in the source."""
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name in SAFE_DUNDERS:
        return
    if (name.startswith("_") and name.endswith("_")) or name.startswith("__") \
            or name in DENIED_ATTRIBUTES:
        raise PolicyError(f"access to attribute '{name}' is not allowed")


def _check_field(field_name: str):
    for part in field_name.replace("[", ".").replace("]", ".").split("."):
        if part.startswith("_") or part in DENIED_ATTRIBUTES:
            raise PolicyError(f"format field '{field_name}' is not allowed")


def _checked_format(value):
    """Any route to the real str.format / format_map (on a str, a str subclass, through
    super(), as the unbound method) comes back as the checked formatter: the format
    mini-language walks attributes itself, out of reach of the guard."""
    if value is str.format:
        return _safe_format
    if value is str.format_map:
        return _safe_format_map
    owner = getattr(value, "__self__", None)
    if isinstance(value, types.BuiltinMethodType) and isinstance(owner, str):
        if value.__name__ == "format":
            return _bound(_safe_format, owner)
        if value.__name__ == "format_map":
            return _bound(_safe_format_map, owner)
    return value


def _bound(fn, first):
    """fn with its first argument bound, as a closure: a functools.partial would show
    the program its ``func``, ``args`` and ``keywords``."""
    def method(*args, **kwargs):
        return fn(first, *args, **kwargs)
    return method


class _SafeFormatter(string.Formatter):
    def get_field(self, field_name, args, kwargs):
        _check_field(field_name)
        return super().get_field(field_name, args, kwargs)


_FORMATTER = _SafeFormatter()


def _safe_format(fmt, *args, **kwargs):
    return _FORMATTER.vformat(fmt, args, kwargs)


def _safe_format_map(fmt, mapping):
    return _FORMATTER.vformat(fmt, (), mapping)


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def arith_eval(expression, globals=None, locals=None):
    """eval() for arithmetic only: number literals, + - * / // % ** and unary signs.
    Walks the tree itself (no compile, no exec: the audit gate refuses those)."""
    if not isinstance(expression, str):
        raise PolicyError("eval() takes a string of arithmetic in the sandbox")
    tree = ast.parse(expression.strip(), "<eval>", "eval")
    return _arith(tree.body)


def _arith(node):
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, complex):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_arith(node.left), _arith(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_arith(node.operand))
    raise PolicyError("eval() in the sandbox accepts only arithmetic on number literals, "
                      f"not {type(node).__name__}")


def _guarded_attrgetter(guarded_getattr):
    """operator.attrgetter through the guard: each step is a guarded getattr. Built as
    closures, so that nothing the program receives (the factory, a getter) has an
    attribute leading to the guards: a closure's cells are behind ``__closure__``, which
    no route allows."""

    def attrgetter(*names):
        for n in names:
            if not isinstance(n, str):
                raise TypeError("attribute name must be a string")
            for part in n.split("."):
                check_attribute_name(part)
        paths = tuple(tuple(n.split(".")) for n in names)

        def get(obj):
            got = []
            for path in paths:
                value = obj
                for part in path:
                    value = guarded_getattr(value, part)
                got.append(value)
            return got[0] if len(got) == 1 else tuple(got)
        return get

    return attrgetter


def _guarded_methodcaller(guarded_getattr):
    """operator.methodcaller through the guard (closures, as above)."""

    def methodcaller(name, *args, **kwargs):
        check_attribute_name(name)

        def call(obj):
            return guarded_getattr(obj, name)(*args, **kwargs)
        return call

    return methodcaller


def _checked_update_wrapper(wrapper, wrapped, assigned=functools.WRAPPER_ASSIGNMENTS,
                            updated=functools.WRAPPER_UPDATES):
    """functools.update_wrapper reads and writes the attributes it is told to, by name,
    without the guard: names beyond its defaults must pass the guard's rule."""
    for name in tuple(assigned) + tuple(updated):
        if name not in functools.WRAPPER_ASSIGNMENTS + functools.WRAPPER_UPDATES:
            check_attribute_name(name)
    return functools.update_wrapper(wrapper, wrapped, assigned, updated)


def _checked_wraps(wrapped, assigned=functools.WRAPPER_ASSIGNMENTS,
                   updated=functools.WRAPPER_UPDATES):
    def decorate(wrapper):
        return _checked_update_wrapper(wrapper, wrapped, assigned, updated)
    return decorate


def _checked_dataclass(cls=None, /, **kwargs):
    """dataclasses.dataclass writes the field names into source code it executes: they
    must be identifiers (a class built another way could carry any string)."""

    def wrap(c):
        # Its own fields, and every field it inherits: a base's Field objects are what
        # dataclasses writes into the new class's __init__, __repr__ and __eq__.
        for name in c.__dict__.get("__annotations__", {}):
            _check_field_name(name)
        for base in c.__mro__[1:]:
            inherited = base.__dict__.get("__dataclass_fields__", {})
            if type(inherited) is not dict:
                raise PolicyError("a dataclass base has malformed fields")
            for name, f in inherited.items():
                _check_field_name(name)
                if type(f) is not dataclasses.Field:
                    raise PolicyError(f"dataclass field {name!r} is not a Field")
                _check_field_name(f.name)
                if f.name != name:
                    raise PolicyError(f"dataclass field {name!r} was renamed")
        return dataclasses.dataclass(c, **kwargs)

    return wrap if cls is None else wrap(cls)


def _check_field_name(name) -> None:
    # type() is str: a str subclass could answer isidentifier() or repr() as it likes
    if not (type(name) is str and str.isidentifier(name) and not keyword.iskeyword(name)):
        raise PolicyError(f"dataclass field name {str.__repr__(str(name))[:80]} is not an identifier")


def _sys_view(stdout, stderr, stdin) -> dict:
    out = {k: getattr(sys, k) for k in (
        "maxsize", "maxunicode", "float_info", "int_info", "hash_info", "version",
        "version_info", "byteorder", "platform", "implementation", "float_repr_style",
        "getrecursionlimit", "getsizeof", "intern", "get_int_max_str_digits",
        "set_int_max_str_digits")}
    out.update(argv=["program"], stdout=_stream_view("stdout", stdout),
               stderr=_stream_view("stderr", stderr), stdin=_stream_view("stdin", stdin),
               exit=sys.exit, setrecursionlimit=_bounded_recursionlimit)
    return out


def _bounded_recursionlimit(n: int):
    sys.setrecursionlimit(max(50, min(int(n), 100_000)))


# Modules the allowed ones import lazily, on first use. The child cannot load anything
# from disk (chroot, Landlock), so they are imported in the server, before any fork.
LAZY_HELPERS = ("_strptime", "encodings.utf_16", "encodings.utf_32", "encodings.latin_1",
                "encodings.ascii", "encodings.cp1252", "encodings.idna", "encodings.punycode",
                "encodings.unicode_escape", "encodings.raw_unicode_escape", "encodings.hex_codec",
                "encodings.base64_codec", "locale")


class _UserString(collections.UserString):
    """collections.UserString whose format methods are the checked formatter (the
    original calls the real str.format on its data)."""

    def format(self, *args, **kwargs):
        return _safe_format(self.data, *args, **kwargs)

    def format_map(self, mapping):
        return _safe_format_map(self.data, mapping)


_REPLACED = {
    "string": {"Formatter": _SafeFormatter},
    "functools": {"update_wrapper": _checked_update_wrapper, "wraps": _checked_wraps},
    "dataclasses": {"dataclass": _checked_dataclass},
    "collections": {"UserString": _UserString},
}


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
        # Metaclasses (abc.ABCMeta, enum.EnumType) build a class from any dict when
        # called with three arguments; a class statement with a base uses them anyway.
        attrs = {k: v for k, v in attrs.items()
                 if not (isinstance(v, type) and issubclass(v, type))}
        attrs.update(_REPLACED.get(name, {}))
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
    """type(x) with one argument. The type of a class is the sandbox's type itself, so
    `type(int)` cannot hand out the real three-argument type; other metaclasses
    (`type(SomeEnum)`) are refused."""
    if len(args) != 1:
        raise PolicyError("type() with three arguments is not allowed; use a class statement")
    t = type(args[0])
    if issubclass(t, type):
        if t is type:
            return _one_arg_type
        raise PolicyError(f"the metaclass {t.__name__} is not available in the sandbox")
    return t


class StreamView(ModuleView):
    """What a program sees as sys.stdout / sys.stderr / sys.stdin: the text methods of
    the stream, never the stream object, its buffer or its raw file (whose class opens
    files by path and whose fds include the report channel)."""

    __slots__ = ()

    def __iter__(self):
        return iter(self._attrs["readline"], _EMPTY[self._name])

    def __repr__(self):
        return f"<{self._name} (sandbox view)>"


_EMPTY = {"stdin": "", "stdin.buffer": b""}


def _stream_view(name: str, stream) -> StreamView:
    if name == "stdin":
        buf = stream.buffer
        return StreamView(name, {
            "read": stream.read, "readline": stream.readline, "readlines": stream.readlines,
            "encoding": "utf-8", "isatty": _false, "readable": _true, "writable": _false,
            "buffer": StreamView("stdin.buffer", {"read": buf.read, "readline": buf.readline,
                                                  "readlines": buf.readlines})})
    buf = stream.buffer
    return StreamView(name, {
        "write": stream.write, "writelines": stream.writelines, "flush": stream.flush,
        "encoding": "utf-8", "isatty": _false, "readable": _false, "writable": _true,
        "buffer": StreamView(name + ".buffer", {"write": _flushing_write(stream, buf),
                                                "flush": stream.flush})})


def _flushing_write(text, buf):
    def write(data):
        text.flush()  # keep print() and buffer writes in order
        return buf.write(data)
    return write


def _false():
    return False


def _true():
    return True


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
    views["operator"] = ModuleView("operator", dict(
        views["operator"]._attrs, attrgetter=_guarded_attrgetter(guards.getattr),
        methodcaller=_guarded_methodcaller(guards.getattr)))
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

