"""Does a program print an answer it did not compute?

``print("The answer is 42")`` or ``x = 42; print(x)`` hard-codes its output: the program
is a memorised constant in disguise. Found statically: the program's final output (its
last ``print`` call, or a final bare expression) is built only from literals, or from
names bound only to literals. (The training code adds a metamorphic check: re-running on
the same question with other numbers.)
"""
from __future__ import annotations

import ast


def prints_literal(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    out = _final_output(tree)
    if out is None:
        return False
    constants = _names_bound_only_to_literals(tree)
    return all(_is_literal(e, constants) for e in out)


def _final_output(tree: ast.Module) -> list[ast.expr] | None:
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not _is_print(tree.body[-1].value):
        return [tree.body[-1].value]
    prints = [n for n in ast.walk(tree) if _is_print(n)]
    if not prints:
        return None
    last = max(prints, key=lambda n: (n.lineno, n.col_offset))
    return list(last.args) or None


def _is_print(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"


def _names_bound_only_to_literals(tree: ast.Module) -> set[str]:
    literal, other = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            (literal if _is_literal(node.value, set()) else other).update(names)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.NamedExpr)):
            target = getattr(node, "target", None)
            if isinstance(target, ast.Name):
                other.add(target.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            other.add(node.name)
        elif isinstance(node, ast.arg):
            other.add(node.arg)
    return literal - other


def _is_literal(node: ast.expr, constants: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.JoinedStr):
        return all(_is_literal(v, constants) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return _is_literal(node.value, constants)
    if isinstance(node, ast.UnaryOp):
        return _is_literal(node.operand, constants)
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_is_literal(e, constants) for e in node.elts)
    return False
