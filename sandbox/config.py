"""The per-program limits a caller sets: one dataclass shared by every command that runs code.

    SandboxConfig(timeout_s=2.0, memory_mb=256)
    pool = make_pool(SandboxConfig(backend="ray", ray_actors=4))   # or the local servers

Its fields are flags (``--timeout-s``, ``--memory-mb``) of ``latentcode bench`` and of every
trainer; it is checked here, when built, by the same rules ``run_many`` applies.
"""
from __future__ import annotations

import dataclasses
from dataclasses import field

from sandbox.limits import check_limits


@dataclasses.dataclass
class SandboxConfig:
    timeout_s: float = field(default=2.0, metadata={"help": "sandbox wall-clock limit per program, seconds"})
    memory_mb: int = field(default=256, metadata={"help": "sandbox memory limit per program, MB (>= 32)"})
    backend: str = field(default="local", metadata={"help": "local: sandbox servers on this machine; ray: Ray actors across a cluster, each with its node's servers (pip install -e \".[ray]\")"})
    ray_address: str | None = field(default=None, metadata={"help": "backend ray: the cluster to join (auto: the one this node belongs to; unset: a local Ray instance)"})
    ray_actors: int = field(default=2, metadata={"help": "backend ray: sandbox actors (one per node, or more)"})
    ray_cpus_per_actor: float = field(default=1, metadata={"help": "backend ray: CPUs each actor reserves; it runs that many sandbox servers"})

    def __post_init__(self):
        if self.backend not in ("local", "ray"):
            raise ValueError(f"sandbox backend {self.backend!r} is not local or ray")
        if self.ray_actors < 1 or self.ray_cpus_per_actor <= 0:
            raise ValueError(f"ray_actors ({self.ray_actors}) must be >= 1 and ray_cpus_per_actor "
                             f"({self.ray_cpus_per_actor}) > 0")
        if isinstance(self.timeout_s, int) and not isinstance(self.timeout_s, bool):
            self.timeout_s = float(self.timeout_s)
        try:
            check_limits(self.timeout_s, self.memory_mb, 1, "")
        except ValueError as e:
            raise ValueError(f"sandbox config: {e}") from None


def make_pool(config: SandboxConfig | None = None):
    """The pool a caller runs its programs on: a local ``sandbox.Pool`` of its own (servers
    started on first use), or a ``RayPool`` (Ray is imported only then)."""
    config = config or SandboxConfig()
    if config.backend == "ray":
        from sandbox.ray_backend import RayPool
        return RayPool(config.ray_actors, cpus_per_actor=config.ray_cpus_per_actor, address=config.ray_address)
    from sandbox.pool import Pool
    return Pool()
