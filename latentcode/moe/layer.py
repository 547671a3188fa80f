"""The Mixture-of-Experts layer: config, SwiGLU experts, sort-by-expert dispatch, metrics.

A router (`gating.py`, with the shape legend B T N D E K A) picks experts per token; the
layer gathers the tokens expert by expert, runs every expert on its contiguous slice, and adds the
weighted outputs back per token (the kernels, and why they are hand-written, are in
`kernels.py`). It is dropless unless a capacity factor is set; a dropped token gets zero from
the layer and so passes through on the block's residual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from latentcode.moe.kernels import BufferPool, CombineSlots, SwiGLUExpertsFunction, TokensToSlots
from latentcode.moe.gating import (
    ExpertChoiceRouter,
    RouterLosses,
    Routing,
    SoftMoERouter,
    SoftRouting,
    SwitchRouter,
    TopKRouter,
    balance_loss_from_probs,
    router_z_loss,
)

ROUTERS = ("top_k", "switch", "expert_choice", "soft")


@dataclass
class MoEConfig:
    d_model: int = field(default=512, metadata={"help": "Width of the tokens the layer reads and writes."})
    d_ff: int = field(default=1024, metadata={"help": "Hidden width of each SwiGLU expert."})
    num_experts: int = field(default=8, metadata={"help": "Number of experts E."})
    top_k: int = field(default=2, metadata={"help": "Experts per token (expert choice: average experts per token)."})
    router: str = field(default="top_k", metadata={"help": "One of top_k, switch, expert_choice, soft."})
    capacity_factor: float | None = field(
        default=None,
        metadata={"help": "Tokens per expert over the mean N*top_k/E; None: dropless (switch 1.25, expert_choice 1)."},
    )
    noisy: bool = field(default=False, metadata={"help": "Noisy top-k: learned Gaussian noise on logits in training."})
    slots_per_expert: int = field(default=1, metadata={"help": "Soft MoE: slots each expert processes per sequence."})
    causal: bool = field(default=True, metadata={"help": "In a causal decoder: refuse routers reading future tokens."})
    load_balancing_coef: float = field(default=0.01, metadata={"help": "Weight of the load-balancing loss."})
    z_loss_coef: float = field(default=0.0, metadata={"help": "Weight of the router z-loss (ST-MoE uses 1e-3)."})
    reuse_buffers: bool = field(
        default=True,
        metadata={"help": "On CPU, reuse large buffers (weight gradients included) across steps; see kernels.py."},
    )

    def __post_init__(self):
        for name in ("d_model", "d_ff", "num_experts", "top_k", "slots_per_expert"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be >= 1")
        if self.router not in ROUTERS:
            raise ValueError(f"router ({self.router!r}) must be one of {', '.join(ROUTERS)}")
        if self.top_k > self.num_experts:
            raise ValueError(
                f"top_k ({self.top_k}) must be <= num_experts ({self.num_experts}); lower top_k or add experts"
            )
        if self.router == "switch" and self.top_k != 1:
            raise ValueError(f"router 'switch' sends each token to one expert; set top_k=1 (got {self.top_k})")
        if self.capacity_factor is not None and self.capacity_factor <= 0:
            raise ValueError(f"capacity_factor ({self.capacity_factor}) must be > 0, or None for dropless routing")
        if self.causal and self.router in ("soft", "expert_choice"):
            raise ValueError(
                f"router {self.router!r} mixes or ranks tokens across the whole sequence, so position t would see "
                f"tokens after t; it cannot be used in a causal decoder. Use router='top_k' or 'switch', or set "
                f"causal=False for an encoder."
            )


class MoEMetrics(NamedTuple):
    tokens_per_expert: torch.Tensor  # (E,) assignments each expert computed
    dropped_fraction: torch.Tensor  # () token-choice: choices dropped; expert choice: tokens no expert took
    router_entropy: torch.Tensor  # () mean entropy (nats) of the router's distribution per token


class MoEOutput(NamedTuple):
    hidden_states: torch.Tensor  # (B, T, D)
    router_logits: torch.Tensor  # (N, E); Soft MoE: (N, E * S)
    losses: RouterLosses
    metrics: MoEMetrics


class SwiGLUExperts(nn.Module):
    """E SwiGLU feed-forward networks, down(silu(x W_gate) * x W_up), stored stacked.

    Weights are (E, D, 2F) with gate then up along the last axis, and (E, F, D): each expert is a
    plain `x @ w`. transformers' Mixtral stores the transposes, (E, 2F, D) and (E, D, F).
    """

    def __init__(self, num_experts: int, d_model: int, d_ff: int, reuse_buffers: bool = True):
        super().__init__()
        self.w_gate_up = nn.Parameter(torch.empty(num_experts, d_model, 2 * d_ff))  # (E, D, 2F)
        self.w_down = nn.Parameter(torch.empty(num_experts, d_ff, d_model))  # (E, F, D)
        nn.init.normal_(self.w_gate_up, std=d_model**-0.5)
        nn.init.normal_(self.w_down, std=d_ff**-0.5)
        self.pool = BufferPool(enabled=reuse_buffers)

    def forward(self, x: torch.Tensor, tokens_per_expert: torch.Tensor | list[int]) -> torch.Tensor:
        """x (A, D) sorted by expert, tokens_per_expert (E,) summing to A -> (A, D)."""
        counts = tokens_per_expert.tolist() if torch.is_tensor(tokens_per_expert) else list(tokens_per_expert)
        if sum(counts) != x.shape[0]:
            raise ValueError(f"tokens_per_expert sums to {sum(counts)} but x has {x.shape[0]} rows")
        return SwiGLUExpertsFunction.apply(x, self.w_gate_up, self.w_down, counts, self.pool)


def dispatch(x: torch.Tensor, routing: Routing, experts: nn.Module, pool: BufferPool | None = None) -> torch.Tensor:
    """Run each expert on its tokens and return the gate-weighted sum per token: (N, D) -> (N, D).

    `experts(x_sorted (A, D), tokens_per_expert (E,)) -> (A, D)`; `pool` lends the buffers."""
    if routing.slot_index is None:  # expert choice: a token may sit in any number of slots
        y_sorted = experts(x.index_select(0, routing.token_index), routing.tokens_per_expert)  # (A, D)
        return torch.zeros_like(x).index_add_(0, routing.token_index, y_sorted * routing.combine_weights[:, None])
    pool = BufferPool(enabled=False) if pool is None else pool
    x_sorted = TokensToSlots.apply(x, routing.token_index, routing.slot_index, pool)  # (A, D)
    y_sorted = experts(x_sorted, routing.tokens_per_expert)  # (A, D)
    return CombineSlots.apply(y_sorted, routing.combine_weights, routing.token_index, routing.slot_index, pool)


def soft_dispatch(x: torch.Tensor, routing: SoftRouting, experts: SwiGLUExperts) -> torch.Tensor:
    """Soft MoE: (B, T, D) -> slots (E, B * S, D) -> experts -> (B, T, D)."""
    batch, _, d_model = x.shape
    num_experts = experts.w_down.shape[0]
    slots = torch.einsum("btd,bts->bsd", x, routing.dispatch_weights)  # (B, E * S, D)
    slots = slots.view(batch, num_experts, -1, d_model).transpose(0, 1).reshape(-1, d_model)  # (E * B * S, D)
    y = experts(slots, [slots.shape[0] // num_experts] * num_experts)
    y = y.view(num_experts, batch, -1, d_model).transpose(0, 1).reshape(batch, -1, d_model)  # (B, E * S, D)
    return torch.einsum("bsd,bts->btd", y, routing.combine_weights)


@torch.no_grad()
def routing_metrics(router_probs: torch.Tensor, tokens_per_expert: torch.Tensor, dropped_fraction) -> MoEMetrics:
    """router_probs (N, E), tokens_per_expert (E,), dropped_fraction () -> MoEMetrics."""
    entropy = torch.special.entr(router_probs).sum(-1).mean()
    return MoEMetrics(tokens_per_expert, torch.as_tensor(dropped_fraction, dtype=torch.float32), entropy)


def make_router(config: MoEConfig) -> nn.Module:
    d, e = config.d_model, config.num_experts
    if config.router == "top_k":
        return TopKRouter(d, e, config.top_k, capacity_factor=config.capacity_factor, noisy=config.noisy)
    if config.router == "switch":
        return SwitchRouter(d, e, capacity_factor=config.capacity_factor or 1.25, noisy=config.noisy)
    if config.router == "expert_choice":
        return ExpertChoiceRouter(d, e, config.top_k, capacity_factor=config.capacity_factor or 1.0)
    return SoftMoERouter(d, e, config.slots_per_expert)


class MoELayer(nn.Module):
    """A feed-forward layer of `num_experts` SwiGLU experts behind a router: (B, T, D) -> MoEOutput."""

    def __init__(self, config: MoEConfig):
        super().__init__()
        self.config = config
        self.router = make_router(config)
        self.experts = SwiGLUExperts(config.num_experts, config.d_model, config.d_ff, config.reuse_buffers)
        self.pool = self.experts.pool  # the permutation borrows from the experts' buffers

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> MoEOutput:
        """x (B, T, D); attention_mask (B, T), 0 on padding, only keeps padding out of the losses."""
        if self.config.router == "soft":
            return self._forward_soft(x)
        batch, seq, d_model = x.shape
        routing = self.router(x)
        y = dispatch(x.reshape(-1, d_model), routing, self.experts, self.pool)  # (N, D)
        if routing.expert_index is None:  # expert choice: balanced by construction
            balance = routing.router_probs.new_zeros(())
        else:
            balance = balance_loss_from_probs(routing.router_probs, routing.expert_index, attention_mask)
        losses = RouterLosses(balance, router_z_loss(routing.router_logits))
        metrics = routing_metrics(routing.router_probs, routing.tokens_per_expert, self._dropped_fraction(routing))
        return MoEOutput(y.view(batch, seq, d_model), routing.router_logits, losses, metrics)

    def _dropped_fraction(self, routing: Routing) -> torch.Tensor | float:
        num_tokens = routing.router_logits.shape[0]
        if routing.slot_index is None:  # expert choice: the tokens no expert took
            taken = torch.zeros(num_tokens, dtype=torch.bool, device=routing.token_index.device)
            return 1.0 - taken.index_fill_(0, routing.token_index, True).float().mean()
        return 1.0 - routing.token_index.numel() / (num_tokens * self.config.top_k)

    def _forward_soft(self, x: torch.Tensor) -> MoEOutput:
        routing = self.router(x)
        y = soft_dispatch(x, routing, self.experts)
        logits = routing.router_logits.reshape(-1, routing.router_logits.shape[-1])  # (N, E * S)
        zero = logits.new_zeros(())
        per_expert = x.shape[0] * self.config.slots_per_expert
        tokens = torch.full((self.config.num_experts,), per_expert, dtype=torch.long, device=x.device)
        metrics = routing_metrics(torch.softmax(logits.float(), dim=-1), tokens, 0.0)
        return MoEOutput(y, logits, RouterLosses(zero, zero), metrics)

    def aux_loss(self, output: MoEOutput) -> torch.Tensor:
        """The weighted sum of the router losses, to add to the task loss."""
        return output.losses.weighted(self.config.load_balancing_coef, self.config.z_loss_coef)
