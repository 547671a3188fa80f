"""Does a program print an answer it did not compute?

``print("The answer is 42")`` or ``x = 42; print(x)`` hard-codes its output: the program
is a memorised constant in disguise. Found statically: the program's final output (its
last ``print`` call, or a final bare expression) is built only from literals, or from
names bound only to literals.

For generated tasks there is a second, behavioural check (``metamorphic_variant``): ask the
same question with other numbers (``tasks.generators.regenerate``), rewrite the program's
literals that are the question's numbers into the new ones, run it again. A program whose
answer does not move when the question's answer does was not computing it.
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


def substitute_numbers(code: str, old: list, new: list) -> str | None:
    """``code`` with each numeric literal equal to a number of the old question replaced by
    the matching number of the new one. None when that is ambiguous (one old value would
    become two new ones) or the code does not parse."""
    if len(old) != len(new):
        return None
    mapping: dict = {}
    for a, b in zip(old, new):
        if mapping.setdefault(float(a), b) != b:
            return None
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None

    class Swap(ast.NodeTransformer):
        def visit_UnaryOp(self, node):
            if isinstance(node.op, ast.USub) and _is_number(node.operand) \
                    and -float(node.operand.value) in mapping:
                return ast.copy_location(_number(mapping[-float(node.operand.value)]), node)
            return self.generic_visit(node)

        def visit_Constant(self, node):
            if _is_number(node) and float(node.value) in mapping:
                return ast.copy_location(_number(mapping[float(node.value)]), node)
            return node

    return ast.unparse(ast.fix_missing_locations(Swap().visit(tree)))


def _is_number(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool)


def _number(x) -> ast.expr:
    return ast.UnaryOp(ast.USub(), ast.Constant(-x)) if x < 0 else ast.Constant(x)


def metamorphic_variant(task, code: str, tries: int = 10):
    """(variant task, program rewritten for it), or None when the task cannot be asked again
    with other numbers (not generated, no numbers, or no unambiguous rewrite in ``tries``)."""
    from tasks.generators import regenerate
    numbers = (task.meta or {}).get("numbers")
    if not numbers or "template" not in (task.meta or {}):
        return None
    for seed in range(tries):
        variant = regenerate(task, seed)
        if variant.answer == task.answer:
            continue
        rewritten = substitute_numbers(code, numbers, variant.meta["numbers"])
        if rewritten is not None:
            return variant, rewritten
    return None
