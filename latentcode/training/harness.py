"""The trainer harness: what every trainer shares, so a trainer's file holds only its algorithm.

    @dataclass
    class ToySetup(TrainingSetup):             # the shared sections, plus the trainer's own
        KIND: ClassVar[str] = "toy"
        toy: ToyConfig = field(default_factory=ToyConfig)

    class Toy(LoopTrainer):
        def total_steps(self): return self.config.max_steps
        def step(self, t): ...; return {"reward_mean": r}   # one step: its metrics row

    train(Toy(compose(ToySetup, model="tiny", max_steps=2)))

tests/toy_trainer.py is such a trainer, whole. What the harness owns, in the order a run meets it:

1. **the command**: ``run_command`` parses the setup (``latentcode.config``), trains, and prints
   the summary (``training.summary``) on the main process;
2. **the processes**: under ``torchrun`` / ``accelerate launch`` the main process makes or checks
   the run folder and every rank gets its path (``training.distributed``); each process samples
   its own share, the main one writes the logs and checkpoints;
3. **the run folder** (``open_run``): new, ``<runs_dir>/<stamp>-<kind>-<suite>`` with config.json,
   or resumed: another kind of run, or a setting changed that the trainer's ``may_change`` does
   not list, is refused; the logs lose their rows after the checkpoint;
4. **the model** (``load_model``): seeded, in the dtype its training wants, LoRA adapters on
   when asked; a checkpoint's weights (and optimizer) come back into it;
5. **the rewards** (``Rewards``): one for training, whose completions become samples.jsonl rows,
   and one for held-out evaluation (its own memo: held-out programs never enter samples.jsonl),
   sharing one sandbox pool;
6. **held-out evaluation** (``HeldOut``): greedy, at step 0, every ``eval_every`` steps and at
   the end, into evals.jsonl and eval_samples.jsonl;
7. **the loop** (``LoopTrainer``): a metrics.jsonl row per step, checkpoints, TensorBoard scalars.

GRPO runs TRL's loop and checkpoints and borrows 1-6; ES and EM are ``LoopTrainer``s.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from latentcode.checkpoints import (check_resumable, dump_rank_weights, last_checkpoint, load_trainable,
                                    save_trainable)
from latentcode.commands import COMMANDS
from latentcode.config import RunConfig, fill_from_run, parse, to_dict
from latentcode.expert.code_expert import CodeExpert
from latentcode.expert.prompts import PromptConfig
from latentcode.expert.sampling import ExpertConfig
from latentcode.models import ModelArgs, bf16_autocast, resolve_device, trained_weights_dtype
from latentcode.runs import Run, command_line
from latentcode.training.distributed import open_shared_run, process_state
from latentcode.training.heldout import RunLog, evaluate_heldout
from latentcode.training.quiet import trl_deprecations
from latentcode.training.rewards import CodeRewards, RewardConfig
from latentcode.training.summary import training_summary
from sandbox.config import SandboxConfig, make_pool
from tasks.config import SplitConfig, TaskConfig, load_split

# the run folder's logs, cut back to the checkpoint's step when a run resumes
LOGS = ("metrics.jsonl", "samples.jsonl", "evals.jsonl", "eval_samples.jsonl")
# run-section fields a resumed run may change: where it prints, not what it computes
RESUMABLE = {"runs_dir", "run_name", "resume", "quiet", "device"}


@dataclass
class TrainingSetup:
    """The sections every trainer reads (``latentcode.config``); a trainer's setup subclasses it
    and adds its own section, named by its ``KIND`` (listed first in its help)."""
    KIND: ClassVar[str] = ""
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelArgs = field(default_factory=ModelArgs)
    task: TaskConfig = field(default_factory=TaskConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    def __post_init__(self):
        fill_from_run(self)  # one --seed for the sampler (and TRL) too


def run_command(setup_cls, train, argv: list[str] | None = None) -> int:
    """A trainer's ``main``: parse its setup, ``train(setup)`` -> run folder, print the summary
    (on the main process only, under ``torchrun`` or ``accelerate launch``)."""
    path = train(parse_setup(setup_cls, argv))
    if int(os.environ.get("RANK", "0")) == 0:
        print(training_summary(path, setup_cls.KIND))
    return 0


def parse_setup(setup_cls, argv: list[str] | None = None):
    """``--config run.yaml`` and flags (``--mdl ast --mdl-weight 0.01``); flags win."""
    command = COMMANDS.get(setup_cls.KIND)
    return parse(setup_cls, argv, prog=command.command if command else f"latentcode train {setup_cls.KIND}",
                 description=command.summary if command else None)


def open_run(setup, state, may_change: set[str], find_checkpoint=last_checkpoint, prepare=None):
    """(run, checkpoint to resume from or None) on every process; the main process makes the
    folder, or checks a resumed one against ``setup`` and cuts its logs back to the checkpoint.
    ``prepare(run)``, on every process, before config.json is written or checked (GRPO puts
    TRL's output_dir in the folder)."""
    run, checkpoint = open_shared_run(state, lambda: _open_here(setup, may_change, find_checkpoint, prepare))
    if prepare is not None:
        prepare(run)
    return run, checkpoint


def _open_here(setup, may_change: set[str], find_checkpoint, prepare):
    kind, run_config = setup.KIND, setup.run
    if run_config.resume is None:
        run = Run.create(run_config.runs_dir, run_config.run_name or f"{kind}-{setup.task.suite}", {"kind": kind})
        if prepare is not None:
            prepare(run)
        run.write_json("config.json", {"kind": kind, **to_dict(setup), "argv": command_line()})
        return run, None
    run = Run.open(run_config.resume)
    if prepare is not None:
        prepare(run)
    # a folder from before config.json recorded its kind is taken for ES's (the only one then)
    check_resumable(run.config, setup, kind, run_config.resume, RESUMABLE | may_change, untagged=kind == "es")
    checkpoint = find_checkpoint(run.path)
    step = int(Path(checkpoint).name.rsplit("-", 1)[-1]) if checkpoint else -1  # -1: redo step 0's evaluation
    for name in LOGS:
        RunLog(run.path).truncate_after(name, step)
    return run, checkpoint


def load_model(setup, device: str | None, bf16: bool):
    """(model, tokenizer): seeded first (LoRA's initial weights come from the global
    generator), trained weights in float32 unless the model's own dtype is asked for, LoRA
    adapters added when ``--lora``."""
    from transformers import set_seed
    set_seed(setup.run.seed)
    model, tok = setup.model.load(device=device, default_dtype=trained_weights_dtype(bf16, setup.model.use_peft))
    if setup.model.use_peft:
        from peft import get_peft_model
        model = get_peft_model(model, setup.model.peft_config())
    return model.eval(), tok


class Rewards:
    """A run's two CodeRewards over one sandbox pool: ``training`` (its completions logged by
    ``on_scored``) and ``heldout`` (its own memo and no log: held-out programs are not training
    samples)."""

    def __init__(self, setup, tokenizer, max_completion_tokens: int, on_scored=None, length_model=None):
        pool = make_pool(setup.sandbox)
        common = dict(sandbox_config=setup.sandbox, tokenizer=tokenizer, length_model=length_model,
                      max_completion_tokens=max_completion_tokens, pool=pool)
        self.training = CodeRewards(setup.reward, on_scored=on_scored, **common)
        self.heldout = CodeRewards(setup.reward, **common)


class HeldOut:
    """Greedy held-out evaluation into the run folder: a row in evals.jsonl, every answer in
    eval_samples.jsonl. ``evaluate`` returns the result (accuracy, lengths, hard-coded rate)."""

    def __init__(self, tasks, log: RunLog, rewards: CodeRewards, prompt: PromptConfig, max_new_tokens: int,
                 bf16: bool, progress: bool | None = None, say=None, unit: str = "step"):
        self.tasks, self.log, self.rewards, self.prompt = tasks, log, rewards, prompt
        self.max_new_tokens, self.bf16, self.progress, self.say = max_new_tokens, bf16, progress, say
        self.unit = unit

    def evaluate(self, model, tokenizer, step: int) -> dict:
        result = evaluate_heldout(model, tokenizer, self.tasks, prompt=self.prompt,
                                  max_new_tokens=self.max_new_tokens, rewards=self.rewards,
                                  on_rows=self.log.rows_writer("eval_samples.jsonl", step),
                                  bf16=self.bf16, progress=self.progress)
        self.log.append("evals.jsonl", [{"step": step, **result}])
        if self.say is not None:
            self.say(f"{self.unit} {step}: held-out accuracy {result['accuracy']:.1%} ({result['questions']} questions)")
        return result


class LoopTrainer:
    """A trainer that runs its own loop; the harness does the rest (the module docstring).

    A subclass writes ``total_steps`` and ``step`` (and ``build`` if it has an optimizer); it
    may set ``checkpoint_prefix``, ``scalars`` (metrics keys written to TensorBoard, by tag) and
    ``may_change`` (its own fields a resumed run may change). Its section is ``self.config``;
    its section's ``eval_every`` (and ``save_every``, ``eval_start``, ``bf16`` if it has them)
    say when to evaluate and checkpoint. During ``step`` it has ``self.model``, ``self.tok``,
    ``self.expert``, ``self.rewards`` (training), ``self.train_tasks``, ``self.state`` (the
    processes), ``self.log`` and ``self.completions`` (to add its new completions to)."""
    checkpoint_prefix: ClassVar[str] = "step"
    # whether each scored training completion becomes a samples.jsonl row (EM writes its own
    # rows, with their posterior weights)
    logs_samples: ClassVar[bool] = True
    scalars: ClassVar[dict[str, str]] = {}
    may_change: ClassVar[set[str]] = set()

    def __init__(self, setup):
        self.setup, self.config = setup, getattr(setup, setup.KIND)
        self.bf16 = bool(getattr(self.config, "bf16", False))

    # the algorithm ------------------------------------------------------------------------
    def total_steps(self) -> int:
        raise NotImplementedError

    def build(self):
        """After the model is loaded, before a checkpoint is read: the optimizer whose state
        checkpoints keep (None: none)."""
        return None

    def step(self, t: int) -> dict:
        """Step ``t`` (from 1): train, return its metrics row (step, completions and wall_s
        are added)."""
        raise NotImplementedError

    def tasks_per_step(self) -> tuple[str, int]:
        """(setting, training tasks a step draws): checked against the training split."""
        return "", 0

    # the run ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if self.state.is_main_process and not self.setup.run.quiet:
            print(text, flush=True)

    def progress(self) -> bool:
        """Whether this process shows progress bars."""
        return self.state.is_main_process and not self.setup.run.quiet

    def open(self) -> int:
        """Processes, tasks, model, run folder, rewards, expert; returns the step to start after."""
        device = self.setup.run.device
        self.state = process_state(cpu=resolve_device(device).type == "cpu")  # torchrun / accelerate
        self.train_tasks, heldout = load_split(self.setup.task, self.setup.split)
        name, need = self.tasks_per_step()
        if need > len(self.train_tasks):
            raise ValueError(f"{name} ({need}) exceeds the {len(self.train_tasks)} training tasks; lower "
                             f"--{name.replace('_', '-')} or raise --train-size")
        self.model, self.tok = load_model(self.setup, device if self.state.num_processes == 1
                                          else str(self.state.device), self.bf16)  # a GPU per process
        self.named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        self.optimizer = self.build()
        self.run, checkpoint = open_run(self.setup, self.state, self.may_change)
        self.log = RunLog(self.run.path)
        main = self.state.is_main_process
        rewards = Rewards(self.setup, self.tok, self.setup.expert.max_new_tokens,
                          on_scored=self.log.samples_callback() if main and self.logs_samples else None)
        self.rewards = rewards.training
        self.heldout = HeldOut(heldout, self.log, rewards.heldout, self.setup.prompt,
                               self.setup.expert.max_new_tokens, self.bf16, progress=None if self.progress() else False,
                               say=self.say, unit=COMMANDS[self.setup.KIND].unit[:-1] if self.setup.KIND in COMMANDS else "step")
        self.expert = CodeExpert(self.model, self.tok, self.setup.expert, prompt=self.setup.prompt,
                                 sandbox_config=self.setup.sandbox)
        self.autocast = bf16_autocast(self.model, self.bf16)  # sampling only: the weights stay float32
        start = self._resume(checkpoint)
        self.tensorboard = _tensorboard(self, start)
        return start

    def _resume(self, checkpoint) -> int:
        """The checkpoint's weights and optimizer state; the step and completions it saved."""
        if checkpoint is None:
            self.completions = 0
            return 0
        state = load_trainable(checkpoint, self.named, self.optimizer)
        start = state["step"]
        done = [r for r in self.log.read("metrics.jsonl") if r.get("step", 0) <= start]
        self.completions = state.get("completions", done[-1]["completions"] if done else 0)
        return start

    def evaluate(self, t: int) -> None:
        """Held-out evaluation on the main process; the others wait at their next collective."""
        if self.state.is_main_process:
            result = self.heldout.evaluate(self.model, self.tok, t)
            if self.tensorboard is not None:
                self.tensorboard.add_scalar("heldout/accuracy", result["accuracy"], t)
                self.tensorboard.flush()

    def record(self, t: int, row: dict, t0: float) -> None:
        """Step ``t``'s metrics row, TensorBoard scalars and checkpoint (main process)."""
        if not self.state.is_main_process:
            return
        row = {"step": t, "completions": self.completions, **row, "wall_s": time.perf_counter() - t0}
        self.log.append("metrics.jsonl", [row])
        for key, tag in self.scalars.items():
            self.tensorboard.add_scalar(tag, row[key], t)
        every = getattr(self.config, "save_every", 1)
        if t == self.total_steps() or (every and t % every == 0):
            save_trainable(self.run.path / "checkpoints" / f"{self.checkpoint_prefix}-{t}", self.named,
                           {"step": t, "completions": self.completions}, self.optimizer)

    def evaluation_due(self, t: int) -> bool:
        every = self.config.eval_every
        return t == self.total_steps() or bool(every and t % every == 0)

    def finish(self) -> Path:
        """Dump each process's weights if asked, wait for every process, leave the process group."""
        if getattr(self.config, "dump_weights", False):
            dump_rank_weights(self.run.path, self.named, self.state.process_index)
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.state.num_processes > 1:
            import torch.distributed as dist
            self.state.wait_for_everyone()
            dist.destroy_process_group()
        return self.run.path


@trl_deprecations()
def train(trainer: LoopTrainer) -> Path:
    """Run ``trainer``'s loop in a new or resumed run folder; returns the folder (every process)."""
    start = trainer.open()
    if start == 0 and getattr(trainer.config, "eval_start", True):
        trainer.evaluate(0)
    for t in range(start + 1, trainer.total_steps() + 1):
        t0 = time.perf_counter()
        row = trainer.step(t)
        trainer.record(t, row, t0)
        if trainer.evaluation_due(t):
            trainer.evaluate(t)
    return trainer.finish()


def _tensorboard(trainer: LoopTrainer, start: int):
    """A TensorBoard writer in the run folder when the trainer logs scalars (main process);
    a resumed run's writer drops the events logged after its checkpoint."""
    if not trainer.scalars or not trainer.state.is_main_process:
        return None
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(str(trainer.run.path / "tensorboard"), purge_step=start + 1 if start else None)
