"""How completions are sampled: the ``expert`` section of every command that generates."""
from __future__ import annotations

import dataclasses

from latentcode.config import setting


@dataclasses.dataclass
class ExpertConfig:
    """How completions are sampled. Its ``seed`` is the run's (``--seed``, the ``run`` section)
    in every command that has one."""
    num_samples: int = setting(1, "completions per question (maj@k, pass@k)", "--samples")
    max_new_tokens: int = setting(320, "token limit per completion")
    temperature: float | None = setting(None, "default: greedy for 1 sample, 0.7 for several")
    top_p: float = setting(0.95, "nucleus sampling mass when sampling")
    batch_size: int = setting(64, "rows decoded together (a finished row's place goes to the next waiting completion)")
    # the run's --seed (latentcode.config.fill_from_run), not a setting of this section
    seed: int = dataclasses.field(default=0, init=False)
    prefix_cache: bool = setting(True, "prefill the prompts' shared start once and reuse it")
    lookahead: int = setting(8, "greedy only: drafted tokens (copied from the prompt or reply) checked per step "
                             "once few rows are left; 0: off")

    def __post_init__(self):
        if self.num_samples < 1:
            raise ValueError(f"num_samples ({self.num_samples}) must be at least 1")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens ({self.max_new_tokens}) must be at least 1")
        if self.batch_size < 1:
            raise ValueError(f"batch_size ({self.batch_size}) must be at least 1")
        if self.lookahead < 0:
            raise ValueError(f"lookahead ({self.lookahead}) must be >= 0 (0: off)")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p ({self.top_p}) must be in (0, 1]")
        if self.temperature is None:
            self.temperature = 0.0 if self.num_samples == 1 else 0.7
        if self.temperature < 0:
            raise ValueError(f"temperature ({self.temperature}) must be >= 0 (0: greedy)")
        if self.num_samples > 1 and self.temperature == 0:
            raise ValueError("temperature 0 makes every sample identical; set temperature "
                             "(e.g. 0.7) or num_samples 1")
        if self.batch_size < self.num_samples:
            self.batch_size = self.num_samples
