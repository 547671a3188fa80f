"""Program length, the description-length half of MDL.

Every measure reads the program after ``strip_program``: comments, docstrings and blank
lines removed (they change no output, so a policy could pad or trim them for free; and
what is not measured cannot be read either: grading runs every program with its
docstrings blanked, ``pyparse.blank_docstrings``, so no data hides in ``f.__doc__``). Then:
- ``tokens``: tokens under the model's tokenizer (what generation pays for);
- ``ast``: named tree-sitter nodes (structure, blind to identifier length), where a literal
  costs its content: one node per four characters of its text, so a 300-digit number or a
  1 KB string table is as long as the code that would compute it, not one node;
- ``zlib`` / ``lzma``: compressed size in bits (a computable stand-in for Kolmogorov
  complexity; the compressor's fixed overhead is subtracted so an empty program is ~0);
- ``model_bits``: -log2 p(program) under a *frozen* reference language model, the code
  length an ideal arithmetic coder driven by that model would spend. Never the policy
  being trained: its log-probability is not a length, since the policy can shorten any
  program by making it more likely, and the reward would then pay for confidence.

``program_length(code, measure, ...)`` picks one by name; ``reference_length`` is a
measure's unit for the MDL reward (the median length of the generated families'
reference programs), so one ``mdl_weight`` means the same under every measure.
"""
from __future__ import annotations

import ast
import lzma
import math
import statistics
import zlib

from latentcode.expert.extract import ast_node_count, literal_chars
from latentcode.expert.pyparse import docstrings, parse_program
from tasks.generators import generate

_ZLIB_EMPTY = len(zlib.compress(b"", 9))
_LZMA_EMPTY = len(lzma.compress(b"", preset=9))


def strip_program(code: str) -> str:
    """The program without comments, docstrings and blank lines (formatting normalised by
    ``ast.unparse``); for code Python rejects, without comment-only and blank lines."""
    try:
        tree = parse_program(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "\n".join(line for line in code.splitlines()
                         if line.strip() and not line.lstrip().startswith("#"))
    docs = {id(d) for d in docstrings(tree)}  # grading runs them blanked (pyparse.blank_docstrings)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and id(body[0]) in docs:
            node.body = body[1:] or [ast.Pass()]
    try:
        return ast.unparse(tree)
    except (RecursionError, ValueError):
        return code


def ast_length(code: str) -> float:
    """Named tree-sitter nodes, a literal counting one node per four characters of it."""
    nodes = ast_node_count(code)
    return float(nodes + sum(max(0, n / 4 - 1) for n in literal_chars(code)))


def zlib_bits(code: str) -> int:
    return 8 * max(0, len(zlib.compress(code.encode(), 9)) - _ZLIB_EMPTY)


def lzma_bits(code: str) -> int:
    return 8 * max(0, len(lzma.compress(code.encode(), preset=9)) - _LZMA_EMPTY)


def program_lengths(code: str, tokenizer=None) -> dict:
    """The lengths a run folder records, all of the stripped program."""
    code = strip_program(code)
    out = {"ast_nodes": ast_node_count(code), "zlib_bits": zlib_bits(code), "chars": len(code)}
    if tokenizer is not None:
        out["tokens"] = len(tokenizer(code, add_special_tokens=False)["input_ids"])
    return out


MEASURES = ("tokens", "ast", "zlib", "lzma", "model_bits")


def model_bits(codes: list[str], model, tokenizer, batch_size: int = 16) -> list[float]:
    """-log2 p(code) under ``model`` (a frozen reference model): the sum over the stripped
    program's tokens of -log2 of the probability the model gave each one, the first
    conditioned on the tokenizer's BOS token (or nothing when it has none)."""
    import torch
    codes = [strip_program(c) for c in codes]
    out: list[float] = []
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    device = next(model.parameters()).device
    for start in range(0, len(codes), batch_size):
        ids = [bos + tokenizer(c, add_special_tokens=False)["input_ids"]
               for c in codes[start:start + batch_size]]
        width = max(map(len, ids))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        x = torch.tensor([i + [pad] * (width - len(i)) for i in ids], device=device)
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids], device=device)
        with torch.no_grad():
            logp = model(input_ids=x, attention_mask=mask).logits.float().log_softmax(-1)
        got = logp[:, :-1].gather(-1, x[:, 1:, None]).squeeze(-1) * mask[:, 1:]
        for row in got:  # without a BOS token the first token is not counted
            out.append(float(-row.sum()) / math.log(2))
    return out


def program_length(code: str, measure: str, tokenizer=None) -> float:
    """Length of one stripped program under ``measure`` (not ``model_bits``, batched)."""
    code = strip_program(code)
    if measure == "tokens":
        if tokenizer is None:
            raise ValueError("the 'tokens' length needs the model's tokenizer")
        return float(len(tokenizer(code, add_special_tokens=False)["input_ids"]))
    if measure == "ast":
        return ast_length(code)
    if measure == "zlib":
        return float(zlib_bits(code))
    if measure == "lzma":
        return float(lzma_bits(code))
    raise ValueError(f"unknown length measure {measure!r}; choose one of {', '.join(MEASURES)}")


# The families whose reference programs set the MDL unit: the seven the recorded figures
# were made with (wordproblems, added later, would move the median and so every MDL reward)
UNIT_FAMILIES = ("liststats", "arithmetic", "strings", "counting", "numtheory", "dates", "sorting")


def reference_programs() -> list[str]:
    """Four reference programs of every family in ``UNIT_FAMILIES`` (seed 0, difficulty 1)."""
    return [t.meta["reference_program"] for f in UNIT_FAMILIES for t in generate(f, 4 * 7, seed=0)][::7]


def reference_length(measure: str, tokenizer=None, length_model=None) -> float:
    """The unit of ``measure`` for the MDL reward: the median length of
    ``reference_programs()`` under it (for tokens and model bits, under this tokenizer and
    model)."""
    codes = reference_programs()
    if measure == "model_bits":
        lengths = model_bits(codes, length_model, tokenizer)
    else:
        lengths = [program_length(c, measure, tokenizer) for c in codes]
    return max(1.0, statistics.median(lengths))
