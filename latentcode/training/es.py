"""Evolution strategies on the code expert's weights: perturb, regenerate, keep what scores.

    latentcode train es --suite liststats --population 30 --sigma 1e-3 --max-steps 50
    torchrun --nproc-per-node 4 -m latentcode.training.es --config es.yaml   # members split over ranks

The algorithm (seeded antithetic noise, in-place perturbation, centered ranks, the
gradient estimate handed to a torch optimizer) is ``es_algorithm.py``; this module is one
step of it on the code expert: a member's fitness is the mean reward of its greedy programs
on the step's training tasks. The run (folder, resume, rewards, held-out evaluation,
processes) is the harness's (``training/harness.py``).

The run folder holds ``metrics.jsonl`` rows {step, completions, reward_mean, reward_max,
fitness_std, wall_s (of the iteration)}, ``samples.jsonl`` (rank 0's own members' new
completions), ``evals.jsonl``, ``eval_samples.jsonl``, ``tensorboard/`` and
``checkpoints/step-N/`` (trainable weights, optimizer state, step), which ``resume``
continues from.
"""
from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from latentcode.config import setting
from latentcode.expert.sampling import ExpertConfig
from latentcode.models import bf16_is_fast
from latentcode.training.es_algorithm import es_step, make_optimizer, mix
from latentcode.training import harness
from latentcode.training.harness import LoopTrainer, TrainingSetup


@dataclass
class ESConfig:
    """The ES loop's own settings; the run, model, tasks, prompt, sampling, rewards and sandbox
    are the other sections of ``ESSetup``."""
    bf16: bool | None = setting(None, "generate under bf16 autocast (default: on GPUs and on CPUs that multiply "
                                 "bf16 natively); the weights, their noise and the update stay float32, LoRA's frozen base is stored in bf16")
    population: int = setting(30, "members per iteration (antithetic pairs x 2), even")
    sigma: float = setting(1e-3, "perturbation scale")
    lr: float = setting(5e-4, "optimizer learning rate")
    optimizer: str = setting("adam", "sgd or adam")
    tasks_per_step: int = setting(16, "training tasks per fitness evaluation (the same for every member)")
    max_steps: int = setting(50, "ES iterations")
    eval_every: int = setting(10, "held-out evaluation every N iterations (0: start and end only)")
    save_every: int = setting(10, "checkpoint every N iterations (0: at the end only)")
    dump_weights: bool = setting(False, "every rank writes its final trainable weights to "
                                   "final-rank<r>.safetensors in the run folder (to check they agree)")

    def __post_init__(self):
        if self.population < 2 or self.population % 2:
            raise ValueError(f"population ({self.population}) must be even and >= 2: members come "
                             f"in antithetic pairs; set it to {max(2, self.population + 1)}")
        positive = {"sigma": self.sigma, "lr": self.lr, "tasks_per_step": self.tasks_per_step}
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} ({value}) must be > 0")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', not {self.optimizer!r}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps ({self.max_steps}) must be at least 1")
        for name in ("eval_every", "save_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} ({getattr(self, name)}) must be >= 0")


@dataclass
class ESSetup(TrainingSetup):
    """Everything an ES run reads, one section per part (``latentcode.config``). Every weight is
    perturbed by default (``--lora true``: the LoRA adapters only); programs are greedy."""
    KIND: ClassVar[str] = "es"  # what config.json records; resume refuses other kinds
    es: ESConfig = field(default_factory=ESConfig)
    expert: ExpertConfig = field(default_factory=lambda: ExpertConfig(max_new_tokens=256))

    def __post_init__(self):
        super().__post_init__()
        if self.es.bf16 is None:
            self.es.bf16 = bf16_is_fast(self.run.device)
        if self.es.tasks_per_step > self.split.train_size:
            raise ValueError(f"tasks_per_step ({self.es.tasks_per_step}) exceeds train_size "
                             f"({self.split.train_size}); lower tasks_per_step or raise train_size")
        if self.expert.num_samples != 1 or self.expert.temperature != 0:
            raise ValueError("ES scores each member by its greedy programs: leave num_samples at 1 "
                             "and temperature at 0")


