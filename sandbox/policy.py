"""Layer 1, compile time: a RestrictedPython policy, widened where ordinary programs need it.

RestrictedPython rewrites the program so that every attribute read goes through
``_getattr_``, every subscript through ``_getitem_``, every write through ``_write_``,
and rejects names and attributes that start with ``_``. We subclass its policy:

- ``def __repr__`` and the other operator dunders may be *defined* in classes, and the
  same safe set may be *read* (``super().__init__(...)``); ``__class__``, ``__dict__``,
  ``__globals__``, ``__subclasses__`` and the rest stay forbidden;
- single-underscore names and attributes (``self._cache``, ``p._replace``) are allowed
  and go through the guards; names shaped like a guard (``_getattr_``, ``_print``,
  ``_tmp0``) stay reserved, so a program cannot rebind a guard;
- ``self.count += 1`` and ``x[i] += 1`` become guarded read-modify-write;
- ``nonlocal``, annotated assignments and ``match`` are allowed; class patterns may not
  name ``_`` attributes, because a keyword pattern reads attributes without ``_getattr_``;
- ``eval(s)`` is routed to an evaluator of arithmetic on number literals only.

Compilation happens in the sandbox server (``sandbox/server.py``), which never forks a
program and compiles under the program's own time and memory limits: neither the caller
nor the pristine zygote ever parses untrusted source. The run-time half of the policy is
``sandbox/guards.py``.

Not a security boundary (RestrictedPython's documentation says so; it has had a bypass
most years): the OS layers in ``sandbox/oslayer.py`` hold without it.
"""
from __future__ import annotations

import ast
import copy
import marshal
import tokenize
import types
import warnings
from collections import OrderedDict

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer

from sandbox.guards import DENIED_ATTRIBUTES, SAFE_DUNDERS


# Leaf nodes RestrictedPython allows unconditionally (its visit_Load, visit_Add, ... only
# recurse into nothing). Returning them directly skips two method lookups per node.
_LEAVES = (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)


class SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, widened only where ordinary programs need it."""

    _visitors: dict = {}

    def visit(self, node):
        # Same dispatch as ast.NodeVisitor.visit (a node type without a visit_ method
        # goes to RestrictedPython's generic_visit, which rejects it), with a cache.
        if isinstance(node, _LEAVES):
            return node
        cls = type(node)
        name = self._visitors.get(cls)
        if name is None:
            name = self._visitors[cls] = "visit_" + cls.__name__
        return getattr(self, name, self.generic_visit)(node)

    def node_contents_visit(self, node):
        # ast.NodeTransformer.generic_visit, without its per-field generator overhead.
        for field in node._fields:
            old = getattr(node, field, None)
            if isinstance(old, list):
                new = []
                for value in old:
                    if isinstance(value, ast.AST):
                        value = self.visit(value)
                        if value is None:
                            continue
                        if not isinstance(value, ast.AST):
                            new.extend(value)
                            continue
                    new.append(value)
                old[:] = new
            elif isinstance(old, ast.AST):
                value = self.visit(old)
                if value is None:
                    delattr(node, field)
                else:
                    setattr(node, field, value)
        return node

    def check_name(self, node, name, allow_magic_methods=False):
        if name in SAFE_DUNDERS and allow_magic_methods:
            return
        if name == "__name__" and isinstance(getattr(node, "ctx", None), ast.Load):
            return  # `if __name__ == "__main__":` reads the string the globals hold
        if name is not None and _is_private_name(name):
            return  # `_cache`, `_helper`: ordinary Python, no guard is named like that
        super().check_name(node, name, allow_magic_methods=False)

    def visit_AnnAssign(self, node):
        # `x: int = 3` and dataclass fields. The annotation is an ordinary expression.
        return self.node_contents_visit(node)

    def visit_Attribute(self, node):
        if _is_private_name(node.attr) and not node.attr.endswith("_"):
            # obj._x: single-underscore attributes are a naming convention, not internals.
            # RestrictedPython refuses them; we route them through the guards instead.
            renamed = ast.Attribute(node.value, "x" + node.attr, node.ctx)
            ast.copy_location(renamed, node)
            out = super().visit_Attribute(renamed)
            _restore_attr(out, node.attr)
            return out
        if node.attr in SAFE_DUNDERS:
            # Read-only access to a safe dunder goes through _getattr_ like any other.
            if not isinstance(node.ctx, ast.Load):
                self.error(node, f'"{node.attr}" may be read but not assigned.')
                return node
            node = self.node_contents_visit(node)
            call = ast.Call(ast.Name("_getattr_", ast.Load()),
                            [node.value, ast.Constant(node.attr)], [])
            ast.copy_location(call, node)
            return ast.fix_missing_locations(call)
        return super().visit_Attribute(node)

    def visit_AugAssign(self, node):
        # obj.attr += v   ->  _write_(obj).attr = _inplacevar_('+=', _getattr_(obj, 'attr'), v)
        # obj[k] += v     ->  _write_(obj)[k] = _inplacevar_('+=', _getitem_(obj, k), v)
        # The target expression is evaluated twice; programs a model writes index with
        # names and constants, where that is harmless.
        target = node.target
        if isinstance(target, ast.Name):
            return super().visit_AugAssign(node)
        if isinstance(target, ast.Attribute):
            load = ast.Attribute(copy.deepcopy(target.value), target.attr, ast.Load())
        else:
            load = ast.Subscript(copy.deepcopy(target.value), copy.deepcopy(target.slice),
                                 ast.Load())
        ast.copy_location(load, target)
        load, value, target = self.visit(load), self.visit(node.value), self.visit(target)
        call = ast.Call(ast.Name("_inplacevar_", ast.Load()),
                        [ast.Constant(_IOPS[type(node.op)]), load, value], [])
        assign = ast.copy_location(ast.Assign([target], call), node)
        return ast.fix_missing_locations(assign)

    def visit_Call(self, node):
        # eval("2+3*4") is common in arithmetic puzzles (Countdown, HumanEval/160): route
        # it to _arith_eval_, which evaluates number literals and operators and nothing else.
        if isinstance(node.func, ast.Name) and node.func.id == "eval":
            placeholder = ast.copy_location(ast.Name("arith_eval", ast.Load()), node.func)
            node.func = placeholder
            out = super().visit_Call(node)
            placeholder.id = "_arith_eval_"  # renamed after the name check, same node
            return out
        return super().visit_Call(node)

    # literals, seen once while a shape template is built (see _make_template) -----------
    collected: list | None = None
    in_fstring = 0

    def visit_Constant(self, node):
        if self.collected is not None and not self.in_fstring \
                and type(node.value) in _LITERAL_TYPES:
            self.collected.append(node)
        return node  # a Constant has no children; RestrictedPython allows every literal

    def visit_JoinedStr(self, node):
        self.in_fstring += 1  # an f-string's parts are code, never a template's slot
        try:
            return super().visit_JoinedStr(node)
        finally:
            self.in_fstring -= 1

    def visit_Nonlocal(self, node):
        for name in node.names:
            self.check_name(node, name)
        return node

    # match statements ---------------------------------------------------------------
    def visit_Match(self, node):
        return self.node_contents_visit(node)

    def visit_match_case(self, node):
        return self.node_contents_visit(node)

    def _pattern(self, node):
        name = getattr(node, "name", None)
        if name is not None:
            self.check_name(node, name)
        return self.node_contents_visit(node)

    visit_MatchValue = visit_MatchSingleton = visit_MatchSequence = _pattern
    visit_MatchStar = visit_MatchAs = visit_MatchOr = _pattern

    def visit_MatchMapping(self, node):
        if node.rest is not None:
            self.check_name(node, node.rest)
        return self.node_contents_visit(node)

    def visit_MatchClass(self, node):
        for attr in node.kwd_attrs:
            if attr.startswith("_") or attr in DENIED_ATTRIBUTES:
                self.error(node, f'class pattern attribute "{attr}" is not allowed.')
        return self.node_contents_visit(node)


def _is_private_name(name: str) -> bool:
    """`_x` but not `__x`, not a guard name (`_getattr_`, `_print`), not a temp (`_tmp0`)."""
    return (len(name) > 1 and name[0] == "_" and name[1] != "_" and not name.endswith("_")
            and name != "_print" and not name.startswith("_tmp"))


def _restore_attr(node, attr: str) -> None:
    """Undo the renaming trick in visit_Attribute on the node RestrictedPython built:
    ``_getattr_(value, 'x_a')`` for a read, ``_write_(value).x_a`` for a write. Only
    that node is touched, never a literal of the program's that happens to read 'x_a'
    (the transform must not depend on literals: the shape cache relies on it)."""
    renamed = "x" + attr
    if isinstance(node, ast.Call) and len(node.args) == 2 \
            and isinstance(node.args[1], ast.Constant) and node.args[1].value == renamed:
        node.args[1].value = attr
    elif isinstance(node, ast.Attribute) and node.attr == renamed:
        node.attr = attr


_IOPS = {
    ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/=", ast.Mod: "%=",
    ast.Pow: "**=", ast.LShift: "<<=", ast.RShift: ">>=", ast.BitOr: "|=",
    ast.BitXor: "^=", ast.BitAnd: "&=", ast.FloorDiv: "//=", ast.MatMult: "@=",
}


def split_last_expression(tree: ast.Module) -> tuple[ast.Module, ast.Expression | None]:
    """Split a module into its body and a final bare expression, like a notebook cell."""
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop()
        return tree, ast.Expression(last.value)
    return tree, None


class CompileRefused(Exception):
    def __init__(self, kind: str, message: str, lineno: int | None):
        super().__init__(message)
        self.kind, self.message, self.lineno = kind, message, lineno


def compile_program(code: str, restricted: bool = True):
    """Compile ``code`` to ``(body, last_expr)`` code objects, or raise CompileRefused.

    kind is ``"error"`` for a SyntaxError and ``"blocked"`` for a policy refusal.
    """
    try:
        tree = ast.parse(code, "<program>", "exec")
    except SyntaxError as e:
        raise CompileRefused("error", f"SyntaxError: {e.msg}", e.lineno) from None
    except (ValueError, RecursionError) as e:  # NUL bytes, absurd nesting
        raise CompileRefused("error", f"{type(e).__name__}: {e}", None) from None
    body, last = split_last_expression(tree)
    try:
        return _compile_parsed(body, last, restricted)
    except SyntaxError as e:  # found after parsing: 'return' outside function, nonlocal at top level
        raise CompileRefused("error", f"SyntaxError: {e.msg}", e.lineno) from None


def _compile_parsed(body, last, restricted: bool):
    if not restricted:
        return (compile(body, "<program>", "exec"),
                compile(last, "<program>", "eval") if last else None)
    out = []
    for mode, node in (("exec", body), ("eval", last)):
        if node is None:
            out.append(None)
            continue
        compile_mode = compile_restricted_exec if mode == "exec" else compile_restricted_eval
        result = compile_mode(node, "<program>", policy=SandboxPolicy)
        if result.errors:
            messages = [_strip_line_prefix(e) for e in result.errors[:3]]
            raise CompileRefused("blocked", "PolicyError: " + "; ".join(messages),
                                 _lineno_of(result.errors[0]))
        out.append(result.code)
    return tuple(out)


def _strip_line_prefix(message: str) -> str:
    return message.split(": ", 1)[1] if _lineno_of(message) is not None else message


def _lineno_of(message: str) -> int | None:
    # RestrictedPython formats errors as "Line N: ..."
    if message.startswith("Line "):
        head = message[5:].split(":", 1)[0]
        if head.isdigit():
            return int(head)
    return None



# ------------------------------------------------------------------------------------
# the shape cache: the policy's transform once per program shape
# ------------------------------------------------------------------------------------
#
# Programs that differ only in their literals (a re-asked question, a GRPO group's
# variations) are the same program to the policy: RestrictedPython and SandboxPolicy look
# at node types, names and attributes, never at a literal's value. So the transformed tree
# is kept per *shape* (the token stream with comments dropped and every number and plain
# string literal replaced by its kind), and a program of a known shape gets it with its own
# literals put back in, then compiled from that tree: the same tree a fresh transform
# would build, at a third of the cost. Sound because:
# - the key holds every token but literals verbatim, with its line: same key, same tree
#   shape, same names, same line numbers; f-strings (code inside) stay verbatim;
# - each literal's slot in the tree is found once, on the template's own source, and
#   checked against the values decoded from its tokens (type and value), else the shape
#   is never cached; on a hit every slot is overwritten, so no value of an earlier
#   program survives (columns stay the template's: only code objects carry them, and
#   no program reaches a code object);
# - anything unexpected (a literal that does not decode, a compile error) falls back to
#   the full path, which gives the exact error a fresh compile gives.
# It lives in the sandbox server (never the zygote or a child), under the program's own
# compile limits.

_MAX_TEMPLATES = 512
_MAX_TEMPLATE_SOURCE = 16 * 1024  # a template holds ~90 bytes of tree per byte of source:
_MAX_TEMPLATE_TOTAL = 512 * 1024  # at most ~45 MB of trees in a server, whatever it is sent
_templates: "OrderedDict[tuple, list | None]" = OrderedDict()
_sizes: dict = {}
try:  # the tokenizer the parser uses (CPython 3.11+); without it, no shape cache
    from _tokenize import TokenizerIter as _tokens
except ImportError:
    _tokens = None
_STRING, _NUMBER = tokenize.STRING, tokenize.NUMBER
_SKIPPED = (tokenize.COMMENT, tokenize.NL)
_LAYOUT = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
_LITERAL_TYPES = (int, float, complex, str, bytes)


class _NoShape(Exception):
    pass


def _decode_number(text: str):
    if text.isdigit() and (text[0] != "0" or text == "0" * len(text)):
        return int(text)
    low = text.lower()
    if low.endswith("j"):
        return complex(0, float(low[:-1]))
    if low.startswith(("0x", "0o", "0b")) or not any(c in low for c in ".e"):
        return int(text, 0)
    return float(text)


def _prefix(text: str) -> str:
    return text[:len(text) - len(text.lstrip("rRbBuUfF"))].lower()


def _decode_string(text: str):
    prefix = _prefix(text)
    body = text[len(prefix):]
    quote = body[:3] if body[:3] in ('"""', "\'\'\'") else body[0]
    inner = body[len(quote):-len(quote)]
    if "\r" in inner or ("\\" in inner and "r" not in prefix):
        return ast.literal_eval(text)  # escapes: the slow, exact way
    if "b" in prefix:
        if not inner.isascii():
            raise _NoShape("bytes with non-ASCII characters")
        return inner.encode("ascii")
    return inner


