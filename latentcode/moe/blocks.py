"""Mixture of blocks: a gate picks which transformer block (attention + MLP) to apply next from a
shared pool, so blocks can repeat or be skipped, and a learned exit decides when to stop.

Shape legend: B batch, T sequence length, D d_model, P blocks in the pool, S max_steps, V classes.

At each of max_steps steps the gate reads the mean state of each sequence and picks one block
(top-1, per sequence); only that block runs. As in the Switch Transformer the chosen block's update
is scaled by its gate probability, here with a straight-through trick (forward value 1, gradient
of the probability) so blocks run at full strength while the gate still learns. After each step a
halting unit gives lambda_n, the probability of stopping there if still running; the output head
reads every step. Training minimises PonderNet's expected loss over the halting distribution
(Banino et al. 2021) plus a ponder cost, the expected number of steps times `ponder_cost` (ACT's
regulariser, Graves 2016, in place of PonderNet's KL to a geometric prior). At inference a sequence
stops at the first step with lambda_n > 0.5.

`FixedDepthStack` is the baseline: the same P blocks applied once each, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class MixtureOfBlocksConfig:
    vocab_size: int = field(default=32, metadata={"help": "Input token vocabulary."})
    num_classes: int = field(default=32, metadata={"help": "Output classes V, read at the last position."})
    max_seq_len: int = field(default=16, metadata={"help": "Longest input, for the learned position embedding."})
    d_model: int = field(default=32, metadata={"help": "Width D of the residual stream."})
    num_heads: int = field(default=2, metadata={"help": "Attention heads per block."})
    d_ff: int = field(default=64, metadata={"help": "Hidden width of each block's MLP."})
    num_blocks: int = field(default=2, metadata={"help": "Blocks P in the shared pool."})
    max_steps: int = field(default=6, metadata={"help": "Most blocks a sequence may apply, S."})
    ponder_cost: float = field(default=0.01, metadata={"help": "Weight of the expected number of steps in the loss."})
    halt_bias_init: float = field(default=-3.0, metadata={"help": "Initial halting bias (sigmoid(-3) = 0.05)."})

    def __post_init__(self):
        sizes = ("vocab_size", "num_classes", "max_seq_len", "d_model", "num_heads", "d_ff", "num_blocks", "max_steps")
        for name in sizes:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be >= 1")
        if self.d_model % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide d_model ({self.d_model})")


class Block(nn.Module):
    """Pre-norm transformer block that returns its residual update, (B, T, D) -> (B, T, D)."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        batch, seq, d_model = h.shape
        qkv = self.qkv(self.norm1(h)).view(batch, seq, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # (B, heads, T, D / heads) each
        attended = self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, seq, d_model))
        return attended + self.mlp(self.norm2(h + attended))


def _pool(config: MixtureOfBlocksConfig) -> nn.ModuleList:
    return nn.ModuleList(Block(config.d_model, config.num_heads, config.d_ff) for _ in range(config.num_blocks))


