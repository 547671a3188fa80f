"""Expectation-maximisation over latent programs, with an Occam prior.

    latentcode train em --suite liststats --iterations 8 --questions 32 --samples 8
    latentcode train em --suite liststats --mdl-lambda 0.02      # prefer short programs
    latentcode train em --resume runs/<stamp>-em-liststats         # continue exactly

The program z is a latent variable between the question x and the executed output y:
p(y | x) = sum_z p(z | x) [run(z) = y], with the prior p(z) proportional to 2^(-lambda bits(z)),
bits being the zlib-compressed size of the stripped program (comments and docstrings out).
Each iteration:

- **E-step**: ``num_samples`` (``--samples``) programs for each of ``questions`` training questions, sampled from
  the current model (the project's decoder), run in the sandbox and graded by the rewards;
  those that are right and pass the hard-coding check are kept, each weighted by its
  posterior under the prior, w = 2^(-lambda bits) normalised over its question's kept
  programs (``posterior_weights``).
- **M-step**: maximum likelihood of the kept programs given their prompts, weighted by w:
  TRL's ``SFTTrainer`` (completion-only loss; LoRA or every weight) on ``samples`` programs
  per question drawn from its kept ones in proportion to w (with replacement): a draw of
  the weighted log-likelihood, unbiased, with each question counting the same. Lambda 0 is
  plain expert iteration (rejection-sampling fine-tuning).

No program enters the M-step unless its output was right: the loss on the program's
tokens is the output's error pushed back to the latent code.

Sampling and keeping programs is ``training/programs.py`` (GRPO's curriculum filter uses it
too); the run (folder, resume, rewards, held-out evaluation, processes) is the harness's
(``training/harness.py``). The run folder holds ``samples.jsonl`` (every E-step
program with its execution, ``step`` = iteration, ``weight`` = its posterior, 0 when not
kept), ``metrics.jsonl`` (per iteration: the training estimate of p(y | x) as the share of
questions with a kept program, i.e. pass@samples; programs kept; their mean bits and AST
nodes, plain and posterior-weighted; the M-step's loss; completions generated so far; wall
seconds), ``evals.jsonl`` (held-out greedy accuracy), ``eval_samples.jsonl`` (each held-out
answer of each evaluation, ``step`` = iteration, in ``latentcode bench``'s row format) and ``checkpoints/iter-N`` (the
trainable weights after iteration N), from which ``--resume`` continues bit for bit.
"""
from __future__ import annotations

import math
import random
import re
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from latentcode.config import setting
from latentcode.expert.code_expert import CodeExpert
from latentcode.expert.sampling import ExpertConfig
from latentcode.models import ModelArgs, bf16_is_fast
from latentcode.training import harness
from latentcode.training.distributed import gather
from latentcode.training.harness import LoopTrainer, TrainingSetup
from latentcode.training.heldout import RunLog
from latentcode.training.prefix_logps import sft_trainer_class
from latentcode.training.programs import merge_groups, posterior_weights, reweigh, sample_and_keep
from latentcode.training.rewards import CodeRewards

__all__ = ["EMConfig", "EMSetup", "EM", "train_em", "posterior_weights", "draw_programs", "plan_questions",
           "History", "hinted_task", "rationalize", "sample_and_keep", "m_step", "main"]


