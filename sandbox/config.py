"""The per-program limits a caller sets: one dataclass shared by every command that runs code.

    SandboxConfig(timeout_s=2.0, memory_mb=256)

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

    def __post_init__(self):
        if isinstance(self.timeout_s, int) and not isinstance(self.timeout_s, bool):
            self.timeout_s = float(self.timeout_s)
        try:
            check_limits(self.timeout_s, self.memory_mb, 1, "")
        except ValueError as e:
            raise ValueError(f"sandbox config: {e}") from None
