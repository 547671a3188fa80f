"""Evolution strategies on the code expert's weights: perturb, regenerate, keep what scores.

    python -m latentcode.training.es --suite liststats --population 30 --sigma 1e-3 --max-steps 50
    torchrun --nproc-per-node 4 -m latentcode.training.es --config es.yaml   # members split over ranks

The algorithm (seeded antithetic noise, in-place perturbation, centered ranks, the
gradient estimate handed to a torch optimizer) is ``es_algorithm.py``; this module is the
run: configuration, tasks, fitness from the rewards, torch.distributed, checkpoints and
resume, logs.

Rank 0 writes the run folder (see ``latentcode.training.heldout``): ``metrics.jsonl`` rows
{step, completions, reward_mean, reward_max, fitness_std, wall_s (of the iteration)},
``samples.jsonl`` (its own members' new completions), ``evals.jsonl``, ``tensorboard/``
and ``checkpoints/step-N/`` (trainable weights, optimizer state, step), which ``resume``
continues from.
"""
from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from latentcode.config import parse, setting, to_dict
from latentcode.expert.code_expert import CodeExpert, ExpertConfig
from latentcode.expert.prompts import PromptConfig
from latentcode.models import ModelArgs, bf16_autocast, bf16_is_fast, resolve_device, trained_weights_dtype
from latentcode.runs import Run
from latentcode.training.quiet import trl_deprecations
from latentcode.training.summary import training_summary
from latentcode.checkpoints import check_resumable, dump_rank_weights, last_checkpoint, load_trainable, save_trainable
from latentcode.training.es_algorithm import es_step, make_optimizer, mix
from latentcode.training.heldout import RunLog, evaluate_heldout
from latentcode.training.rewards import CodeRewards, RewardConfig
from sandbox.config import SandboxConfig
from tasks.config import SplitConfig, TaskConfig, load_split

@dataclass
class ESConfig:
    """The ES loop's own settings; the model, tasks, prompt, rewards and sandbox are the other
    sections of ``ESSetup``."""
    device: str | None = setting(None, "cpu, cuda, cuda:1 (default: cuda if available)")
    bf16: bool | None = setting(None, "generate under bf16 autocast (default: on GPUs and on CPUs that multiply "
                                 "bf16 natively); the weights, their noise and the update stay float32, LoRA's frozen base is stored in bf16")
    max_new_tokens: int = setting(256, "tokens per completion")
    population: int = setting(30, "members per iteration (antithetic pairs x 2), even")
    sigma: float = setting(1e-3, "perturbation scale")
    lr: float = setting(5e-4, "optimizer learning rate")
    optimizer: str = setting("adam", "sgd or adam")
    batch_size: int = setting(16, "training tasks per fitness evaluation (the same for every member)")
    max_steps: int = setting(50, "ES iterations")
    eval_every: int = setting(10, "held-out evaluation every N iterations (0: start and end only)")
    save_every: int = setting(10, "checkpoint every N iterations (0: at the end only)")
    runs_dir: str = setting("runs", "where run folders are created")
    run_name: str | None = setting(None, "run folder name (default es-<suite>)")
    resume: str | None = setting(None, "run folder to continue from its last checkpoint")
    seed: int = setting(0, "seed of the perturbations and task batches")
    quiet: bool = setting(False, "no progress bar")
    dump_weights: bool = setting(False, "every rank writes its final trainable weights to "
                                   "final-rank<r>.safetensors in the run folder (to check they agree)")

    def __post_init__(self):
        if self.bf16 is None:
            self.bf16 = bf16_is_fast(self.device)
        if self.population < 2 or self.population % 2:
            raise ValueError(f"population ({self.population}) must be even and >= 2: members come "
                             f"in antithetic pairs; set it to {max(2, self.population + 1)}")
        positive = {"sigma": self.sigma, "lr": self.lr, "batch_size": self.batch_size,
                    "max_new_tokens": self.max_new_tokens}
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
class ESSetup:
    """Everything an ES run reads, one section per part (``latentcode.config``). Every weight is
    perturbed by default (``--lora true``: the LoRA adapters only)."""
    KIND: ClassVar[str] = "es"  # what config.json records; resume refuses other kinds
    es: ESConfig = field(default_factory=ESConfig)
    model: ModelArgs = field(default_factory=ModelArgs)
    task: TaskConfig = field(default_factory=TaskConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    def __post_init__(self):
        if self.es.batch_size > self.split.train_size:
            raise ValueError(f"batch_size ({self.es.batch_size}) exceeds train_size "
                             f"({self.split.train_size}); lower batch_size or raise train_size")


# may differ between a run and its resumption: nothing else may, or the weights would
_RESUMABLE = {"max_steps", "eval_every", "save_every", "runs_dir", "run_name", "resume",
              "quiet", "device", "dump_weights"}


@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def _init_distributed(config: ESConfig) -> _Dist:
    import torch.distributed as dist  # here, not at the top: start-up cost
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return _Dist()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and (config.device or "cuda").startswith("cuda")
    if cuda and config.device in (None, "cuda"):
        config.device = f"cuda:{local}"
    if cuda:
        torch.cuda.set_device(torch.device(config.device))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), local)


