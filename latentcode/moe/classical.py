"""The classical mixture of experts (Jacobs, Jordan, Nowlan & Hinton 1991), fitted by EM
(Jordan & Jacobs 1994): softmax gating over Gaussian experts, for conditional densities with
several modes, such as the inverse of a non-injective function.

    p(x | y) = sum_k g_k(y) * Normal(x; w_k . phi(y), sigma_k^2),   g(y) = softmax(V phi(y))

phi(y) = (1, y, ..., y^degree). Legend: N samples, P = degree + 1 features, K experts.

EM: the E-step computes each expert's responsibility r_nk for each sample; the M-step refits each
expert by weighted least squares and weighted variance (exact maximisers) and improves the gate
on sum_nk r_nk log g_k(y_n), which has no closed form, by a few Newton (IRLS) steps as Jordan &
Jacobs do, each step halved until that objective does not go down: generalised EM, whose
guarantee is that the observed-data log-likelihood never decreases.
With num_experts=1 the model is a single Gaussian regressor, the natural baseline.

The arrays are tiny (N x K): on a machine shared with other jobs, `torch.set_num_threads(1)`
around `fit` avoids threads waiting on each other (50x slower in our tests when a core was busy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class GaussianMoEConfig:
    num_experts: int = field(default=4, metadata={"help": "Gaussian experts K; 1 is a single Gaussian regressor."})
    degree: int = field(default=2, metadata={"help": "Features phi(y) = 1, y, ..., y^degree for experts and gate."})
    max_iters: int = field(default=200, metadata={"help": "EM iterations at most."})
    tol: float = field(default=1e-6, metadata={"help": "Stop when the mean log-likelihood gains less than this."})
    min_variance: float = field(default=1e-6, metadata={"help": "Floor on each expert's variance (no collapse)."})
    gate_steps: int = field(default=3, metadata={"help": "Newton (IRLS) steps on the gate per M-step."})
    seed: int = field(default=0, metadata={"help": "Seed of the random initial responsibilities."})

    def __post_init__(self):
        if self.num_experts < 1:
            raise ValueError(f"num_experts ({self.num_experts}) must be >= 1")
        if self.degree < 0:
            raise ValueError(f"degree ({self.degree}) must be >= 0")
        if self.min_variance <= 0:
            raise ValueError(f"min_variance ({self.min_variance}) must be > 0")


def two_branch_data(num_samples: int, noise: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse problem of y = x^2 + noise with x uniform on [-1, 1]: predicting x from y has
    two modes, +sqrt(y) and -sqrt(y), once y is clear of the noise. Returns (y, x), float64 (N,)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(num_samples, generator=g, dtype=torch.float64) * 2 - 1
    y = x**2 + noise * torch.randn(num_samples, generator=g, dtype=torch.float64)
    return y, x


class GaussianMoE:
    """Softmax-gated Gaussian experts fitted by EM. Fields after `fit`: gate (P, K),
    weights (P, K), variances (K,), history (mean log-likelihood after each iteration)."""

    def __init__(self, config: GaussianMoEConfig | None = None):
        self.config = config or GaussianMoEConfig()
        self.gate = self.weights = self.variances = None
        self.history: list[float] = []

    def features(self, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y.double() ** p for p in range(self.config.degree + 1)], dim=-1)  # (N, P)

    def log_joint(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log g_k(y_n) + log Normal(x_n; mu_nk, sigma_k^2): (N,), (N,) -> (N, K)."""
        return self._log_joint(self.features(y), x.double())

    def log_prob(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_n | y_n): (N,)."""
        return torch.logsumexp(self.log_joint(y, x), dim=-1)

    def nll(self, y: torch.Tensor, x: torch.Tensor) -> float:
        """Mean negative log-likelihood per sample (nats)."""
        return -self.log_prob(y, x).mean().item()

    def fit(self, y: torch.Tensor, x: torch.Tensor) -> GaussianMoE:
        phi, x = self.features(y), x.double()
        k = self.config.num_experts
        # Start from random soft responsibilities (uniform on the simplex), then M-step: identical
        # experts would stay identical forever.
        g = torch.Generator().manual_seed(self.config.seed)
        resp = -torch.log(torch.rand(len(x), k, generator=g, dtype=torch.float64))
        resp = resp / resp.sum(-1, keepdim=True)  # (N, K)
        self.gate = torch.zeros(phi.shape[1], k, dtype=torch.float64)
        self.history = []
        for _ in range(self.config.max_iters):
            self._m_step(phi, x, resp)
            log_joint = self._log_joint(phi, x)
            self.history.append(torch.logsumexp(log_joint, -1).mean().item())
            resp = torch.softmax(log_joint, dim=-1)  # E-step
            if len(self.history) > 1 and self.history[-1] - self.history[-2] < self.config.tol:
                break
        return self

    def _log_joint(self, phi: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mean = phi @ self.weights  # (N, K)
        log_normal = -0.5 * (math.log(2 * math.pi) + self.variances.log() + (x[:, None] - mean) ** 2 / self.variances)
        return torch.log_softmax(phi @ self.gate, dim=-1) + log_normal

    def _m_step(self, phi: torch.Tensor, x: torch.Tensor, resp: torch.Tensor) -> None:
        self.weights, self.variances = _fit_experts(phi, x, resp, self.config.min_variance)
        self.gate = _improve_gate(phi, resp, self.gate, self.config.gate_steps)


def _fit_experts(phi, x, resp, min_variance):
    """Weighted least squares and weighted variance per expert: the exact M-step."""
    weights, variances = [], []
    for r in resp.t():  # (N,) responsibilities of one expert
        sqrt_r = r.clamp(min=0).sqrt()[:, None]
        w = torch.linalg.lstsq(sqrt_r * phi, sqrt_r[:, 0] * x, driver="gelsd").solution  # (P,)
        var = (r * (x - phi @ w) ** 2).sum() / r.sum().clamp(min=1e-300)
        weights.append(w)
        variances.append(var.clamp(min=min_variance))
    return torch.stack(weights, dim=1), torch.stack(variances)  # (P, K), (K,)


def _gate_objective(phi, resp, gate):
    return (resp * torch.log_softmax(phi @ gate, dim=-1)).sum()


def _improve_gate(phi, resp, gate, steps):
    """Newton steps (IRLS) on sum_nk r_nk log g_k(y_n), each halved until the objective does not
    go down, so the M-step never makes the gate worse."""
    num_features, k = gate.shape
    for _ in range(steps):
        probs = torch.softmax(phi @ gate, dim=-1)  # (N, K)
        grad = phi.t() @ (resp - probs)  # (P, K)
        weights = torch.diag_embed(probs) - probs[:, :, None] * probs[:, None, :]  # (N, K, K)
        hessian = torch.einsum("nkl,np,nq->kplq", weights, phi, phi).reshape(k * num_features, k * num_features)
        # The softmax ignores a shift shared by all experts, so the Hessian is singular: pinv
        # gives the shortest Newton step.
        step = (torch.linalg.pinv(hessian) @ grad.t().reshape(-1)).reshape(k, num_features).t()
        before, scale = _gate_objective(phi, resp, gate), 1.0
        while scale > 1e-4 and _gate_objective(phi, resp, gate + scale * step) < before:
            scale /= 2
        if scale <= 1e-4:
            break
        gate = gate + scale * step
    return gate
