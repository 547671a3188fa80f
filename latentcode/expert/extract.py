"""Finding the program in a model's reply, and knowing when it was cut off.

A reply holds a fenced block (```python ... ```), or is bare code, or is prose with no
program at all. A program cut off by the token limit must never run half-way (a loop
missing its last lines can still run and print a wrong, plausible number), so it is
reported as ``truncated``: the generation stopped without an end-of-sequence token and
the code is incomplete (its fence never closed, or it fails to parse at the very end).
tree-sitter parses what Python's parser rejects, so a damaged program still has a
measurable shape (node counts for the MDL length).
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import re

from latentcode.expert.pyparse import parse_program

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(```|\Z)", re.S)
_CODE_LANGS = {"", "python", "py", "python3"}
_EOF_MESSAGES = ("unexpected EOF", "was never closed", "expected an indented block",
                 "unterminated triple-quoted string", "unterminated string literal")


@dataclasses.dataclass(frozen=True)
class Extraction:
    code: str | None
    status: str  # "ok", "no_code" or "truncated"
    reason: str = ""


@functools.lru_cache(maxsize=1)
def _parser():
    import tree_sitter_python
    from tree_sitter import Language, Parser
    return Parser(Language(tree_sitter_python.language()))


def extract_program(text: str, finished: bool = True) -> Extraction:
    """The program in ``text``. ``finished``: the generation ended with end-of-sequence
    (False when it hit the token limit)."""
    blocks = [(m.group(1).lower(), m.group(2), bool(m.group(3))) for m in _FENCE.finditer(text)]
    blocks = [b for b in blocks if b[0] in _CODE_LANGS]
    if blocks:
        _, code, closed = next((b for b in blocks if b[2] and b[1].strip()), blocks[0])
        code = code.rstrip()
        if not closed and not finished:
            return Extraction(code, "truncated", "the token limit cut the code block")
        return _checked(code, finished)
    stripped = text.strip()
    if stripped and _looks_like_code(stripped):
        return _checked(stripped, finished)
    if stripped and not finished and _starts_like_code(stripped):
        return Extraction(stripped, "truncated", "the token limit cut bare code mid-statement")
    return Extraction(None, "no_code", "no code block and the reply is not Python")


def _checked(code: str, finished: bool) -> Extraction:
    if not code.strip():
        return Extraction(None, "no_code", "empty code block")
    if not finished and _ends_incomplete(code):
        return Extraction(code, "truncated", "the token limit cut the program mid-statement")
    return Extraction(code, "ok")


def _ends_incomplete(code: str) -> bool:
    try:
        parse_program(code)
    except SyntaxError as e:
        return any(m in str(e.msg) for m in _EOF_MESSAGES) or (e.lineno or 0) >= code.count("\n") + 1
    except (ValueError, RecursionError, MemoryError):
        return False
    return False


def _looks_like_code(text: str) -> bool:
    """Bare code: parses as Python and is more than one bare name or sentence-like line."""
    try:
        tree = parse_program(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if not tree.body:
        return False
    return not all(isinstance(s, ast.Expr) and isinstance(s.value, (ast.Name, ast.Constant))
                   for s in tree.body)


_STATEMENTS = {"import_statement", "import_from_statement", "function_definition",
               "class_definition", "for_statement", "while_statement", "if_statement",
               "with_statement", "try_statement", "decorated_definition"}


def _starts_like_code(text: str) -> bool:
    """Python's parser rejects a program cut mid-statement; tree-sitter still sees that it
    begins with a statement (an assignment, an import, a def, a loop)."""
    root = _parser().parse(text.encode("utf-8", errors="replace")).root_node
    first = root.children[0] if root.children else None
    if first is None:
        return False
    if first.type in _STATEMENTS:
        return True
    if first.type == "ERROR":  # error recovery keeps the leading tokens: `total = (1 +`
        kids = [c.type for c in first.children[:2]]
        return kids[:1] in (["import"], ["from"], ["def"], ["class"], ["for"], ["while"]) or \
            kids == ["identifier", "="]
    return first.type == "expression_statement" and any(
        c.type in ("assignment", "augmented_assignment") for c in first.children)


def ast_node_count(code: str) -> int:
    """Named tree-sitter nodes: a length that exists even for code Python rejects."""
    root = _parser().parse(code.encode("utf-8", errors="replace")).root_node
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        count += node.is_named
        stack.extend(node.children)
    return count


_LITERALS = {"string", "integer", "float"}


def literal_chars(code: str) -> list[int]:
    """The length in characters of every literal (string, integer, float) in ``code``."""
    root = _parser().parse(code.encode("utf-8", errors="replace")).root_node
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.type in _LITERALS:
            out.append(node.end_byte - node.start_byte)
            continue
        stack.extend(node.children)
    return out


def has_syntax_error(code: str) -> bool:
    return _parser().parse(code.encode("utf-8", errors="replace")).root_node.has_error