def _load(setup: ESSetup):
    """(model, tokenizer, trainable parameters by name)."""
    model, tok = setup.model.load(device=setup.es.device,
                                  default_dtype=trained_weights_dtype(setup.es.bf16, setup.model.use_peft))
    peft_config = setup.model.peft_config()
    if peft_config is not None:
        from peft import get_peft_model  # here, not at the top: start-up cost
        model = get_peft_model(model, peft_config)
    model.eval()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return model, tok, named


class _Recorder:
    """What rank 0 records in the run folder: held-out evaluations, metrics, samples,
    TensorBoard scalars, checkpoints. On other ranks (``run=None``) every method does nothing,
    so members' samples are logged by rank 0 for its own members only."""

    def __init__(self, run, setup: ESSetup, start: int, tok):
        self.run, self.config, self.prompt = run, setup.es, setup.prompt
        config = setup.es
        self.log = RunLog(run.path) if run else None
        self.tb = None
        if run:
            from torch.utils.tensorboard import SummaryWriter  # here, not at the top: start-up cost
            self.tb = SummaryWriter(str(run.path / "tensorboard"),
                                    purge_step=start + 1 if start else None)
        if run and config.resume:
            for name in ("metrics.jsonl", "samples.jsonl", "evals.jsonl"):
                self.log.truncate_after(name, start if start else -1)  # -1: redo the start eval too
        # its own memo, and no callback: held-out completions are not training samples
        self.eval_rewards = CodeRewards(setup.reward, sandbox_config=setup.sandbox, tokenizer=tok,
                                        max_completion_tokens=config.max_new_tokens)

    def samples_callback(self):
        return self.log.samples_callback() if self.log else None

    def metrics(self, row: dict) -> None:
        if self.log:
            self.log.append("metrics.jsonl", [row])
            self.tb.add_scalar("train/reward_mean", row["reward_mean"], row["step"])
            self.tb.add_scalar("train/fitness_std", row["fitness_std"], row["step"])

    def heldout(self, step: int, model, tok, tasks) -> None:
        if not self.log:
            return
        cfg = self.config
        result = evaluate_heldout(model, tok, tasks, prompt=self.prompt, max_new_tokens=cfg.max_new_tokens,
                                  rewards=self.eval_rewards, on_rows=self.log.rows_writer("eval_samples.jsonl", step),
                                  bf16=cfg.bf16, progress=False if cfg.quiet else None)
        self.log.append("evals.jsonl", [{"step": step, **result}])
        self.tb.add_scalar("heldout/accuracy", result["accuracy"], step)
        self.tb.flush()

    def checkpoint(self, step: int, named, optimizer, completions: int) -> None:
        if self.run:
            save_trainable(self.run.path / "checkpoints" / f"step-{step}", named,
                           {"step": step, "completions": completions}, optimizer)

    def close(self) -> None:
        if self.tb:
            self.tb.close()


def _open_run(setup: ESSetup, rank: int):
    """(run or None on ranks > 0, checkpoint to resume from or None)."""
    config = setup.es
    if config.resume:
        run = Run.open(config.resume)
        check_resumable(run.config, setup, "es", config.resume, _RESUMABLE, untagged=True)
        return (run if rank == 0 else None), last_checkpoint(run.path)
    if rank != 0:
        return None, None
    return Run.create(config.runs_dir, config.run_name or f"es-{setup.task.suite}",
                      {"kind": "es", **to_dict(setup)}), None


def _load_tasks(setup: ESSetup):
    train, heldout = load_split(setup.task, setup.split)
    if setup.es.batch_size > len(train):
        raise ValueError(f"batch_size ({setup.es.batch_size}) exceeds the {len(train)} training "
                         "tasks; lower it")
    return train, heldout


def _task_batch(train: list, config: ESConfig, t: int) -> list:
    """Iteration t's tasks, the same for every member; drawn from (seed, t), so a resumed
    run and every rank draw the same ones."""
    rng = random.Random(mix(config.seed, t, -1))
    return [train[i] for i in rng.sample(range(len(train)), config.batch_size)]


