"""Mixture of LoRA adapters over a frozen base layer (MoLoRA, Zadouri et al. 2023).

    y = base(x) + (alpha / rank) * sum over the token's top_k adapters e of g_e(x) * B_e A_e x

A per-token router picks top_k of num_adapters low-rank adapters, g_e being the router
probability (renormalised over the chosen adapters when top_k > 1); the base layer stays frozen,
so only the adapters and the router train. Every adapter's B starts at zero, so the wrapped layer
starts as the base layer exactly.

Departure: with adapters this small (num_adapters * rank is a few dozen), computing all of them
and zeroing the unpicked ones costs two thin matmuls, cheaper than sorting tokens by adapter, so
there is no dispatch here; the router still decides which adapters contribute per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from latentcode.moe.gating import load_balancing_loss


@dataclass
class MixtureOfLoRAConfig:
    num_adapters: int = field(default=4, metadata={"help": "LoRA adapters per wrapped layer."})
    rank: int = field(default=8, metadata={"help": "Rank r of each adapter."})
    top_k: int = field(default=2, metadata={"help": "Adapters each token uses."})
    alpha: float = field(default=16.0, metadata={"help": "LoRA scale numerator: updates are scaled by alpha / rank."})
    target_modules: tuple[str, ...] = field(
        default=("q_proj", "v_proj"), metadata={"help": "Names of the nn.Linear modules to wrap."}
    )

    def __post_init__(self):
        for name in ("num_adapters", "rank", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be >= 1")
        if self.top_k > self.num_adapters:
            raise ValueError(
                f"top_k ({self.top_k}) must be <= num_adapters ({self.num_adapters}); lower top_k or add adapters"
            )


class MixtureOfLoRA(nn.Module):
    """A frozen nn.Linear plus a routed mixture of LoRA adapters: (..., in) -> (..., out)."""

    def __init__(self, base: nn.Linear, config: MixtureOfLoRAConfig):
        super().__init__()
        self.base, self.config = base, config
        self.base.requires_grad_(False)
        e, r = config.num_adapters, config.rank
        like = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.router = nn.Linear(base.in_features, e, bias=False, **like)
        self.lora_a = nn.Parameter(torch.empty(base.in_features, e * r, **like))  # (in, E * r)
        self.lora_b = nn.Parameter(torch.zeros(e * r, base.out_features, **like))  # (E * r, out)
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        nn.init.normal_(self.router.weight, std=base.in_features**-0.5)
        self.scaling = config.alpha / r
        self.router_logits: torch.Tensor | None = None  # (N, E) of the latest forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        router_logits = self.router(x)  # (..., E)
        self.router_logits = router_logits.reshape(-1, router_logits.shape[-1])
        weights, picked = torch.softmax(router_logits.float(), dim=-1).topk(self.config.top_k, dim=-1)  # (..., K)
        if self.config.top_k > 1:  # renormalising a single weight would make it 1: no router gradient
            weights = weights / weights.sum(-1, keepdim=True)
        gates = torch.zeros_like(router_logits, dtype=weights.dtype).scatter(-1, picked, weights)  # (..., E)
        down = x @ self.lora_a  # (..., E * r)
        down = down * gates.to(x.dtype).repeat_interleave(self.config.rank, dim=-1)  # unpicked adapters -> 0
        return self.base(x) + self.scaling * (down @ self.lora_b)

    def adapter_choices(self, x: torch.Tensor) -> torch.Tensor:
        """The adapters each token uses: (..., in) -> (..., K)."""
        return self.router(x).topk(self.config.top_k, dim=-1).indices


def apply_mixture_of_lora(model: nn.Module, config: MixtureOfLoRAConfig) -> list[MixtureOfLoRA]:
    """Freeze `model` and wrap every nn.Linear named in config.target_modules; returns the wrappers."""
    model.requires_grad_(False)
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in config.target_modules and isinstance(child, nn.Linear)
    ]
    if not targets:
        names = list(config.target_modules)
        raise ValueError(f"no nn.Linear named {names} in {type(model).__name__}; set target_modules")
    wrappers = []
    for parent, name, child in targets:
        wrapper = MixtureOfLoRA(child, config)
        setattr(parent, name, wrapper)
        wrappers.append(wrapper)
    return wrappers


def mixture_of_lora_balance_loss(wrappers: list[MixtureOfLoRA]) -> torch.Tensor:
    """Mean load-balancing loss of the wrappers' latest forward, to keep every adapter in use."""
    losses = [load_balancing_loss(w.router_logits, w.config.top_k) for w in wrappers if w.router_logits is not None]
    if not losses:
        raise ValueError("no router logits yet: run a forward pass before asking for the balance loss")
    return torch.stack(losses).mean()


def lora_parameters(wrappers: list[MixtureOfLoRA]) -> list[nn.Parameter]:
    """What trains: the adapters and the routers."""
    return [p for w in wrappers for p in (w.router.weight, w.lora_a, w.lora_b)]