@dataclass
class EMConfig:
    """The EM loop's own settings; the run, model, tasks, prompt, sampling (``num_samples``,
    ``temperature``, ...: the ``expert`` section), rewards and sandbox are the other sections
    of ``EMSetup``."""
    bf16: bool | None = setting(None, "bf16 autocast for sampling and the M-step (default: on GPUs and on CPUs "
                                 "that multiply bf16 natively); trained weights stay float32")
    iterations: int = setting(8, "EM iterations (E-step + M-step)")
    questions: int = setting(32, "training questions per E-step")
    rationalize: bool = setting(False, "a question with no right program among its samples is sampled again "
                                "with a hint in the prompt (its answer; a worked solution in words where "
                                "the data has one, never a program); programs right on the question and on "
                                "its re-asks are kept and trained on without the hint (STaR's rationalization)")
    hint_samples: int = setting(0, "programs sampled per hinted question (0: as many as --samples)")
    adaptive: bool = setting(False, "choose each E-step's questions and sample counts by the model's own pass "
                             "rate: questions solved sometimes first, then new ones, then ones never solved; "
                             "a question right on every sample in its last two E-steps is retired")
    min_samples: int = setting(2, "adaptive: programs sampled for a question right on every sample last time")
    max_samples: int = setting(16, "adaptive: programs sampled for a question with no right program yet")
    mdl_lambda: float = setting(0.0, "lambda of the prior 2^(-lambda bits): 0 weighs every right program the "
                                "same (expert iteration); 0.02 halves a program's weight per 50 extra bits")
    learning_rate: float = setting(1e-4, "M-step AdamW learning rate (LoRA: 1e-4 to 5e-4; every weight: ~1e-5)")
    epochs: int = setting(1, "M-step passes over the drawn programs")
    train_batch_size: int = setting(8, "M-step micro-batch (programs)")
    eval_every: int = setting(1, "held-out evaluation every N iterations (0: start and end only)")
    eval_start: bool = setting(True, "evaluate before the first iteration (false when another run already "
                               "measured the same model on the same held-out questions)")
    dump_weights: bool = setting(False, "every process writes its final trainable weights to "
                                 "final-rank<R>.safetensors in the run folder (to check that ranks agree)")

    def __post_init__(self):
        for name in ("iterations", "questions", "epochs", "train_batch_size", "min_samples", "max_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")
        if self.hint_samples < 0:
            raise ValueError(f"hint_samples ({self.hint_samples}) must be >= 0 (0: as many as samples)")
        if self.eval_every < 0:
            raise ValueError(f"eval_every ({self.eval_every}) must be >= 0 (0: start and end only)")
        if self.mdl_lambda < 0:
            raise ValueError(f"mdl_lambda ({self.mdl_lambda}) must be >= 0 (0: no length prior)")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate ({self.learning_rate}) must be > 0")


@dataclass
class EMSetup(TrainingSetup):
    """Everything an EM run reads, one section per part (``latentcode.config``). LoRA is on by
    default (``--lora false`` trains every weight)."""
    KIND: ClassVar[str] = "em"  # what config.json records; resume refuses other kinds
    em: EMConfig = field(default_factory=EMConfig)
    model: ModelArgs = field(default_factory=lambda: ModelArgs(use_peft=True))
    expert: ExpertConfig = field(default_factory=lambda: ExpertConfig(num_samples=8, temperature=0.7,
                                                                      max_new_tokens=256))

    def __post_init__(self):
        super().__post_init__()
        em, k = self.em, self.expert.num_samples
        if self.expert.temperature <= 0:
            raise ValueError(f"temperature ({self.expert.temperature}) must be > 0: the E-step samples "
                             "several programs per question")
        if em.adaptive and not em.min_samples <= k <= em.max_samples:
            raise ValueError(f"min_samples ({em.min_samples}) <= samples ({k}) <= max_samples "
                             f"({em.max_samples}) must hold: adaptive sampling spends between them")
        if em.bf16 is None:
            em.bf16 = bf16_is_fast(self.run.device)


def draw_programs(kept: list[tuple[int, float]], n: int, rng: random.Random) -> list[int]:
    """``n`` indices drawn with replacement from ``kept`` (index, weight) in proportion to the
    weights: the M-step's sample of one question's posterior."""
    if not kept:
        return []
    return rng.choices([i for i, _ in kept], weights=[w for _, w in kept], k=n)