def program_shape(source: str) -> tuple[tuple, list]:
    """(key, literals): the token stream without comments, with every number and plain
    string literal (implicit concatenations joined) replaced by its kind, and the
    literals' values in source order. Raises _NoShape (or the tokenizer's error)."""
    key, literals, group = [], [], []

    def flush():
        prefixes = [_prefix(text) for text, _, _ in group]
        if any("f" in p for p in prefixes):
            key.extend((_STRING, text, line) for text, line, _ in group)  # f-strings: code
        else:
            values = [_decode_string(text) for text, _, _ in group]
            if len({type(v) for v in values}) != 1:
                raise _NoShape("bytes and str concatenated")
            key.append(("S",) + tuple((p, line, end) for p, (_, line, end)
                                      in zip(prefixes, group)))
            literals.append(values[0] if len(values) == 1 else values[0][:0].join(values))
        group.clear()

    # the C tokenizer's own tuples (text, type, line, end line, ...): 3x faster than
    # tokenize's TokenInfo objects
    for text, kind, line, end_line, *_ in _tokens(source):
        if kind == _STRING:
            group.append((text, line, end_line))
            continue
        if group:
            flush()
        if kind == _NUMBER:
            key.append(("N", line))
            literals.append(_decode_number(text))
        elif kind in _LAYOUT:  # their text is whitespace, or a comment the tokenizer kept
            key.append((kind, line))
        elif kind not in _SKIPPED:
            key.append((kind, text, line))
    if group:
        flush()
    return tuple(key), literals


