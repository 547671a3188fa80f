"""Routers for Mixture-of-Experts layers, and their auxiliary losses.

A router reads the tokens and decides which expert sees which token with what weight.
Shape legend used throughout:

    B  batch size               T  sequence length          N  tokens, B * T
    D  d_model                  E  num_experts              K  top_k (choices per token)
    A  assignments kept, at most N * K (what the experts actually compute)
    C  capacity, tokens one expert may take
    S  slots per expert (Soft MoE)

Token-choice and expert-choice routers return a `Routing`: the kept (token, expert) assignments
listed expert by expert, so the experts can run on contiguous slices. Soft MoE mixes tokens
instead of selecting them and returns `SoftRouting`.

Departures from the papers:
- Noisy top-k (Shazeer et al. 2017) keeps the learned noise scale softplus(x W_noise) but is
  trained with the Switch load-balancing loss below, not the paper's importance + load losses.
- The load-balancing loss counts all K choices of a token, as GShard and transformers' Mixtral
  do, so it equals K (not 1) under perfect balance; this keeps our value identical to the one
  TRL computes for Mixtral-style models.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class Routing(NamedTuple):
    """Which tokens each expert computes, grouped expert by expert."""

    router_logits: torch.Tensor  # (N, E) the logits that made the decision
    router_probs: torch.Tensor  # (N, E) their softmax, in at least float32
    expert_index: torch.Tensor | None  # (N, K) each token's choices before capacity; None for expert choice
    token_index: torch.Tensor  # (A,) token of each kept assignment, sorted by expert
    combine_weights: torch.Tensor  # (A,) gate value scaling that expert's output for that token
    tokens_per_expert: torch.Tensor  # (E,) kept assignments per expert; sums to A
    slot_index: torch.Tensor | None  # (N, K) row in the sorted list of each choice, A if dropped;
    # None for expert choice, where a token may be picked by any number of experts


class SoftRouting(NamedTuple):
    """Soft MoE: slots are weighted averages of tokens, outputs weighted averages of slots."""

    router_logits: torch.Tensor  # (B, T, E * S)
    dispatch_weights: torch.Tensor  # (B, T, E * S) softmax over T: how each slot mixes tokens
    combine_weights: torch.Tensor  # (B, T, E * S) softmax over E * S: how each token mixes slots


class RouterLosses(NamedTuple):
    """Auxiliary router losses, by name; weight and add them to the task loss."""

    load_balancing: torch.Tensor  # Switch/GShard: num_experts * sum_e f_e * P_e
    z_loss: torch.Tensor  # ST-MoE: mean over tokens of logsumexp(router_logits) ** 2

    def weighted(self, load_balancing_coef: float, z_loss_coef: float) -> torch.Tensor:
        """The weighted sum; a term with weight 0 is left out, so it costs no backward."""
        total = self.load_balancing.new_zeros(())
        for coef, loss in ((load_balancing_coef, self.load_balancing), (z_loss_coef, self.z_loss)):
            if coef:
                total = total + coef * loss
        return total


def load_balancing_loss(
    router_logits: torch.Tensor, top_k: int, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Switch Transformer eq. 4-6, with each token's K choices counted (GShard, Mixtral).

    num_experts * sum_e f_e * P_e, where f_e is the fraction of tokens that have e among their
    top-k and P_e the mean router probability of e. Only P carries gradient: the counts are not
    differentiable. Padding tokens, 0 in `attention_mask` (N,) or (B, T), are left out.
    """
    probs = torch.softmax(router_logits.reshape(-1, router_logits.shape[-1]).float(), dim=-1)  # (N, E)
    return balance_loss_from_probs(probs, probs.topk(top_k, dim=-1).indices, attention_mask)


