"""What the router reads: the neural path's own hidden states over the question.

One forward pass over each question's direct-path prompt (the prompt the neural path would
answer) gives both router forms their input:

- the probe: hidden states averaged over the question's tokens at a few layers, concatenated;
- the code slot: at every MoE layer, each question token's router input and the logsumexp of
  its experts' logits (what the slot's probability needs, ``latentcode.moe.upcycle``).

The question's tokens are found by character offsets (a fast tokenizer's offset mapping), so
the system prompt and worked examples, which every question shares, never reach the router.
"""
from __future__ import annotations

import dataclasses
import time

import torch

from latentcode.moe.upcycle import MoEMLP


@dataclasses.dataclass
class QuestionStates:
    pooled: torch.Tensor | None  # (Q, len(layers) * D) float32: the probe's input
    slot_x: torch.Tensor | None  # (L, N, D) bf16: each question token's input to each MoE router
    slot_lse: torch.Tensor | None  # (L, N) float32: logsumexp of that token's expert logits
    token_question: torch.Tensor | None  # (N,) long: the question of each token, in order
    seconds: float = 0.0  # the forward passes' wall time

    def _starts(self) -> torch.Tensor:
        """(Q + 1,) where each question's tokens start (and where the last ends)."""
        counts = torch.bincount(self.token_question, minlength=int(self.token_question.max()) + 1)
        return torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])

    def subset(self, questions: torch.Tensor) -> "QuestionStates":
        """The states of ``questions`` (indices), renumbered 0..len-1 in that order (a copy)."""
        pooled = self.pooled[questions] if self.pooled is not None else None
        if self.slot_x is None:
            return QuestionStates(pooled, None, None, None, self.seconds)
        starts = self._starts()
        counts = starts[1:] - starts[:-1]
        idx = torch.cat([torch.arange(int(starts[q]), int(starts[q + 1])) for q in questions.tolist()])
        owner = torch.arange(len(questions)).repeat_interleave(counts[questions])
        return QuestionStates(pooled, self.slot_x.index_select(1, idx), self.slot_lse.index_select(1, idx),
                              owner, self.seconds)

    def between(self, first: int, end: int, starts: torch.Tensor | None = None) -> "QuestionStates":
        """Questions ``first``..``end - 1``, renumbered from 0: views, no copy (``starts``:
        ``_starts()``, computed once by a caller slicing many times)."""
        pooled = self.pooled[first:end] if self.pooled is not None else None
        if self.slot_x is None:
            return QuestionStates(pooled, None, None, None, self.seconds)
        starts = self._starts() if starts is None else starts
        a, b = int(starts[first]), int(starts[end])
        return QuestionStates(pooled, self.slot_x[:, a:b], self.slot_lse[:, a:b],
                              self.token_question[a:b] - first, self.seconds)


def question_masks(tokenizer, prompts: list[str], questions: list[str], enc) -> torch.Tensor:
    """(B, T) bool: the tokens of ``enc`` (``prompts`` tokenized with offsets) that overlap the
    last occurrence of each question in its prompt."""
    offsets = enc["offset_mapping"]  # (B, T, 2); padding (0, 0)
    mask = torch.zeros(offsets.shape[:2], dtype=torch.bool)
    for b, (prompt, question) in enumerate(zip(prompts, questions)):
        start = prompt.rfind(question)
        if start < 0 or not question:
            raise ValueError(f"the question is not in its prompt: {question[:60]!r}")
        end = start + len(question)
        lo, hi = offsets[b, :, 0], offsets[b, :, 1]
        mask[b] = (hi > start) & (lo < end) & (hi > lo) & enc["attention_mask"][b].bool()
        if not mask[b].any():
            raise ValueError(f"no token of the question was found: {question[:60]!r}")
    return mask


def _forward_questions(model, tokenizer, prompts: list[str], questions: list[str], *,
                       hidden_states: bool, share_prefix: bool, before_suffix=None):
    """One forward over ``prompts``; returns (output, mask): ``mask`` (B, T) marks each
    question's tokens in the output's positions. With ``share_prefix``, the tokens every prompt
    starts with (the system prompt and worked examples; never a question token) run once, as a
    batch of one, and the rest of each prompt runs after that cache, left-padded as the decoder
    prefills: the output then covers those positions only (``before_suffix()`` is called between
    the two passes)."""
    from latentcode.expert.base import MIN_PREFIX, common_prefix_len
    from latentcode.expert.decode import forward_kv, growing_cache, new_cache_of  # here: start-up cost
    enc = tokenizer(prompts, add_special_tokens=False, return_offsets_mapping=True,
                    padding=True, return_tensors="pt")
    mask = question_masks(tokenizer, prompts, questions, enc)
    keep = enc["attention_mask"].bool()  # the unpadded rows, whichever side the tokenizer pads
    ids = [enc["input_ids"][b][keep[b]].tolist() for b in range(len(prompts))]
    qmask = [mask[b][keep[b]] for b in range(len(prompts))]
    first_q = min(int(m.nonzero()[0]) for m in qmask)  # no question token goes into the shared part
    n = common_prefix_len(ids, first_q) if share_prefix else 0
    if n < MIN_PREFIX:  # nothing (worth) sharing: the plain batch
        out = model(input_ids=enc["input_ids"].to(model.device), attention_mask=enc["attention_mask"].to(model.device),
                    output_hidden_states=hidden_states, use_cache=False)
        return out, mask
    prefix = new_cache_of(model(input_ids=torch.tensor([ids[0][:n]], device=model.device), use_cache=True))
    if before_suffix is not None:
        before_suffix()
    rest = [x[n:] for x in ids]
    w = max(map(len, rest))
    pad = tokenizer.pad_token_id
    suffix = torch.tensor([[pad] * (w - len(x)) + x for x in rest], device=model.device)
    attention = torch.tensor([[1] * n + [0] * (w - len(x)) + [1] * len(x) for x in rest], device=model.device)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)[:, n:]
    cache = growing_cache([(layer.keys, layer.values) for layer in prefix.layers], len(rest))
    out = forward_kv(model, cache, input_ids=suffix, attention_mask=attention, position_ids=positions,
                     output_hidden_states=hidden_states)
    suffix_mask = torch.zeros(len(rest), w, dtype=torch.bool)
    for b, (m, x) in enumerate(zip(qmask, rest)):
        suffix_mask[b, w - len(x):] = m[n:]
    return out, suffix_mask


