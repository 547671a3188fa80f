"""A fourth trainer in one file: (1+1) hill climbing on the code expert's weights.

Only the algorithm is written here. The harness (latentcode/training/harness.py) gives it the
rest: its sections (run, model, task, split, prompt, expert, reward, sandbox), the run folder
and resume, the rewards, held-out evaluation, checkpoints, processes and the summary.
tests/test_toy_trainer.py runs it.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from latentcode.config import setting
from latentcode.training import harness


@dataclass
class ClimbConfig:
    """The hill climber's own settings."""
    max_steps: int = setting(3, "steps: perturb every weight, undo it if the reward dropped")
    sigma: float = setting(0.01, "perturbation scale")
    tasks_per_step: int = setting(2, "training tasks scored per step")
    eval_every: int = setting(0, "held-out evaluation every N steps (0: start and end only)")


@dataclass
class ClimbSetup(harness.TrainingSetup):
    KIND: ClassVar[str] = "climb"  # config.json's kind; the section below is named after it
    climb: ClimbConfig = field(default_factory=ClimbConfig)


class Climb(harness.LoopTrainer):
    """Each step: the reward of the greedy programs on the step's tasks before and after one
    seeded perturbation of every trainable weight; a perturbation that lowers it is undone."""
    may_change = {"max_steps", "eval_every"}  # what a resumed run may be given anew

    def total_steps(self) -> int:
        return self.config.max_steps

    def tasks_per_step(self) -> tuple[str, int]:
        return "tasks_per_step", self.config.tasks_per_step

    def reward(self, tasks: list, t: int) -> float:
        self.expert.forget_prefix()  # the weights moved: the prompts' cached prefix is stale
        gens = [g[0] for g in self.expert.generate([self.expert.prompt(task) for task in tasks])]
        self.completions += len(gens)
        scored = self.rewards.evaluate(tasks, [g.text for g in gens], [g.num_tokens for g in gens], t)
        return statistics.fmean(self.rewards.total(scored))

    @torch.no_grad()
    def step(self, t: int) -> dict:
        rng = random.Random(f"{self.setup.run.seed}-{t}")  # drawn from (seed, t): the same on resume
        tasks = rng.sample(self.train_tasks, self.config.tasks_per_step)
        before = self.reward(tasks, t)
        gen = torch.Generator().manual_seed(rng.randrange(2**31))
        noise = [self.config.sigma * torch.randn(p.shape, generator=gen) for _, p in self.named]
        for (_, p), e in zip(self.named, noise):
            p.add_(e)
        after = self.reward(tasks, t)
        if after < before:
            for (_, p), e in zip(self.named, noise):
                p.sub_(e)
        return {"reward_mean": max(before, after), "kept": after >= before}


def train_climb(setup: ClimbSetup):
    return harness.train(Climb(setup))


def main(argv: list[str] | None = None) -> int:
    return harness.run_command(ClimbSetup, train_climb, argv)
