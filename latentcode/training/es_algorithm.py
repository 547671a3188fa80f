"""The evolution-strategies algorithm on any list of parameters (one step on the code expert is ``es.py``).

Follows "Evolution Strategies at Scale" (Qiu et al. 2025): antithetic Gaussian
perturbations of all weights (or of LoRA weights only), each regenerated from an integer
seed and never stored; the model is perturbed in place and restored, so memory is one model
plus one parameter-sized noise buffer (the update then needs the gradient and the
optimizer's state, as any optimizer step does). The fitness of a member is the mean reward
(``latentcode.training.rewards``: what the program prints, minus an optional MDL length) of its
greedy programs on the iteration's batch of training tasks. Fitness is rank-normalised over
the population (centered ranks in [-0.5, 0.5]) and the gradient estimate

    g = sum_j (F+_j - F-_j) * eps_j / (2 * n_pairs * sigma)

is handed to a torch optimizer (SGD or Adam) as a gradient to ascend, where the paper adds
``lr * g`` itself. Under torch.distributed each rank evaluates a share of the pairs; only
seeds and scalar fitness cross processes, and every rank computes the same update.

Restoring a member subtracts the noise it added: in float32 ``p + s*e - 2*s*e + s*e`` is
``p`` within rounding (about 1e-7 relative), not bit for bit; in bfloat16 (8 bits of
mantissa) the residue can outgrow an update, so train in float32. Runs stay exactly
reproducible (a resumed run equals an uninterrupted one, every rank holds the same weights)
because every process does the same operations on the weights in the same order.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

_MASK64 = (1 << 64) - 1


def mix(*xs: int) -> int:
    """A 63-bit seed from integers (splitmix64 steps): the same in every process and
    machine, unlike ``hash`` of a string."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = ((h ^ (x & _MASK64)) * 0xBF58476D1CE4E5B9) & _MASK64
        h = ((h ^ (h >> 31)) * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 29
    return h >> 1


def noise(p: torch.Tensor, seed: int, i: int) -> torch.Tensor:
    """eps for parameter number ``i`` of the pair ``seed``: regenerated, never stored."""
    g = torch.Generator(device=p.device).manual_seed(mix(seed, i))
    return torch.randn(p.shape, generator=g, device=p.device, dtype=p.dtype)


@torch.no_grad()
def perturb(params: Sequence[torch.Tensor], seed: int, scale: float) -> None:
    """``p += scale * eps`` in place, one parameter at a time. ``p.add_`` (not
    ``p.data.add_``) bumps the version counter the code expert's prefix cache checks."""
    for i, p in enumerate(params):
        p.add_(noise(p, seed, i), alpha=scale)


def centered_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks scaled to [-0.5, 0.5], ties sharing their average rank; sums to zero."""
    x = x.detach().double().cpu()
    n = len(x)
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[torch.argsort(x, stable=True)] = torch.arange(n, dtype=torch.float64)
    _, group = torch.unique(x, return_inverse=True)
    sums = torch.zeros(int(group.max()) + 1, dtype=torch.float64).index_add_(0, group, ranks)
    ranks = (sums / torch.bincount(group).double())[group]
    return ranks / max(n - 1, 1) - 0.5


def evaluate_population(params: Sequence[torch.Tensor], fitness_fn: Callable[[], float],
                        seeds: Sequence[int], sigma: float, *, rank: int = 0,
                        world_size: int = 1) -> torch.Tensor:
    """Raw fitness (P,), P = 2 * len(seeds), ordered [+eps_0, -eps_0, +eps_1, ...]. This rank
    evaluates pairs rank, rank + world_size, ...; the others' entries come by all_reduce.

    Every rank still applies and undoes every pair's noise: restoring leaves a rounding
    residue, and only the same operations in the same order leave the same residue, so the
    ranks' weights (and a one-process run's) stay bit-identical. The cost, three noise draws
    per pair, is small next to generating."""
    fitness = torch.zeros(2 * len(seeds), dtype=torch.float64)
    for j, seed in enumerate(seeds):
        mine = j % world_size == rank
        perturb(params, seed, sigma)
        if mine:
            fitness[2 * j] = fitness_fn()
        perturb(params, seed, -2 * sigma)
        if mine:
            fitness[2 * j + 1] = fitness_fn()
        perturb(params, seed, sigma)  # restore (within rounding)
    if world_size > 1:
        import torch.distributed as dist
        on = params[0].device if dist.get_backend() == "nccl" else torch.device("cpu")
        fitness = fitness.to(on)
        dist.all_reduce(fitness, op=dist.ReduceOp.SUM)
        fitness = fitness.cpu()
    return fitness


@torch.no_grad()
def set_es_gradient(params: Sequence[torch.Tensor], seeds: Sequence[int],
                    fitness: torch.Tensor, sigma: float) -> None:
    """p.grad = -g (an optimizer descends, ES ascends), eps regenerated seed by seed."""
    shaped = centered_ranks(fitness)
    coef = [float(shaped[2 * j] - shaped[2 * j + 1]) / (2 * len(seeds) * sigma)
            for j in range(len(seeds))]
    for i, p in enumerate(params):
        p.grad = torch.zeros_like(p)
        for seed, c in zip(seeds, coef):
            if c != 0.0:
                p.grad.add_(noise(p, seed, i), alpha=-c)


def es_step(params: Sequence[torch.Tensor], fitness_fn: Callable[[], float],
            optimizer: torch.optim.Optimizer, seeds: Sequence[int], sigma: float, *,
            rank: int = 0, world_size: int = 1) -> torch.Tensor:
    """One iteration: evaluate the antithetic population, step the optimizer up the ES
    gradient. Returns the raw fitness (P,) of every member, on every rank."""
    fitness = evaluate_population(params, fitness_fn, seeds, sigma, rank=rank,
                                  world_size=world_size)
    set_es_gradient(params, seeds, fitness, sigma)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # frees the gradient buffers until next time
    return fitness


def make_optimizer(params, name: str, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)