class EM(LoopTrainer):
    """One EM iteration per step: the E-step (sample, run, keep, weigh), then the M-step
    (fine-tune on programs drawn from the kept ones)."""
    checkpoint_prefix = "iter"
    logs_samples = False  # the E-step writes its rows, with their posterior weights
    may_change = {"iterations", "eval_every", "eval_start", "dump_weights"}

    def total_steps(self) -> int:
        return self.config.iterations

    def tasks_per_step(self) -> tuple[str, int]:
        return "questions", self.config.questions

    def step(self, t: int) -> dict:
        t0 = time.perf_counter()
        if not hasattr(self, "history"):  # from samples.jsonl up to a resumed run's checkpoint
            self.history = History.read(self.log, t - 1)
        tasks, counts = plan_questions(self.train_tasks, self.history, self.setup, t)  # the same on resume
        prompts = [self.expert.prompt(task) for task in tasks]
        rows, kept = self.e_step(t, tasks, prompts, counts)
        self.completions += len(rows)
        rng = random.Random(f"{self.setup.run.seed}-draw-{t}")
        data = [{"prompt": prompts[q], "completion": rows[i]["completion"]}  # never the hinted prompt
                for q, ks in sorted(kept.items()) for i in draw_programs(ks, self.setup.expert.num_samples, rng)]
        loss = m_step(self.model, self.tok, data, self.config, seed=self.setup.run.seed + t,
                      out_dir=self.run.path / "m-step", progress=self.progress()) if data else None
        self.expert.forget_prefix()
        m = _iteration_metrics(tasks, rows, kept, data, loss, t0)
        self.say(f"iteration {t}: pass@k {m['solved']}/{len(tasks)}"
                 + (f" ({m['rationalized']} by a hint)" if self.config.rationalize else "")
                 + f", kept {m['kept']}, M-step on {len(data)} programs"
                 + (f", loss {loss:.3f}" if loss is not None else "") + f", {m['wall_s']:.0f} s")
        return m

    def e_step(self, t: int, tasks: list, prompts: list[str], counts: list[int]) -> tuple[list[dict], dict]:
        """Each process samples its share of the questions; every process gets every row back
        (``merge_groups``), in question order, and samples.jsonl gets them from the main one."""
        state, expert, lam = self.state, self.expert, self.config.mdl_lambda
        # iteration t samples the same on resume
        expert.reseed(self.setup.run.seed * 1_000_003 + t + 7_919 * state.process_index)
        mine = list(range(state.process_index, len(tasks), state.num_processes))
        bar = _bar(sum(counts[q] for q in mine), f"iteration {t} E-step", self.progress())
        expert.on_generated = bar.update if bar is not None else None
        with self.autocast():
            groups = sample_and_keep(expert, self.rewards, [tasks[q] for q in mine], [prompts[q] for q in mine],
                                     [counts[q] for q in mine], lam)
            if self.config.rationalize:
                rationalize(expert, self.rewards, [tasks[q] for q in mine], groups,
                            self.config.hint_samples or self.setup.expert.num_samples, lam)
        if bar is not None:
            bar.close()
        expert.on_generated = None
        rows, kept = merge_groups(gather(state, (mine, groups)), len(tasks))
        for row in rows:
            row["step"] = t
        if state.is_main_process:
            self.log.append("samples.jsonl", rows)
        self.history.add(rows)
        return rows, kept

    def finish(self) -> Path:
        path = super().finish()
        if self.state.is_main_process:
            shutil.rmtree(path / "m-step", ignore_errors=True)
        return path


