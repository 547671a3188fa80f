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
import warnings

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
    """Undo the renaming trick in visit_Attribute on the node RestrictedPython built."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and sub.value == "x" + attr:
            sub.value = attr
            return
        if isinstance(sub, ast.Attribute) and sub.attr == "x" + attr:
            sub.attr = attr
            return


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
