"""Attention for decoding on CPU: a few query tokens against a long key/value cache.

torch's CPU ``scaled_dot_product_attention`` picks its flash kernel whenever a mask is given,
and that kernel is slow for short queries in bfloat16: on SmolLM2-135M (9 query heads
sharing 3 key/value heads, head size 64), one decode step of 32 rows over 300 cached tokens
spends 5.1 ms per layer in it, 70% of the step, where two batched matmuls and a float32
softmax take 0.36 ms (float32: 1.0 ms either way; bench/generation_speed.py).

``decode_attention`` is that pair of matmuls for queries of at most ``SHORT_QUERY`` tokens
per key/value head (a decode step, a lookahead step); longer ones (prefill, training's
forward passes) go to transformers' sdpa function unchanged. Query heads are grouped onto
their key/value head by a reshape, not by copying the cache. A bf16 matmul over a strided
view of the cache (the filled part of a larger buffer) runs ~7x slower than over a contiguous
tensor, so when the cache's keys and values carry their zero-filled ``buffer`` the scores are
taken over the whole buffer, its unfilled columns masked. It is registered with
transformers under ``ATTENTION`` and takes sdpa's boolean masks, so a model switches with
``model.set_attn_implementation(ATTENTION)`` and saves under its usual config.
"""
from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION = "latentcode_decode"
SHORT_QUERY = 64  # query rows per key/value head (heads per group x query tokens) taken here


def decode_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                     value: torch.Tensor, attention_mask: torch.Tensor | None,
                     scaling: float | None = None, dropout: float = 0.0, **kwargs):
    """transformers' attention signature: query (batch, heads, q, d), key and value (batch,
    kv_heads, length, d), a boolean mask broadcastable to (batch, 1, q, length) or None.
    Returns (batch, q, heads, d) and no weights."""
    b, heads, q, d = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    group = heads // kv_heads
    shared = getattr(key, "shared", None)  # a prefix every row attends to, kept once (the decoder's)
    if (group * q > SHORT_QUERY or dropout > 0 or kwargs.get("position_bias") is not None
            or kwargs.get("softcap") is not None or key.shape[-1] != value.shape[-1]
            or (attention_mask is not None and attention_mask.dtype != torch.bool)):
        if shared is not None:  # a prefill: sdpa wants every row's whole key, so copy the prefix in
            pk, pv = shared
            key = torch.cat([pk.expand(b, -1, -1, -1), key], 2)
            value = torch.cat([pv.expand(b, -1, -1, -1), value], 2)
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    scale = d ** -0.5 if scaling is None else scaling
    p = 0 if shared is None else shared[0].shape[2]
    allowed = (attention_mask.expand(b, 1, q, p + length) if attention_mask is not None
               else key.new_ones(b, 1, q, p + length, dtype=torch.bool))
    whole = _buffers(key, value)
    if whole is not None:  # the cache's contiguous buffers; their unfilled columns are masked
        key, value = whole
        allowed = torch.cat([allowed, allowed.new_zeros(b, 1, q, key.shape[2] - length)], -1)
        length = key.shape[2]
    # head h reads key/value head h // group: (b, kv_heads, group * q, d)
    grouped = query.reshape(b, kv_heads, group * q, d)
    scores = torch.matmul(grouped, key.transpose(-1, -2))  # (b, kv_heads, group * q, length)
    if shared is not None:
        scores = torch.cat([_prefix_scores(grouped, shared[0]), scores], -1)  # (..., p + length)
    scores = scores.float().mul_(scale)
    scores = scores.view(b, kv_heads, group, q, p + length).masked_fill_(
        ~allowed[:, :, None], torch.finfo(torch.float32).min).view(b, kv_heads, group * q, p + length)
    weights = torch.softmax(scores, dim=-1).to(value.dtype)
    out = torch.matmul(weights[..., p:], value)  # (b, kv_heads, group * q, d)
    if shared is not None:
        out += _prefix_values(weights[..., :p], shared[1])
    return out.view(b, heads, q, d).transpose(1, 2).contiguous(), None


def _prefix_scores(grouped: torch.Tensor, prefix_keys: torch.Tensor) -> torch.Tensor:
    """Every row's queries (b, kv_heads, m, d) against the one copy of the prefix's keys
    (1, kv_heads, p, d), as one matmul per key/value head whose rows are all the batch's
    queries: (kv_heads, b * m, d) @ (kv_heads, d, p). The keys are read once, not b times.
    Returns (b, kv_heads, m, p)."""
    b, kv_heads, m, d = grouped.shape
    rows = grouped.transpose(0, 1).reshape(kv_heads, b * m, d)
    return torch.matmul(rows, prefix_keys[0].transpose(-1, -2)).view(kv_heads, b, m, -1).transpose(0, 1)


def _prefix_values(weights: torch.Tensor, prefix_values: torch.Tensor) -> torch.Tensor:
    """The prefix's share of the output: weights (b, kv_heads, m, p) over the one copy of
    its values (1, kv_heads, p, d), as (kv_heads, b * m, p) @ (kv_heads, p, d). Returns
    (b, kv_heads, m, d)."""
    b, kv_heads, m, p = weights.shape
    rows = weights.transpose(0, 1).reshape(kv_heads, b * m, p)
    return torch.matmul(rows, prefix_values[0]).view(kv_heads, b, m, -1).transpose(0, 1)


def _buffers(key: torch.Tensor, value: torch.Tensor):
    """The zero-filled buffers ``key`` and ``value`` are leading views of (the decoder's
    ``GrowingLayer`` tags them as ``.buffer``), or None."""
    kb, vb = getattr(key, "buffer", None), getattr(value, "buffer", None)
    if kb is None or vb is None or not (kb.is_contiguous() and vb.is_contiguous()):
        return None
    if kb.shape[:2] != key.shape[:2] or kb.shape[3] != key.shape[3] or kb.shape != vb.shape:
        return None
    if kb.data_ptr() != key.data_ptr() or vb.data_ptr() != value.data_ptr():
        return None
    return (kb, vb) if kb.shape[2] > key.shape[2] else None


AttentionInterface.register(ATTENTION, decode_attention)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)
