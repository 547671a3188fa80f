"""``ast.parse`` for model-written code, without Python's compile-time warnings.

A model's program may hold ``1st`` or ``"\\d"``; compiling it makes Python print a
SyntaxWarning ("invalid decimal literal", "invalid escape sequence") on the host's stderr,
once per program, in the middle of a progress bar. The program is data here: whether it
parses is the answer, and its warnings are nobody's to read.
"""
from __future__ import annotations

import ast
import warnings


def parse_program(code: str) -> ast.Module:
    """``ast.parse(code)`` with SyntaxWarning and DeprecationWarning silenced (SyntaxError,
    ValueError for a NUL byte, RecursionError and MemoryError pass through as they do)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse(code)


def docstrings(tree: ast.AST) -> list[ast.Expr]:
    """The docstring statements of a module, its classes and functions: a body's first
    statement when it is a bare string."""
    out = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            out.append(body[0])
    return out


def blank_docstrings(code: str) -> str:
    """``code`` with every docstring replaced by ``...`` (an Ellipsis statement spanning the
    same lines, so error line numbers stay true): the length measures strip docstrings, so
    a program must not be able to read data from one at run time (``f.__doc__``) either.
    Code that does not parse is returned unchanged (it will not run)."""
    try:
        tree = parse_program(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code
    nodes = docstrings(tree)
    if not nodes:
        return code
    lines = code.encode("utf-8").split(b"\n")
    # from the last docstring back, so earlier offsets stay valid; offsets are UTF-8 bytes
    for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        first, last = node.lineno - 1, node.end_lineno - 1
        head, tail = lines[first][:node.col_offset], lines[last][node.end_col_offset:]
        span = last - first
        replacement = [head + (b"(" if span else b"...")] + [b""] * max(0, span - 1) + \
            ([b"...)" + tail] if span else [])
        if not span:
            replacement[0] += tail
        lines[first:last + 1] = replacement
    blanked = b"\n".join(lines).decode("utf-8")
    try:
        parse_program(blanked)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code  # cannot happen for code that parsed; never hand on a broken program
    return blanked