def _iteration_metrics(tasks, rows, kept, data, loss, t0) -> dict:
    right = [r for r in rows if r["weight"] > 0]
    weights = [r["weight"] for r in right]
    plain = {q for q, ks in kept.items() if any(not rows[i].get("hinted") for i, _ in ks)}
    hinted = sorted(q for q in kept if q not in plain)
    counts = _counts(rows, len(tasks))

    def wmean(key):
        return math.fsum(r["weight"] * r[key] for r in right) / math.fsum(weights) if right else None
    return {
        "questions": len(tasks),
        "pass_at_k": len(plain) / len(tasks), "solved": len(kept), "kept": len(right),
        "rationalized": len(hinted), "reached_by_hint": [tasks[q].id for q in hinted],
        "samples_per_question": {"min": min(counts), "max": max(counts)},
        "mean_bits": statistics.fmean(r["bits"] for r in right) if right else None,
        "posterior_mean_bits": wmean("bits"),
        "mean_ast_nodes": statistics.fmean(r["lengths"].get("ast_nodes", 0) for r in right) if right else None,
        "m_step_programs": len(data), "m_step_loss": loss, "wall_s": time.perf_counter() - t0}


def _counts(rows: list[dict], n: int) -> list[int]:
    """Plain (unhinted) programs sampled per question of an E-step."""
    out = [0] * n
    for r in rows:
        if not r.get("hinted"):
            out[r["question_index"]] += 1
    return out


class History:
    """Each training question's E-step record (task id -> [(iteration, right, sampled)],
    unhinted samples only): what adaptive sampling reads. Built from samples.jsonl up to the
    resumed iteration, then from each merged E-step, so every process holds the same."""

    def __init__(self):
        self.asked: dict[str, list[tuple[int, int, int]]] = {}

    @classmethod
    def read(cls, log: RunLog, start: int) -> "History":
        h = cls()
        h.add([r for r in log.read("samples.jsonl") if isinstance(r.get("step"), int) and r["step"] <= start])
        return h

    def add(self, rows: list[dict]) -> None:
        tally: dict = {}
        for r in rows:
            if r.get("hinted") or not isinstance(r.get("task_id"), str):
                continue
            key = (r["task_id"], r.get("step"))
            right, n = tally.get(key, (0, 0))
            tally[key] = (right + (r.get("weight", 0) > 0), n + 1)
        for (tid, step), (right, n) in sorted(tally.items(), key=lambda kv: (kv[0][1] or 0, kv[0][0])):
            self.asked.setdefault(tid, []).append((step, right, n))

    def rate(self, task_id: str) -> float | None:
        """The share right at the question's last E-step (None: never asked)."""
        rec = self.asked.get(task_id)
        return rec[-1][1] / rec[-1][2] if rec else None

    def ever_right(self, task_id: str) -> bool:
        return any(right for _, right, _ in self.asked.get(task_id, ()))

    def retired(self, task_id: str) -> bool:
        rec = self.asked.get(task_id, [])
        return len(rec) >= 2 and all(right == n for _, right, n in rec[-2:])


def plan_questions(train: list, history: History, setup: EMSetup, t: int) -> tuple[list, list[int]]:
    """Iteration t's questions and the programs to sample for each. Plain EM: ``questions``
    drawn at random, ``samples`` each. Adaptive: the model's own pass rate orders them
    (solved sometimes, then never asked, then never solved, then solved every time; retired
    ones last), and spends ``max_samples`` on a question with no right program yet,
    ``min_samples`` on one right every time at its last E-step, ``samples`` otherwise."""
    config, samples = setup.em, setup.expert.num_samples
    rng = random.Random(f"{setup.run.seed}-questions-{t}")
    if not config.adaptive:
        return rng.sample(train, config.questions), [samples] * config.questions

    def tier(task) -> int:
        rate = history.rate(task.id)
        if history.retired(task.id):
            return 4
        if rate is None:
            return 1
        if 0 < rate < 1:
            return 0
        return 3 if rate == 1 else 2

    order = rng.sample(train, len(train))  # random within a tier
    chosen = sorted(order, key=tier)[:config.questions]

    def count(task) -> int:
        if history.rate(task.id) is not None and not history.ever_right(task.id):
            return config.max_samples
        return config.min_samples if history.rate(task.id) == 1 else samples
    return chosen, [count(task) for task in chosen]


