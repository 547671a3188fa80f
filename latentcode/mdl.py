"""Program length, the description-length half of MDL.

Three measures of how long a program is, each a different prior over programs:
- ``tokens``: tokens under the model's tokenizer (what generation pays for);
- ``ast_nodes``: named tree-sitter nodes (structure, blind to identifier length);
- ``zlib_bits`` / ``lzma_bits``: compressed size in bits (a computable stand-in for
  Kolmogorov complexity; zlib's fixed overhead is subtracted so an empty program is ~0).
"""
from __future__ import annotations

import lzma
import zlib

from latentcode.extract import ast_node_count

_ZLIB_EMPTY = len(zlib.compress(b"", 9))
_LZMA_EMPTY = len(lzma.compress(b"", preset=9))


def zlib_bits(code: str) -> int:
    return 8 * max(0, len(zlib.compress(code.encode(), 9)) - _ZLIB_EMPTY)


def lzma_bits(code: str) -> int:
    return 8 * max(0, len(lzma.compress(code.encode(), preset=9)) - _LZMA_EMPTY)


def program_lengths(code: str, tokenizer=None) -> dict:
    out = {"ast_nodes": ast_node_count(code), "zlib_bits": zlib_bits(code), "chars": len(code)}
    if tokenizer is not None:
        out["tokens"] = len(tokenizer(code, add_special_tokens=False)["input_ids"])
    return out