def _same_literal(a, b) -> bool:
    return type(a) is type(b) and (a == b or a != a and b != b)


def _make_template(source: str, literals: list):
    """Parse, check and transform ``source`` once: the transformed trees, the slots its
    literals occupy (copies the transform made included: they share the original's
    position), and whether the template has been checked against a fresh compile; None
    when this shape cannot be cached safely."""
    tree = ast.parse(source, "<program>", "exec")
    body, last = split_last_expression(tree)
    collected: list = []
    for node in (body, last):
        if node is not None:
            errors: list = []
            transformer = SandboxPolicy(errors, [], {})
            transformer.collected = collected
            transformer.visit(node)  # in place, as compile_restricted does
            if errors:
                return None  # refused: the full path gives the message, nothing is cached
    by_position: dict = {}
    for node in collected:
        by_position.setdefault((node.lineno, node.col_offset), []).append(node)
    if len(by_position) != len(literals):
        return None
    slots = []
    for i, position in enumerate(sorted(by_position)):
        for node in by_position[position]:
            if not _same_literal(node.value, literals[i]):
                return None
            slots.append((node, i))
    return [body, last, tuple(slots), False]


def normal_form(code):
    """What a code object does, for comparing two compiles of one program: bytecode,
    names, constants (recursively), line numbers, flags; not columns."""
    consts = tuple(normal_form(c) if isinstance(c, types.CodeType) else (type(c), repr(c))
                   for c in code.co_consts)
    return (code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            consts, tuple(line for _, _, line in code.co_lines()), code.co_name, code.co_flags)