def rationalize(expert: CodeExpert, rewards: CodeRewards, tasks: list, groups: list[list[dict]],
                k: int, lam: float) -> None:
    """For each task whose group kept nothing: ``k`` programs sampled with a hint in the
    prompt (``hinted_task``), graded on the task itself (so on its re-asks with other
    values too: printing the hinted answer cannot pass), appended to its group."""
    todo = [i for i, g in enumerate(groups) if not any(r.get("kept") for r in g)]
    if not todo:
        return
    hinted = sample_and_keep(expert, rewards, [tasks[i] for i in todo],  # graded on the task itself
                             [expert.prompt(hinted_task(tasks[i])) for i in todo], [k] * len(todo),
                             lam, hinted=True)
    for i, extra in zip(todo, hinted):  # rows of the task (its question), marked hinted
        groups[i].extend(extra)
        reweigh(groups[i], lam)


def hinted_task(task):
    """The task with a hint after its question: the answer, and a worked solution in words
    where the data has one (GSM8K's, its calculator notes and final line removed). Never a
    program: the model is to write the computation itself."""
    from tasks.base import Task  # the hint only changes the prompt the model reads
    hint = f"Hint: the answer is {task.answer}."
    solution = (task.meta or {}).get("solution")
    if isinstance(solution, str) and solution.strip():
        words = re.sub(r"<<[^>]*>>", "", solution.split("####")[0]).strip()
        if words:
            hint = f"Hint: {words} The answer is {task.answer}."
    return Task(task.id, f"{task.prompt}\n{hint}", task.answer, task.family, task.meta)


def m_step(model, tok, data: list[dict], config: EMConfig, *, seed: int, out_dir: Path,
           progress: bool = False) -> float:
    """One SFT pass (``epochs``) of TRL's SFTTrainer over the drawn prompt/completion pairs,
    loss on the completion only (``progress``: the trainer's bar, with its ETA). Returns the
    mean training loss."""
    from datasets import Dataset, disable_progress_bars
    from transformers import PrinterCallback
    from trl import SFTConfig

    disable_progress_bars()  # TRL's dataset preparation draws three bars per M-step
    on_cpu = next(model.parameters()).device.type == "cpu"
    args = SFTConfig(
        output_dir=str(out_dir), num_train_epochs=config.epochs, learning_rate=config.learning_rate,
        per_device_train_batch_size=config.train_batch_size, save_strategy="no", report_to=[],
        logging_strategy="no", seed=seed, data_seed=seed, bf16=bool(config.bf16), use_cpu=on_cpu,
        completion_only_loss=True, max_length=None, disable_tqdm=not progress,
        gradient_checkpointing=None)  # None: off, without transformers 5's deprecation warning
    was_training = model.training
    # TRL's SFTTrainer, its loss running the prompt start the batch's rows share once
    trainer = sft_trainer_class()(model=model, args=args, train_dataset=Dataset.from_list(data),
                                  processing_class=tok)
    trainer.remove_callback(PrinterCallback)
    result = trainer.train()
    model.train(was_training)
    model.eval()
    return float(result.training_loss)


def _bar(total: int, desc: str, show: bool):
    """A progress bar with an ETA over an E-step's programs (None when not shown); hinted
    programs, sampled after, go past its total."""
    if not show:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="program", dynamic_ncols=True)


def train_em(setup: EMSetup) -> Path:
    """Run EM; returns the run folder (on every process)."""
    return harness.train(EM(setup))


def parse_setup(argv: list[str] | None = None) -> EMSetup:
    return harness.parse_setup(EMSetup, argv)


def main(argv: list[str] | None = None) -> int:
    """``latentcode train em``; under ``torchrun`` or ``accelerate launch`` every process runs
    this and the main one prints the summary."""
    return harness.run_command(EMSetup, train_em, argv)


if __name__ == "__main__":
    raise SystemExit(main())