def _fitness(expert, rewards, tasks: list, step: int, autocast) -> Callable[[], float]:
    """Mean reward of the expert's greedy programs for ``tasks`` at the current weights."""
    prompts = [expert.prompt(task) for task in tasks]

    def fitness_fn() -> float:
        with autocast():
            gens = [g[0] for g in expert.generate(prompts)]
        outcomes = rewards.evaluate(tasks, [g.text for g in gens], [g.num_tokens for g in gens],
                                    step)
        return statistics.fmean(rewards.total(outcomes))
    return fitness_fn


@trl_deprecations()
def train_es(setup: ESSetup) -> Path:
    """Train with evolution strategies; returns the run folder (on every rank)."""
    from tqdm.auto import tqdm  # here, not at the top: start-up cost

    config = setup.es
    if config.device is not None:
        resolve_device(config.device)  # a device this machine lacks: one line, before anything loads
    dist_info = _init_distributed(config)
    model, tok, named = _load(setup)
    params = [p for _, p in named]
    optimizer = make_optimizer(params, config.optimizer, config.lr)
    train, heldout = _load_tasks(setup)
    run, ckpt = _open_run(setup, dist_info.rank)
    state = load_trainable(ckpt, named, optimizer) if ckpt else {"step": 0, "completions": 0}
    start, completions = state["step"], state["completions"]
    rec = _Recorder(run, setup, start, tok)
    rewards = CodeRewards(setup.reward, sandbox_config=setup.sandbox, tokenizer=tok,
                          on_outcomes=rec.samples_callback(), max_completion_tokens=config.max_new_tokens)
    expert = CodeExpert(model, tok, ExpertConfig(batch_size=config.batch_size, max_new_tokens=config.max_new_tokens),
                        prompt=setup.prompt, sandbox_config=setup.sandbox)
    autocast = bf16_autocast(model, config.bf16)  # generation only: the weights and their updates stay float32
    if start == 0:
        rec.heldout(0, model, tok, heldout)
    # the bar moves per member (an iteration is a whole population: minutes on a CPU), with its
    # ETA; this rank evaluates pairs rank, rank + world_size, ... (es_algorithm)
    members = 2 * len(range(dist_info.rank, config.population // 2, dist_info.world_size))
    bar = tqdm(total=config.max_steps * members, initial=start * members, unit="member",
               disable=config.quiet or dist_info.rank != 0, desc="es")
    for t in range(start + 1, config.max_steps + 1):
        t0 = time.perf_counter()
        seeds = [mix(config.seed, t, j) for j in range(config.population // 2)]
        fitness_fn = _fitness(expert, rewards, _task_batch(train, config, t), t, autocast)

        def counted(fitness_fn=fitness_fn) -> float:
            value = fitness_fn()
            bar.update(1)
            return value
        fitness = es_step(params, counted, optimizer, seeds, config.sigma, rank=dist_info.rank,
                          world_size=dist_info.world_size)
        expert.forget_prefix()  # an optimizer's fused/foreach kernels may not bump version counters
        completions += config.population * config.batch_size  # every rank's members
        rec.metrics({"step": t, "completions": completions, "reward_mean": fitness.mean().item(),
                     "reward_max": fitness.max().item(), "fitness_std": fitness.std().item(),
                     "wall_s": time.perf_counter() - t0})
        bar.set_postfix_str(f"iteration {t}/{config.max_steps}, reward {fitness.mean().item():.3f}")
        last = t == config.max_steps
        if last or (config.eval_every and t % config.eval_every == 0):
            rec.heldout(t, model, tok, heldout)
        if last or (config.save_every and t % config.save_every == 0):
            rec.checkpoint(t, named, optimizer, completions)
    bar.close()
    rec.close()
    return _finish(config, run, named, dist_info)


def _finish(config: ESConfig, run, named, dist_info: _Dist) -> Path:
    """Tell every rank the run folder, dump weights if asked, leave the process group."""
    path = [str(run.path) if run else None]
    if dist_info.world_size > 1:
        import torch.distributed as dist  # here, not at the top: start-up cost
        dist.broadcast_object_list(path, src=0)
    path = Path(path[0])
    if config.dump_weights:
        dump_rank_weights(path, named, dist_info.rank)
    if dist_info.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return path


def parse_setup(argv: list[str] | None = None) -> ESSetup:
    """``--config run.yaml`` and flags (``--mdl ast --mdl-weight 0.01``); flags win."""
    return parse(ESSetup, argv, prog="latentcode train es")


def main(argv: list[str] | None = None) -> int:
    path = train_es(parse_setup(argv))
    if int(os.environ.get("RANK", "0")) == 0:
        print(training_summary(path, "es"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
