"""The decode attention (latentcode/attention.py) computes what sdpa computes: short queries
against a cache, grouped query heads, padding masks, the cache's buffer views."""
from __future__ import annotations

import pytest
import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from latentcode.attention import ATTENTION, SHORT_QUERY, decode_attention
from latentcode.expert.decode import growing_cache
from latentcode.models import load_model


class _Heads(torch.nn.Module):
    num_key_value_groups = 3
    is_causal = True


def _inputs(dtype, b=5, heads=9, kv=3, q=1, length=40, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(b, heads, q, d, generator=g).to(dtype)
    key = torch.randn(b, kv, length, d, generator=g).to(dtype)
    value = torch.randn(b, kv, length, d, generator=g).to(dtype)
    mask = torch.ones(b, 1, q, length, dtype=torch.bool)
    mask[1, ..., :7] = False  # a left-padded row
    mask[3, ..., :length - q] = False  # a row that sees only its new tokens
    mask = mask & torch.ones(q, length, dtype=torch.bool).tril(length - q)  # causal over the new ones
    return query, key, value, mask


@pytest.mark.parametrize("q", [1, 4, 9])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_matches_sdpa(q, dtype, tol):
    query, key, value, mask = _inputs(dtype, q=q)
    ours, _ = decode_attention(_Heads(), query, key, value, mask)
    ref, _ = sdpa_attention_forward(_Heads(), query.float(), key.float(), value.float(), mask)
    assert ours.shape == ref.shape == (5, q, 9, 16)
    assert (ours.float() - ref).abs().max() < tol


def test_reads_the_cache_buffer_and_masks_its_unfilled_columns():
    """The growing cache's keys are views of a longer zero-filled buffer; attention over the
    whole buffer (unfilled columns masked) equals attention over the view."""
    query, key, value, mask = _inputs(torch.float32, q=2)
    cache = growing_cache()
    k, v = cache.update(key, value, 0)
    assert k.buffer.shape[2] > k.shape[2] and k.buffer.data_ptr() == k.data_ptr()
    assert float(k.buffer[:, :, key.shape[2]:].abs().sum()) == 0
    ours, _ = decode_attention(_Heads(), query, k, v, mask)
    plain, _ = decode_attention(_Heads(), query, key.clone(), value.clone(), mask)
    ref, _ = sdpa_attention_forward(_Heads(), query, key, value, mask)
    assert (ours - ref).abs().max() < 1e-5 and (plain - ref).abs().max() < 1e-5
    # without a mask (no padding anywhere) the unfilled columns are still masked
    ours, _ = decode_attention(_Heads(), query[:, :, -1:], k, v, None)
    ref, _ = sdpa_attention_forward(_Heads(), query[:, :, -1:], key, value, None)
    assert (ours - ref).abs().max() < 1e-5


def test_long_queries_go_to_sdpa():
    q = SHORT_QUERY // 3 + 1
    query, key, value, mask = _inputs(torch.float32, q=q, length=q + 10)
    ours, _ = decode_attention(_Heads(), query, key, value, mask)
    ref, _ = sdpa_attention_forward(_Heads(), query, key, value, mask)
    assert torch.equal(ours, ref)


def test_cpu_models_load_with_it_and_generate_what_sdpa_generates():
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    assert model.config._attn_implementation == ATTENTION
    enc = tok(["What is 3 + 4?", "hi"], return_tensors="pt", padding=True, add_special_tokens=False)
    kw = dict(max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        ours = model.generate(**enc, **kw)
        model.set_attn_implementation("sdpa")
        ref = model.generate(**enc, **kw)
    assert torch.equal(ours, ref)