class _Embedding(nn.Module):
    def __init__(self, config: MixtureOfBlocksConfig):
        super().__init__()
        self.tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.positions = nn.Embedding(config.max_seq_len, config.d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.tokens(tokens) + self.positions(torch.arange(tokens.shape[1], device=tokens.device))


class MoBOutput(NamedTuple):
    logits: torch.Tensor  # (B, S, V) the head's prediction after each step
    halt_probs: torch.Tensor  # (B, S) probability of stopping at step n; rows sum to 1
    choices: torch.Tensor  # (B, S) block applied at each step


class MoBLosses(NamedTuple):
    task: torch.Tensor  # expected cross-entropy under the halting distribution
    ponder: torch.Tensor  # expected number of steps


class MixtureOfBlocks(nn.Module):
    def __init__(self, config: MixtureOfBlocksConfig):
        super().__init__()
        self.config = config
        self.embed = _Embedding(config)
        self.blocks = _pool(config)
        self.gate = nn.Linear(config.d_model, config.num_blocks)
        self.halt = nn.Linear(config.d_model, 1)
        # Start rarely halting (lambda ~ 0.05), so early training sees every step; halting at
        # lambda ~ 0.5 from the start teaches the model to stop after one block and stay there.
        nn.init.constant_(self.halt.bias, config.halt_bias_init)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.num_classes)

    def forward(self, tokens: torch.Tensor) -> MoBOutput:
        """tokens (B, T) -> MoBOutput for every step."""
        h = self.embed(tokens)  # (B, T, D)
        logits, halts, choices = [], [], []
        for _ in range(self.config.max_steps):
            h, choice = self._step(h)
            logits.append(self.head(self.norm(h[:, -1])))  # (B, V)
            halts.append(torch.sigmoid(self.halt(h.mean(1))).squeeze(-1))  # (B,)
            choices.append(choice)
        halts[-1] = torch.ones_like(halts[-1])  # everyone stops at max_steps
        return MoBOutput(torch.stack(logits, 1), halting_distribution(torch.stack(halts, 1)), torch.stack(choices, 1))

    def _step(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply each sequence's chosen block: (B, T, D) -> (B, T, D), choices (B,)."""
        probs = torch.softmax(self.gate(h.mean(1)), dim=-1)  # (B, P)
        choice = probs.argmax(-1)  # (B,)
        chosen = probs.gather(1, choice[:, None])  # (B, 1)
        scale = (chosen - chosen.detach() + 1.0)[:, :, None]  # 1 forward, d(prob) backward
        parts, rows = [], []
        for p, block in enumerate(self.blocks):
            idx = (choice == p).nonzero().squeeze(1)
            if idx.numel():
                h_p = h.index_select(0, idx)
                parts.append(h_p + scale.index_select(0, idx) * block(h_p))
                rows.append(idx)
        order = torch.cat(rows).argsort()  # back to batch order
        return torch.cat(parts).index_select(0, order), choice

    def losses(self, output: MoBOutput, targets: torch.Tensor) -> MoBLosses:
        """targets (B,) class ids."""
        num_steps = output.logits.shape[1]
        per_step = F.cross_entropy(output.logits.flatten(0, 1), targets.repeat_interleave(num_steps), reduction="none")
        task = (output.halt_probs * per_step.view_as(output.halt_probs)).sum(1).mean()
        steps = torch.arange(1, output.halt_probs.shape[1] + 1, device=targets.device, dtype=output.halt_probs.dtype)
        return MoBLosses(task, (output.halt_probs * steps).sum(1).mean())

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        losses = self.losses(self(tokens), targets)
        return losses.task + self.config.ponder_cost * losses.ponder

    @torch.no_grad()
    def predict(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Classes (B,) read at each sequence's exit, and the number of steps it took (B,)."""
        output = self(tokens)
        stop_here = halting_decisions(output.halt_probs)  # (B,) index of the exit step
        return output.logits[torch.arange(len(tokens)), stop_here].argmax(-1), stop_here + 1


def halting_distribution(halts: torch.Tensor) -> torch.Tensor:
    """lambda (B, S) -> p_n = lambda_n * prod_{j<n} (1 - lambda_j), (B, S)."""
    still_running = torch.cumprod(torch.cat([torch.ones_like(halts[:, :1]), 1 - halts[:, :-1]], 1), 1)
    return halts * still_running


def halting_decisions(halt_probs: torch.Tensor) -> torch.Tensor:
    """First step whose conditional halting probability exceeds 1/2: (B, S) -> (B,)."""
    running = 1 - torch.cumsum(halt_probs, 1) + halt_probs  # P(reach step n), (B, S)
    conditional = halt_probs / running.clamp(min=1e-12)
    return (conditional > 0.5).float().argmax(1)  # the last step always has conditional 1


class FixedDepthStack(nn.Module):
    """Baseline: the same P blocks, each applied once in order, and the same head."""

    def __init__(self, config: MixtureOfBlocksConfig):
        super().__init__()
        self.embed = _Embedding(config)
        self.blocks = _pool(config)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens)
        for block in self.blocks:
            h = h + block(h)
        return self.head(self.norm(h[:, -1]))  # (B, V)

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(tokens), targets)

    @torch.no_grad()
    def predict(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self(tokens).argmax(-1), torch.full((len(tokens),), len(self.blocks))


def pointer_chasing(num_samples: int, num_nodes: int = 8, hops: int = 5, seed: int = 0):
    """A task where depth matters: follow a random pointer table for `hops` hops.

    Tokens (B, num_nodes + 1) are the table f(0)..f(n-1), a random function on n nodes, then the
    start node s; the target is f^hops(s), read at the last position. Each hop needs another round
    of attention: a stack of L blocks follows about L hops (2^L - 1 with pointer doubling).
    Returns (tokens, targets)."""
    g = torch.Generator().manual_seed(seed)
    table = torch.randint(num_nodes, (num_samples, num_nodes), generator=g)
    node = start = torch.randint(num_nodes, (num_samples,), generator=g)
    for _ in range(hops):
        node = table.gather(1, node[:, None]).squeeze(1)
    return torch.cat([table, start[:, None]], 1), node
