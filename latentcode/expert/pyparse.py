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