class ES(LoopTrainer):
    """One ES iteration per step: the population's fitness on the step's tasks, then the
    optimizer's step up the ES gradient (``es_algorithm.es_step``)."""
    scalars = {"reward_mean": "train/reward_mean", "fitness_std": "train/fitness_std"}
    may_change = {"max_steps", "eval_every", "save_every", "dump_weights"}

    def total_steps(self) -> int:
        return self.config.max_steps

    def tasks_per_step(self) -> tuple[str, int]:
        return "tasks_per_step", self.config.tasks_per_step

    def build(self):
        self.params = [p for _, p in self.named]
        # the bar moves per member (an iteration is a whole population: minutes on a CPU); this
        # rank evaluates pairs rank, rank + world_size, ... (es_algorithm)
        rank, world = self.state.process_index, self.state.num_processes
        self.members = 2 * len(range(rank, self.config.population // 2, world))
        self.bar = None  # made at the first step: a resumed run's starts at its checkpoint
        return make_optimizer(self.params, self.config.optimizer, self.config.lr)

    def step(self, t: int) -> dict:
        config = self.config
        if self.bar is None:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=config.max_steps * self.members, initial=(t - 1) * self.members,
                            unit="member", desc="es", disable=not self.progress())
        seeds = [mix(self.setup.run.seed, t, j) for j in range(config.population // 2)]
        tasks = _task_batch(self.train_tasks, self.setup.run.seed, config.tasks_per_step, t)
        fitness_of = _fitness(self.expert, self.rewards, tasks, t, self.autocast)

        def counted() -> float:
            value = fitness_of()
            self.bar.update(1)
            return value
        fitness = es_step(self.params, counted, self.optimizer, seeds, config.sigma,
                          rank=self.state.process_index, world_size=self.state.num_processes)
        self.expert.forget_prefix()  # an optimizer's fused/foreach kernels may not bump version counters
        self.completions += config.population * config.tasks_per_step  # every rank's members
        self.bar.set_postfix_str(f"iteration {t}/{config.max_steps}, reward {fitness.mean().item():.3f}")
        if t == config.max_steps:
            self.bar.close()
        return {"reward_mean": fitness.mean().item(), "reward_max": fitness.max().item(),
                "fitness_std": fitness.std().item()}


def _task_batch(train: list, seed: int, n: int, t: int) -> list:
    """Iteration t's tasks, the same for every member; drawn from (seed, t), so a resumed
    run and every rank draw the same ones."""
    rng = random.Random(mix(seed, t, -1))
    return [train[i] for i in rng.sample(range(len(train)), n)]


def _fitness(expert, rewards, tasks: list, step: int, autocast) -> Callable[[], float]:
    """Mean reward of the expert's greedy programs for ``tasks`` at the current weights."""
    prompts = [expert.prompt(task) for task in tasks]

    def fitness_fn() -> float:
        with autocast():
            gens = [g[0] for g in expert.generate(prompts)]
        scored = rewards.evaluate(tasks, [g.text for g in gens], [g.num_tokens for g in gens], step)
        return statistics.fmean(rewards.total(scored))
    return fitness_fn


def train_es(setup: ESSetup) -> Path:
    """Train with evolution strategies; returns the run folder (on every rank)."""
    return harness.train(ES(setup))


def parse_setup(argv: list[str] | None = None) -> ESSetup:
    """``--config run.yaml`` and flags (``--mdl ast --mdl-weight 0.01``); flags win."""
    return harness.parse_setup(ESSetup, argv)


def main(argv: list[str] | None = None) -> int:
    return harness.run_command(ESSetup, train_es, argv)


if __name__ == "__main__":
    raise SystemExit(main())