def balance_loss_from_probs(
    probs: torch.Tensor, expert_index: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """`load_balancing_loss` from probabilities (N, E) and choices (N, K) a router already made."""
    num_tokens, num_experts = probs.shape
    flat_choices = expert_index.reshape(-1)  # (N * K,)
    if attention_mask is None:
        fraction_routed = torch.bincount(flat_choices, minlength=num_experts).to(probs) / num_tokens  # (E,)
        mean_prob = probs.mean(0)  # (E,)
    else:
        mask = attention_mask.reshape(-1).to(probs)  # (N,)
        kept = mask.sum().clamp(min=1)
        per_choice = mask.repeat_interleave(expert_index.shape[-1])  # (N * K,)
        fraction_routed = torch.bincount(flat_choices, weights=per_choice, minlength=num_experts).to(probs) / kept
        mean_prob = (probs * mask[:, None]).sum(0) / kept
    return num_experts * (fraction_routed * mean_prob).sum()


def router_z_loss(router_logits: torch.Tensor) -> torch.Tensor:
    """ST-MoE (Zoph et al. 2022) eq. 5: keeps router logits small so the softmax stays stable."""
    return torch.logsumexp(router_logits.float(), dim=-1).pow(2).mean()


def router_losses(router_logits: torch.Tensor, top_k: int, attention_mask: torch.Tensor | None = None) -> RouterLosses:
    return RouterLosses(load_balancing_loss(router_logits, top_k, attention_mask), router_z_loss(router_logits))


def capacity(num_tokens: int, num_experts: int, top_k: int, capacity_factor: float) -> int:
    """Tokens one expert may take: capacity_factor times the average load N * K / E (at least 1)."""
    return max(1, math.ceil(capacity_factor * num_tokens * top_k / num_experts))


def _sort_by_expert(
    router_logits: torch.Tensor,
    probs: torch.Tensor,
    experts: torch.Tensor,
    weights: torch.Tensor,
    capacity_limit: int | None,
) -> Routing:
    """Turn per-token choices (N, K) into assignments grouped by expert, dropping over capacity."""
    num_tokens, top_k = experts.shape
    num_experts = router_logits.shape[-1]
    # Choice-major order (all first choices, then all second choices) with a stable sort: when an
    # expert overflows, first choices and earlier tokens keep their place, as in GShard and Switch.
    flat_experts = experts.t().reshape(-1)  # (K * N,)
    order = flat_experts.argsort(stable=True)  # (K * N,)
    tokens_per_expert = torch.bincount(flat_experts, minlength=num_experts)  # (E,)
    if capacity_limit is not None and int(tokens_per_expert.max()) > capacity_limit:
        first_row = tokens_per_expert.cumsum(0) - tokens_per_expert  # (E,) where each expert starts
        rank = torch.arange(order.numel(), device=order.device) - first_row[flat_experts[order]]
        order = order[rank < capacity_limit]  # (A,)
        tokens_per_expert = tokens_per_expert.clamp(max=capacity_limit)
    num_kept = order.numel()
    slot_index = torch.full((top_k * num_tokens,), num_kept, dtype=torch.long, device=order.device)
    slot_index[order] = torch.arange(num_kept, device=order.device)
    return Routing(
        router_logits=router_logits,
        router_probs=probs,
        expert_index=experts,
        token_index=order % num_tokens,
        combine_weights=weights.t().reshape(-1)[order],
        tokens_per_expert=tokens_per_expert,
        slot_index=slot_index.view(top_k, num_tokens).t(),  # (N, K)
    )


class TopKRouter(nn.Module):
    """Token choice: every token sends itself to its top_k experts.

    With the defaults this is Mixtral's router (softmax, top-k, weights renormalised to sum to 1);
    with top_k=1 that weight is always 1 and the router learns only from the aux loss, which is
    why Switch (`SwitchRouter`) keeps the raw probability.
    `noisy=True` adds Gaussian noise with a learned per-expert scale during training (noisy top-k,
    Shazeer et al. 2017) so that rarely chosen experts still get explored. `capacity_factor` caps
    the tokens per expert and drops the overflow (GShard; Switch with top_k=1); a dropped choice
    contributes nothing, so a token dropped by all its experts passes through on the residual.
    """

    def __init__(
        self,
        d_model: int,
        num_experts: int,
        top_k: int,
        *,
        capacity_factor: float | None = None,
        normalize_weights: bool = True,
        noisy: bool = False,
    ):
        super().__init__()
        self.num_experts, self.top_k = num_experts, top_k
        self.capacity_factor, self.normalize_weights = capacity_factor, normalize_weights
        self.weight = nn.Parameter(torch.empty(num_experts, d_model))  # (E, D), like nn.Linear
        nn.init.normal_(self.weight, std=d_model**-0.5)
        # Zero noise weights start every expert at softplus(0) = 0.69 noise scale (Shazeer et al.).
        self.noise_weight = nn.Parameter(torch.zeros(num_experts, d_model)) if noisy else None

    def forward(self, x: torch.Tensor) -> Routing:
        x = x.reshape(-1, x.shape[-1])  # (N, D)
        router_logits = F.linear(x, self.weight)  # (N, E)
        if self.noise_weight is not None and self.training:
            noise_scale = F.softplus(F.linear(x, self.noise_weight))  # (N, E)
            router_logits = router_logits + torch.randn_like(router_logits) * noise_scale
        # Softmax in at least float32: bf16 probabilities tie and flip top-k choices.
        probs = torch.softmax(router_logits, dim=-1, dtype=torch.promote_types(x.dtype, torch.float32))
        weights, experts = probs.topk(self.top_k, dim=-1)  # (N, K)
        if self.normalize_weights:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        limit = None
        if self.capacity_factor is not None:
            limit = capacity(x.shape[0], self.num_experts, self.top_k, self.capacity_factor)
        return _sort_by_expert(router_logits, probs, experts, weights.to(x.dtype), limit)


class SwitchRouter(TopKRouter):
    """Switch Transformer (Fedus et al. 2021): top-1 with a capacity factor and token dropping.

    The gate is the unnormalised probability of the chosen expert; renormalising a single weight
    would make it 1 and cut the router off from the gradient.
    """

    def __init__(self, d_model: int, num_experts: int, *, capacity_factor: float = 1.25, noisy: bool = False):
        super().__init__(
            d_model, num_experts, 1, capacity_factor=capacity_factor, normalize_weights=False, noisy=noisy
        )


class ExpertChoiceRouter(nn.Module):
    """Expert choice (Zhou et al. 2022): each expert takes its top-C tokens by router probability.

    Load is balanced by construction, so no balancing loss is needed; a token may be taken by
    several experts or by none (it then passes through on the residual). The choice compares
    tokens across the whole batch, future positions included, so it does not fit causal decoding:
    `MoELayer` refuses it when `causal=True`.
    """

    def __init__(self, d_model: int, num_experts: int, top_k: int, *, capacity_factor: float = 1.0):
        super().__init__()
        self.num_experts, self.top_k, self.capacity_factor = num_experts, top_k, capacity_factor
        self.weight = nn.Parameter(torch.empty(num_experts, d_model))  # (E, D)
        nn.init.normal_(self.weight, std=d_model**-0.5)

    def forward(self, x: torch.Tensor) -> Routing:
        x = x.reshape(-1, x.shape[-1])  # (N, D)
        router_logits = F.linear(x, self.weight)  # (N, E)
        probs = torch.softmax(router_logits, dim=-1, dtype=torch.promote_types(x.dtype, torch.float32))
        limit = min(x.shape[0], capacity(x.shape[0], self.num_experts, self.top_k, self.capacity_factor))
        weights, token_index = probs.t().topk(limit, dim=-1)  # (E, C), already grouped by expert
        return Routing(
            router_logits=router_logits,
            router_probs=probs,
            expert_index=None,
            token_index=token_index.reshape(-1),
            combine_weights=weights.reshape(-1).to(x.dtype),
            tokens_per_expert=torch.full((self.num_experts,), limit, dtype=torch.long, device=x.device),
            slot_index=None,
        )


class SoftMoERouter(nn.Module):
    """Soft MoE (Puigcerver et al. 2023): each expert processes S slots, each slot a softmax-weighted
    average of all tokens of a sequence; each token's output is a softmax-weighted average of
    all slot outputs. Nothing is dropped and nothing needs balancing.

    Why it does not fit causal decoding: every slot averages over all T positions of the sequence,
    so the output at position t depends on tokens after t, and at generation time, with one token
    at a time, a slot would average a single token. `MoELayer` refuses it when `causal=True`.
    Departure: the paper L2-normalises tokens and slot parameters (with a learned scale) for large
    d_model; we keep plain logits, which suffices at the sizes we train.
    """

    def __init__(self, d_model: int, num_experts: int, slots_per_expert: int):
        super().__init__()
        self.num_experts, self.slots_per_expert = num_experts, slots_per_expert
        self.weight = nn.Parameter(torch.empty(num_experts * slots_per_expert, d_model))  # (E * S, D)
        nn.init.normal_(self.weight, std=d_model**-0.5)

    def forward(self, x: torch.Tensor) -> SoftRouting:
        router_logits = F.linear(x, self.weight)  # (B, T, E * S)
        return SoftRouting(
            router_logits=router_logits,
            dispatch_weights=torch.softmax(router_logits, dim=1),
            combine_weights=torch.softmax(router_logits, dim=-1),
        )
