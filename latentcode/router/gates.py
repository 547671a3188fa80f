"""The two router forms and how they are fitted.

- ``ProbeGate``: logistic regression on the pooled hidden states (standardised with the
  training questions' mean and spread).
- ``SlotGate``: the code slot of every MoE layer (``latentcode.moe.upcycle.add_slot``): one more
  router logit per layer, in the same softmax as the experts'. A question's p(code) is the slot's
  probability averaged over its tokens and the layers.

Both are fitted to the utility ``correct - c * cost / 1000`` of each path (``costs.utility``):

- ``ce``: cross-entropy on the better path, each question weighted by how much better it is
  (questions where both paths do equally well teach nothing and weigh nothing);
- ``pg``: policy gradient (REINFORCE with the batch's mean reward as baseline): the path is
  sampled from p(code) and only that path's outcome is used, as a router learning online
  would see it, without running both paths.
"""
from __future__ import annotations

import torch
from torch import nn

OBJECTIVES = ("ce", "pg")
FORMS = ("probe", "slot")


class ProbeGate(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.linear = nn.Linear(dim, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def standardise_on(self, pooled: torch.Tensor) -> None:
        self.mean.copy_(pooled.mean(0))
        self.scale.copy_(pooled.std(0).clamp_min(1e-6))

    def forward(self, states) -> torch.Tensor:
        """(Q,) p(code) from ``QuestionStates.pooled``."""
        x = (states.pooled.to(self.mean.device) - self.mean) / self.scale
        return torch.sigmoid(self.linear(x)[:, 0])


class SlotGate(nn.Module):
    """The slot weights of ``num_layers`` MoE layers: weight (L, D), bias (L,)."""

    def __init__(self, num_layers: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_layers, dim))
        self.bias = nn.Parameter(torch.zeros(num_layers))

    def token_probs(self, states) -> torch.Tensor:
        """(N,) each question token's slot probability, averaged over the layers."""
        x, lse = states.slot_x, states.slot_lse
        total = 0
        for layer in range(x.shape[0]):
            # moe.upcycle.slot_probability with the experts' logits given by their logsumexp,
            # the product in x's dtype (bf16: no float32 copy of every token at every layer)
            slot = (x[layer] @ self.weight[layer].to(x.dtype)).float() + self.bias[layer]
            total = total + torch.sigmoid(slot - lse[layer])
        return total / x.shape[0]

    def forward(self, states) -> torch.Tensor:
        """(Q,) p(code): the token probabilities averaged per question."""
        probs = self.token_probs(states)
        owner = states.token_question
        questions = int(owner.max()) + 1 if owner.numel() else 0
        sums = torch.zeros(questions).index_add_(0, owner, probs)
        counts = torch.zeros(questions).index_add_(0, owner, torch.ones_like(probs))
        return sums / counts

    def into(self, mlps) -> None:
        """Copy the weights into the MoE layers' slots (``add_slot``), in layer order."""
        if len(mlps) != self.weight.shape[0]:
            raise ValueError(f"the gate has {self.weight.shape[0]} slots, the model {len(mlps)} MoE layers")
        with torch.no_grad():
            for layer, mlp in enumerate(mlps):
                mlp.slot.weight.copy_(self.weight[layer][None])
                mlp.slot.bias.copy_(self.bias[layer][None])


def make_gate(form: str, states, num_layers: int | None = None) -> nn.Module:
    if form == "probe":
        gate = ProbeGate(states.pooled.shape[1])
        gate.standardise_on(states.pooled)
        return gate
    if form == "slot":
        return SlotGate(states.slot_x.shape[0], states.slot_x.shape[2])
    raise ValueError(f"form must be one of {', '.join(FORMS)}, not {form!r}")


def fit(gate: nn.Module, states, u_code: torch.Tensor, u_direct: torch.Tensor, *, objective: str,
        steps: int, lr: float, weight_decay: float, seed: int, batch_questions: int = 0) -> list[float]:
    """Fit ``gate`` on the questions of ``states``, whose paths are worth ``u_code`` and
    ``u_direct`` (Q,), with Adam on ``batch_questions`` questions per step (0: all of them every
    step): the questions are shuffled once per pass (one copy) and taken in consecutive blocks
    (views). Returns the loss per step."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    params = [p for p in gate.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    total = len(u_code)
    size = batch_questions if 0 < batch_questions < total else total
    losses, order, shuffled, starts, at = [], torch.arange(total), states, None, total
    for _ in range(steps):
        if at + size > total:  # a new pass: shuffle (a full batch keeps its order)
            if size < total:
                order = torch.randperm(total, generator=generator)
                shuffled = states.subset(order)
                starts = shuffled._starts() if shuffled.token_question is not None else None
            at = 0
        part = shuffled if size == total else shuffled.between(at, at + size, starts)
        idx = order[at:at + size]
        at += size
        uc, ud = u_code[idx], u_direct[idx]
        better = (uc > ud).float()
        weight = (uc - ud).abs()
        weight = weight / weight.sum().clamp_min(1e-12)
        p = gate(part).clamp(1e-6, 1 - 1e-6)
        if objective == "ce":
            loss = -(weight * (better * p.log() + (1 - better) * (1 - p).log())).sum()
        else:
            code = torch.bernoulli(p.detach(), generator=generator)
            reward = code * uc + (1 - code) * ud  # only the sampled path's outcome
            advantage = reward - reward.mean()
            log_prob = code * p.log() + (1 - code) * (1 - p).log()
            loss = -(advantage * log_prob).mean()
        penalty = sum((w ** 2).sum() for n, w in gate.named_parameters() if "bias" not in n)
        (loss + weight_decay * penalty).backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return losses