@torch.no_grad()
def read_questions(model, tokenizer, prompts: list[str], questions: list[str], *,
                   layers: list[int] | None = None, slot: bool = False,
                   batch_size: int = 16, share_prefix: bool = True) -> QuestionStates:
    """The router's inputs for each prompt: ``layers`` (indices into the model's hidden
    states, 0 the embeddings) pooled for the probe; with ``slot``, the MoE routers' inputs
    over the question tokens (the model must be upcycled). ``share_prefix``: the tokens a
    chunk's prompts share run once (``_forward_questions``); the states are the same up to
    float rounding."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("the router finds the question's tokens by offsets: it needs a fast tokenizer")
    mlps = [m for m in model.modules() if isinstance(m, MoEMLP)] if slot else []
    if slot and not mlps:
        raise ValueError("the code slot reads MoE routers: upcycle the model first")
    pooled, xs, lses, owner = [], [], [], []
    captured: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(module, args, output):
        captured.append((args[0], module.router_logits))

    handles = [m.register_forward_hook(hook) for m in mlps]
    t0 = time.perf_counter()
    try:
        for start in range(0, len(prompts), batch_size):
            chunk, qs = prompts[start:start + batch_size], questions[start:start + batch_size]
            captured.clear()
            out, mask = _forward_questions(model, tokenizer, chunk, qs, hidden_states=layers is not None,
                                           share_prefix=share_prefix, before_suffix=captured.clear)
            m = mask.to(model.device)
            if layers is not None:
                weights = m.float() / m.sum(1, keepdim=True)  # (B, T)
                pooled.append(torch.cat([torch.einsum("bt,btd->bd", weights, out.hidden_states[i].float())
                                         for i in layers], dim=-1).cpu())
            if slot:
                flat = m.reshape(-1)
                xs.append(torch.stack([x.reshape(-1, x.shape[-1])[flat].to(torch.bfloat16).cpu()
                                       for x, _ in captured]))
                lses.append(torch.stack([torch.logsumexp(lg.float(), -1)[flat].cpu() for _, lg in captured]))
                owner.append(torch.arange(start, start + len(chunk)).repeat_interleave(mask.sum(1)))
    finally:
        for h in handles:
            h.remove()
    seconds = time.perf_counter() - t0
    return QuestionStates(
        torch.cat(pooled) if pooled else None,
        torch.cat(xs, dim=1) if xs else None,
        torch.cat(lses, dim=1) if lses else None,
        torch.cat(owner) if owner else None, seconds)


@torch.no_grad()
def slot_probabilities(model, tokenizer, prompts: list[str], questions: list[str], *,
                       batch_size: int = 16, share_prefix: bool = True) -> tuple[list[float], float]:
    """p(code) per prompt as the routers compute it in the forward pass: each MoE layer's slot
    probability (``MoEMLP.slot_probs``), averaged over the layers and the question's tokens;
    and the seconds spent. What a routed answer uses: nothing is copied out but one number per
    token and layer (``read_questions(slot=True)`` keeps the routers' inputs, for fitting)."""
    mlps = [m for m in model.modules() if isinstance(m, MoEMLP) and m.slot is not None]
    if not mlps:
        raise ValueError("no MoE layer has a slot: upcycle the model and add_slot(model) first")
    out = []
    t0 = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        chunk, qs = prompts[start:start + batch_size], questions[start:start + batch_size]
        _, mask = _forward_questions(model, tokenizer, chunk, qs, hidden_states=False, share_prefix=share_prefix)
        mask = mask.to(model.device)
        per_token = torch.stack([m.slot_probs for m in mlps]).mean(0).view(mask.shape)  # (B, T)
        out += ((per_token * mask).sum(1) / mask.sum(1)).tolist()
    return out, time.perf_counter() - t0


def default_layers(model) -> list[int]:
    """The middle and the last hidden state."""
    n = model.config.get_text_config().num_hidden_layers
    return [n // 2, n]
