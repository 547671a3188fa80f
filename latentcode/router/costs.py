"""One scalar cost per answer, in generated-token equivalents:

    cost = gen_tokens + prompt_weight * prompt_tokens + sandbox_weight * exec_s

A generated token is the unit (one decoder step of one row). A prompt token costs less: prefill
runs the whole prompt in one pass (on the reference CPU only 1.3-1.7x less: with 64 rows,
decoding is as matmul-bound as prefill). A sandbox second costs what the decoder would have generated
in that second. The default weights are the reference CPU's (SmolLM2-135M, bf16, batch 64),
measured by ``python bench/router_speed.py``; a router trained with other weights records them.
The utility a router maximises is ``correct - c * cost / 1000``: ``c`` is accuracy given up per
thousand token equivalents.
"""
from __future__ import annotations

import dataclasses
import math

from latentcode.config import setting


@dataclasses.dataclass
class CostConfig:
    prompt_weight: float = setting(0.7, "a prompt token's cost in generated tokens (reference CPU: 0.58 zero-shot, 0.77 3-shot; bench/router_speed.py)")
    sandbox_weight: float = setting(450.0, "a sandbox second's cost in generated tokens: what the decoder generates in a second (reference CPU: 410-512)")

    def __post_init__(self):
        for name in ("prompt_weight", "sandbox_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} ({value!r}) must be a finite number >= 0")

    def cost(self, gen_tokens: float, prompt_tokens: float, exec_s: float) -> float:
        return gen_tokens + self.prompt_weight * prompt_tokens + self.sandbox_weight * exec_s


def utility(correct: bool, cost: float, c: float) -> float:
    """What a router maximises per question: 1 for a right answer, less ``c`` per 1000 token equivalents."""
    return float(correct) - c * cost / 1000.0
