"""Program length, the description-length half of MDL.

Three measures of how long a program is, each a different prior over programs:
- ``tokens``: tokens under the model's tokenizer (what generation pays for);
- ``ast_nodes``: named tree-sitter nodes (structure, blind to identifier length);
- ``zlib_bits`` / ``lzma_bits``: compressed size in bits (a computable stand-in for
  Kolmogorov complexity; zlib's fixed overhead is subtracted so an empty program is ~0);
- ``model_bits``: -log2 p(program) under a language model, the code length an ideal
  arithmetic coder driven by that model would spend (the current policy, or a frozen
  reference copy so the measure does not drift while training).

``program_length(code, measure, ...)`` picks one by name, for the MDL reward.
"""
from __future__ import annotations

import lzma
import math
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


MEASURES = ("tokens", "ast", "zlib", "lzma", "model_bits")


def model_bits(codes: list[str], model, tokenizer, batch_size: int = 16) -> list[float]:
    """-log2 p(code) under ``model``: the sum over the program's tokens of -log2 of the
    probability the model gave each one, the first conditioned on the tokenizer's BOS token
    (or nothing when it has none)."""
    import torch
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
    """Length of one program under ``measure`` (not ``model_bits``, which is batched)."""
    if measure == "tokens":
        if tokenizer is None:
            raise ValueError("the 'tokens' length needs the model's tokenizer")
        return float(len(tokenizer(code, add_special_tokens=False)["input_ids"]))
    if measure == "ast":
        return float(ast_node_count(code))
    if measure == "zlib":
        return float(zlib_bits(code))
    if measure == "lzma":
        return float(lzma_bits(code))
    raise ValueError(f"unknown length measure {measure!r}; choose one of {', '.join(MEASURES)}")