def _compile_by_shape(source: str):
    """marshal bytes of the restricted program by way of its shape's template, or None
    (not cacheable: the caller takes the full path). A template's first reuse is also
    compiled the full way and compared (``normal_form``); a shape whose template ever
    disagrees is never cached again."""
    if _tokens is None or len(source) > _MAX_TEMPLATE_SOURCE:
        return None
    try:
        key, literals = program_shape(source)
    except Exception:  # a tokenizer error, a literal that does not decode: the full path says
        return None
    template = _templates.get(key, False)
    fresh = template is False
    if fresh:
        try:
            template = _make_template(source, literals)
        except (SyntaxError, ValueError, RecursionError):
            return None
        _templates[key] = template
        _sizes[key] = len(source)
        _sizes[None] = _sizes.get(None, 0) + len(source)
        while len(_templates) > _MAX_TEMPLATES or _sizes[None] > _MAX_TEMPLATE_TOTAL:
            old, _ = _templates.popitem(last=False)
            _sizes[None] -= _sizes.pop(old)
    else:
        _templates.move_to_end(key)
    if template is None:
        return None
    body, last, slots, checked = template
    for node, i in slots:
        node.value = literals[i]
    try:
        compiled = (compile(body, "<program>", "exec"),
                    compile(last, "<program>", "eval") if last is not None else None)
    except (SyntaxError, ValueError, RecursionError):
        return None
    if not fresh and not checked:
        full = compile_program(source)
        if [normal_form(c) for c in compiled if c] != [normal_form(c) for c in full if c]:
            _templates[key] = None
            return marshal.dumps(full)
        template[3] = True
    return marshal.dumps(compiled)


def compile_to_bytes(code: str, restricted: bool = True) -> bytes | dict:
    """``compile_program`` as marshalled bytes for a sandbox child, or the refusal as a
    reply dict (``status``, ``error``, ``error_type``, ``lineno``).

    Runs in the sandbox server, under the program's own time and memory limits
    (``sandbox/server.py``), never in the caller. Compile-time warnings (invalid escapes
    such as backslash-d in model-written regexes) belong to the program, not to anyone's
    stderr, so they are silenced here.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if restricted:
                by_shape = _compile_by_shape(code)
                if by_shape is not None:
                    return by_shape
            return marshal.dumps(compile_program(code, restricted))
    except CompileRefused as e:
        return _refusal(e.kind, e.message, e.lineno)
    except MemoryError:
        raise
    except RecursionError:
        return _refusal("error", "RecursionError: the program is nested too deeply to compile",
                        None)
    except Exception as e:  # a policy bug must cost one program, never the batch
        return _refusal("blocked", f"PolicyError: cannot compile: {e!r}"[:500], None)


def _refusal(kind: str, message: str, lineno: int | None) -> dict:
    line = f" (line {lineno})" if lineno else ""
    return {"status": kind, "error": message + line, "error_type": message.split(":", 1)[0],
            "lineno": lineno}
