"""Completion log-probabilities with the prompt start every row shares run once.

A GRPO batch is groups of completions of the same prompt (8 per question by default) and
every prompt starts with the same system prompt and few-shot examples, so most of the
tokens of TRL's training forward (B rows x (prompt + completion)) are the same prompt
tokens again. Here the tokens all rows start with are run once, as a batch of one whose
keys and values (with their autograd graph) are expanded to every row; then each row runs
only what follows, with positions counted from its attention mask. The gradient reaches the
shared tokens' weights through that one forward, summed over the rows, as it would through
B copies. The log-probabilities are those of TRL's own forward up to float rounding
(tests/test_grpo_prefix.py compares values and gradients).

TRL's layout: ``input_ids`` = [left-padded prompt | completion of width ``logits_to_keep``].
"""
from __future__ import annotations

import contextlib

import torch
from transformers import DynamicCache

from latentcode.expert.base import MIN_PREFIX, common_prefix_len
from latentcode.expert.decode import forward_kv, new_cache_of


def shared_prompt_start(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        logits_to_keep: int) -> list[int]:
    """The tokens every row's prompt starts with (after its left padding), leaving each row
    at least one prompt token of its own (it yields the first completion token's logit)."""
    prompts = input_ids[:, :-logits_to_keep].tolist()
    masks = attention_mask[:, :-logits_to_keep].tolist()
    rows = [[t for t, m in zip(ids, mask) if m] for ids, mask in zip(prompts, masks)]
    if not rows or min(map(len, rows)) < 2:
        return []
    n = common_prefix_len(rows, min(map(len, rows)) - 1)
    return rows[0][:n]


def _rest(input_ids, attention_mask, logits_to_keep: int, p: int):
    """Each row without its first ``p`` prompt tokens, re-left-padded:
    (ids, mask over prefix + rest, position ids of the rest)."""
    prompt_ids, prompt_mask = input_ids[:, :-logits_to_keep], attention_mask[:, :-logits_to_keep]
    lengths = prompt_mask.sum(1) - p  # (rows,) each row's own prompt tokens
    width = int(lengths.max())
    # a row's own prompt tokens are its last `length` prompt columns (left padding)
    cols = torch.arange(width, device=input_ids.device) + (prompt_ids.shape[1] - width)
    own_ids = prompt_ids[:, cols]  # (rows, width)
    own_mask = (torch.arange(width, device=input_ids.device)[None, :] >= (width - lengths)[:, None]).long()
    own_ids = own_ids.masked_fill(own_mask == 0, 0)
    ids = torch.cat([own_ids, input_ids[:, -logits_to_keep:]], 1)  # (rows, width + completion)
    mask = torch.cat([torch.ones_like(own_mask[:, :1]).expand(-1, p), own_mask,
                      attention_mask[:, -logits_to_keep:].long()], 1)  # (rows, p + width + completion)
    positions = (mask.cumsum(1) - 1).clamp(min=0)[:, p:]
    return ids, mask, positions


def _seen_by(prefix, n: int) -> DynamicCache:
    """A cache whose every layer holds the prefix's keys and values (batch 1, with their
    autograd graph) expanded, not copied, to ``n`` rows."""
    cache = DynamicCache()
    for i, layer in enumerate(prefix.layers):
        cache.update(layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1), i)
    return cache


def per_token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, logits_to_keep: int,
                    batch_size: int | None = None, compute_entropy: bool = False,
                    autocast=contextlib.nullcontext):
    """(log-probs, entropies or None) of the last ``logits_to_keep`` tokens of each row, as
    TRL's ``_get_per_token_logps_and_entropies`` returns them (the model carries TRL's fused
    head, so temperature and the entropy are its), or None when the rows share fewer than
    ``MIN_PREFIX`` prompt tokens or the model returns no cache (gradient checkpointing): the
    caller then runs TRL's own forward."""
    shared = shared_prompt_start(input_ids, attention_mask, logits_to_keep)
    if len(shared) < MIN_PREFIX:
        return None
    p = len(shared)
    with autocast():
        prefix = new_cache_of(model(input_ids=torch.tensor([shared], device=input_ids.device),
                                    use_cache=True, logits_to_keep=1))
    if prefix is None or len(prefix.layers) == 0:
        return None
    ids, mask, positions = _rest(input_ids, attention_mask, logits_to_keep, p)
    batch_size = batch_size or ids.shape[0]
    logps, entropies = [], []
    for start in range(0, ids.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        cache = _seen_by(prefix, ids[rows].shape[0])
        labels = ids[rows].masked_fill(mask[rows, p:] == 0, -100)
        labels[:, :-logits_to_keep] = -100  # only completion tokens are scored
        with autocast():
            out = forward_kv(model, cache, input_ids=ids[rows], attention_mask=mask[rows],
                             position_ids=positions[rows], labels=labels, fused_lm_head=True)
        logps.append(out.log_probs[:, -logits_to_keep:])
        if compute_entropy:
            entropies.append(out.entropy[:, -logits_to_keep:])
    return torch.cat(logps), (torch.cat(entropies) if compute_entropy else None)


# ------------------------------------------------------------------------------------
# supervised fine-tuning (EM's M-step): rows [prompt | completion | right padding]
# ------------------------------------------------------------------------------------

def shared_start_of_labelled_rows(input_ids: torch.Tensor, labels: torch.Tensor) -> int:
    """How many leading columns every row shares before its first labelled token (less one:
    the last unlabelled token's logit scores the first labelled one), for right-padded rows."""
    labelled = (labels != -100).int()
    if not bool(labelled.any(1).all()):
        return 0
    first = int(labelled.argmax(1).min())  # the earliest first label of any row
    same = (input_ids[:, :first] == input_ids[:1, :first]).all(0)
    n = int(same.int().cumprod(0).sum()) if first else 0
    return max(0, min(n, first - 1))


class _SharedPrefixModel:
    """What TRL's SFT ``compute_loss`` calls as its model: for a fused-head call on
    right-padded text rows sharing a start, that start runs once (batch 1) and each row runs
    the rest; the output covers the rest's positions only, which hold every labelled token,
    so the loss and TRL's masked means come out as over whole rows. Anything else goes to
    the model unchanged."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __call__(self, input_ids=None, attention_mask=None, labels=None, fused_lm_head=False, **kwargs):
        rest = {k: v for k, v in kwargs.items() if k != "use_cache"}
        p = 0
        if fused_lm_head and input_ids is not None and labels is not None and not rest:
            p = shared_start_of_labelled_rows(input_ids, labels)
        if p < MIN_PREFIX:
            return self._model(input_ids=input_ids, attention_mask=attention_mask, labels=labels,
                               fused_lm_head=fused_lm_head, **kwargs)
        prefix = new_cache_of(self._model(input_ids=input_ids[:1, :p], use_cache=True, logits_to_keep=1))
        cache = _seen_by(prefix, input_ids.shape[0])
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        positions = (mask.long().cumsum(1) - 1).clamp(min=0)[:, p:]
        return forward_kv(self._model, cache, input_ids=input_ids[:, p:], attention_mask=mask,
                          position_ids=positions, labels=labels[:, p:], fused_lm_head=True)


def sft_trainer_class():
    """TRL's SFTTrainer whose loss runs the start all rows of a batch share once
    (``_SharedPrefixModel``); built on demand so importing this module does not import
    TRL's SFT machinery."""
    from trl import SFTTrainer

    class SharedPrefixSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return super().compute_loss(_SharedPrefixModel(model), inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return SharedPrefixSFTTrainer
