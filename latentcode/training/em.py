"""Expectation-maximisation over latent programs, with an Occam prior.

    latentcode train em --suite liststats --iterations 8 --questions 32 --samples 8
    latentcode train em --suite liststats --mdl-lambda 0.02      # prefer short programs
    latentcode train em --resume runs/<stamp>-em-liststats         # continue exactly

The program z is a latent variable between the question x and the executed output y:
p(y | x) = sum_z p(z | x) [run(z) = y], with the prior p(z) proportional to 2^(-lambda bits(z)),
bits being the zlib-compressed size of the stripped program (comments and docstrings out).
Each iteration:

- **E-step**: ``samples`` programs for each of ``questions`` training questions, sampled from
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

The run folder (``latentcode.training.heldout``) holds ``samples.jsonl`` (every E-step
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
import os
import random
import re
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from latentcode.config import parse, setting, to_dict
from latentcode.expert.code_expert import CodeExpert, ExpertConfig
from latentcode.expert.prompts import PromptConfig
from latentcode.models import ModelArgs, bf16_autocast, bf16_is_fast, resolve_device, trained_weights_dtype
from latentcode.runs import Run
from latentcode.training.quiet import trl_deprecations
from latentcode.training.summary import training_summary
from latentcode.checkpoints import check_resumable, dump_rank_weights, last_checkpoint, load_trainable, save_trainable
from latentcode.training.distributed import gather, open_shared_run, process_state
from latentcode.training.heldout import RunLog, evaluate_heldout
from latentcode.training.rewards import CodeRewards, RewardConfig
from sandbox.config import SandboxConfig
from tasks.config import SplitConfig, TaskConfig, load_split


@dataclass
class EMConfig:
    """The EM loop's own settings; the model, tasks, prompt, rewards and sandbox are the other
    sections of ``EMSetup``."""
    device: str | None = setting(None, "cpu, cuda, cuda:1 (default: cuda if available)")
    bf16: bool | None = setting(None, "bf16 autocast for sampling and the M-step (default: on GPUs and on CPUs "
                                 "that multiply bf16 natively); trained weights stay float32")
    iterations: int = setting(8, "EM iterations (E-step + M-step)")
    questions: int = setting(32, "training questions per E-step")
    samples: int = setting(8, "programs sampled per question in the E-step (K)")
    temperature: float = setting(0.7, "E-step sampling temperature")
    top_p: float = setting(0.95, "E-step nucleus sampling mass")
    max_new_tokens: int = setting(256, "token limit per program")
    batch_size: int = setting(64, "rows decoded together (docs/benchmarks.md: 64 beat 16 on both prompts)")
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
    runs_dir: str = setting("runs", "where run folders are created")
    run_name: str | None = setting(None, "run folder name (default em-<suite>)")
    resume: str | None = setting(None, "run folder to continue from its last checkpoint")
    seed: int = setting(0, "seed of the question draws, the sampling and the M-step")
    quiet: bool = setting(False, "no progress output")
    dump_weights: bool = setting(False, "every process writes its final trainable weights to "
                                 "final-rank<R>.safetensors in the run folder (to check that ranks agree)")

    def __post_init__(self):
        for name in ("iterations", "questions", "samples", "max_new_tokens", "batch_size", "epochs",
                     "train_batch_size", "min_samples", "max_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")
        if self.hint_samples < 0:
            raise ValueError(f"hint_samples ({self.hint_samples}) must be >= 0 (0: as many as samples)")
        if self.adaptive and not self.min_samples <= self.samples <= self.max_samples:
            raise ValueError(f"min_samples ({self.min_samples}) <= samples ({self.samples}) <= max_samples "
                             f"({self.max_samples}) must hold: adaptive sampling spends between them")
        if self.eval_every < 0:
            raise ValueError(f"eval_every ({self.eval_every}) must be >= 0 (0: start and end only)")
        if self.mdl_lambda < 0:
            raise ValueError(f"mdl_lambda ({self.mdl_lambda}) must be >= 0 (0: no length prior)")
        if self.temperature <= 0:
            raise ValueError(f"temperature ({self.temperature}) must be > 0: the E-step samples "
                             "several programs per question")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p ({self.top_p}) must be in (0, 1]")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate ({self.learning_rate}) must be > 0")
        if self.bf16 is None:
            self.bf16 = bf16_is_fast(self.device)


@dataclass
class EMSetup:
    """Everything an EM run reads, one section per part (``latentcode.config``). LoRA is on by
    default (``--lora false`` trains every weight)."""
    KIND: ClassVar[str] = "em"  # what config.json records; resume refuses other kinds
    em: EMConfig = field(default_factory=EMConfig)
    model: ModelArgs = field(default_factory=lambda: ModelArgs(use_peft=True))
    task: TaskConfig = field(default_factory=TaskConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


# may differ between a run and its resumption: nothing else may, or the weights would
_RESUMABLE = {"iterations", "eval_every", "eval_start", "runs_dir", "run_name", "resume", "quiet", "device",
              "dump_weights"}


def posterior_weights(bits: list[float], lam: float) -> list[float]:
    """Posterior of each of one question's right programs under the prior 2^(-lam bits),
    normalised to sum to 1 (uniform when lam is 0)."""
    if not bits:
        return []
    low = min(bits)
    raw = [2.0 ** (-lam * (b - low)) for b in bits]  # shifted: the shortest weighs 1 before norming
    total = math.fsum(raw)
    return [r / total for r in raw]


def draw_programs(kept: list[tuple[int, float]], n: int, rng: random.Random) -> list[int]:
    """``n`` indices drawn with replacement from ``kept`` (index, weight) in proportion to the
    weights: the M-step's sample of one question's posterior."""
    if not kept:
        return []
    return rng.choices([i for i, _ in kept], weights=[w for _, w in kept], k=n)


def _bits(sample) -> float:
    return float(sample.lengths.get("zlib_bits", 0))


@trl_deprecations()
def train_em(setup: EMSetup) -> Path:
    """Run EM; returns the run folder."""
    from transformers import set_seed  # here, not at the top: start-up cost

    config = setup.em
    train, heldout = load_split(setup.task, setup.split)
    if config.questions > len(train):
        raise ValueError(f"questions ({config.questions}) exceeds the {len(train)} training tasks; "
                         "lower --questions or raise --train-size")
    state = process_state(cpu=resolve_device(config.device).type == "cpu")  # torchrun / accelerate launch
    main = state.is_main_process
    run, ckpt = open_shared_run(state, lambda: _open_run(setup))
    log = RunLog(run.path)
    set_seed(config.seed)  # LoRA's initial weights come from the global generator
    device = config.device if state.num_processes == 1 else str(state.device)  # a GPU per process
    model, tok = setup.model.load(device=device,
                                  default_dtype=trained_weights_dtype(config.bf16, setup.model.use_peft))
    if setup.model.use_peft:
        from peft import get_peft_model  # here, not at the top: start-up cost
        model = get_peft_model(model, setup.model.peft_config())
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    start = load_trainable(ckpt, named)["step"] if ckpt else 0
    if config.resume and main:
        for name in ("metrics.jsonl", "samples.jsonl", "evals.jsonl", "eval_samples.jsonl"):
            log.truncate_after(name, start if start else -1)
    rewards = CodeRewards(setup.reward, sandbox_config=setup.sandbox, tokenizer=tok,
                          max_completion_tokens=config.max_new_tokens)
    eval_rewards = CodeRewards(setup.reward, sandbox_config=setup.sandbox, tokenizer=tok,
                               max_completion_tokens=config.max_new_tokens)
    expert = CodeExpert(model, tok, ExpertConfig(num_samples=config.samples, temperature=config.temperature,
                                                 top_p=config.top_p, max_new_tokens=config.max_new_tokens,
                                                 batch_size=config.batch_size, seed=config.seed),
                        prompt=setup.prompt, sandbox_config=setup.sandbox)
    autocast = bf16_autocast(model, config.bf16)
    completions = _completions_so_far(log, start)
    say = (lambda text: _say(config, text)) if main else (lambda text: None)

    def heldout_eval(t: int) -> None:  # on the main process; the others wait at the next gather
        if not main:
            return
        result = evaluate_heldout(model, tok, heldout, prompt=setup.prompt, max_new_tokens=config.max_new_tokens,
                                  rewards=eval_rewards, on_rows=log.rows_writer("eval_samples.jsonl", t),
                                  bf16=config.bf16)
        log.append("evals.jsonl", [{"step": t, **result}])
        say(f"iteration {t}: held-out accuracy {result['accuracy']:.1%} ({result['questions']} questions)")

    if start == 0 and config.eval_start:
        heldout_eval(0)
    history = History.read(log, start)
    for t in range(start + 1, config.iterations + 1):
        t0 = time.perf_counter()
        tasks, counts = plan_questions(train, history, config, t)  # the same on resume
        # iteration t samples the same on resume; each process samples its own share of the questions
        expert.reseed(config.seed * 1_000_003 + t + 7_919 * state.process_index)
        prompts = [expert.prompt(task) for task in tasks]
        mine = list(range(state.process_index, len(tasks), state.num_processes))
        bar = _bar(sum(counts[q] for q in mine), f"iteration {t} E-step", main and not config.quiet)
        expert.on_generated = bar.update if bar is not None else None
        with autocast():
            groups = sample_and_keep(expert, rewards, [tasks[q] for q in mine], [prompts[q] for q in mine],
                                     [counts[q] for q in mine], setup.em.mdl_lambda)
            if config.rationalize:
                rationalize(expert, rewards, [tasks[q] for q in mine], groups,
                            config.hint_samples or config.samples, setup.em.mdl_lambda)
        if bar is not None:
            bar.close()
        expert.on_generated = None
        rows, kept = _merge(gather(state, (mine, groups)), len(tasks))
        for row in rows:
            row["step"] = t
        if main:
            log.append("samples.jsonl", rows)
        history.add(rows)
        completions += len(rows)
        rng = random.Random(f"{config.seed}-draw-{t}")
        data = [{"prompt": prompts[q], "completion": rows[i]["completion"]}  # never the hinted prompt
                for q, ks in sorted(kept.items()) for i in draw_programs(ks, config.samples, rng)]
        loss = m_step(model, tok, data, config, seed=config.seed + t, out_dir=run.path / "m-step",
                      progress=main and not config.quiet) if data else None
        expert.forget_prefix()
        metrics = [_iteration_metrics(t, tasks, rows, kept, data, loss, completions, t0)]
        m = metrics[0]
        say(f"iteration {t}: pass@k {m['solved']}/{len(tasks)}"
            + (f" ({m['rationalized']} by a hint)" if config.rationalize else "")
            + f", kept {m['kept']}, M-step on {len(data)} programs"
            + (f", loss {loss:.3f}" if loss is not None else "")
            + f", {m['wall_s']:.0f} s")
        if main:
            log.append("metrics.jsonl", metrics)
            save_trainable(run.path / "checkpoints" / f"iter-{t}", named, {"step": t})
        if t == config.iterations or (config.eval_every and t % config.eval_every == 0):
            heldout_eval(t)
    if config.dump_weights:
        dump_rank_weights(run.path, named, state.process_index)
    if state.num_processes > 1:
        state.wait_for_everyone()
    if main:
        shutil.rmtree(run.path / "m-step", ignore_errors=True)
    return run.path


def _iteration_metrics(t, tasks, rows, kept, data, loss, completions, t0) -> dict:
    right = [r for r in rows if r["weight"] > 0]
    weights = [r["weight"] for r in right]
    plain = {q for q, ks in kept.items() if any(not rows[i].get("hinted") for i, _ in ks)}
    hinted = sorted(q for q in kept if q not in plain)
    counts = _counts(rows, len(tasks))

    def wmean(key):
        return math.fsum(r["weight"] * r[key] for r in right) / math.fsum(weights) if right else None
    return {
        "step": t, "completions": completions, "questions": len(tasks),
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


def _merge(parts: list, n: int) -> tuple[list[dict], dict]:
    """Every process's E-step (its question indices, one group of rows per question) as one
    E-step over all ``n`` questions, in question order: the rows, and kept[q] = [(row index,
    posterior weight)] for each question with a kept program."""
    groups: list = [None] * n
    for mine, local in parts:
        for q, group in zip(mine, local):
            groups[q] = group
    rows, kept = [], {}
    for q, group in enumerate(groups):
        for row in group:
            row["question_index"] = q
            if row["weight"] > 0:
                kept.setdefault(q, []).append((len(rows), row["weight"]))
            rows.append(row)
    return rows, kept


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


def plan_questions(train: list, history: History, config: EMConfig, t: int) -> tuple[list, list[int]]:
    """Iteration t's questions and the programs to sample for each. Plain EM: ``questions``
    drawn at random, ``samples`` each. Adaptive: the model's own pass rate orders them
    (solved sometimes, then never asked, then never solved, then solved every time; retired
    ones last), and spends ``max_samples`` on a question with no right program yet,
    ``min_samples`` on one right every time at its last E-step, ``samples`` otherwise."""
    rng = random.Random(f"{config.seed}-questions-{t}")
    if not config.adaptive:
        return rng.sample(train, config.questions), [config.samples] * config.questions

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
        return config.min_samples if history.rate(task.id) == 1 else config.samples
    return chosen, [count(task) for task in chosen]


def sample_and_keep(expert: CodeExpert, rewards: CodeRewards, tasks: list, prompts: list[str],
                    counts: list[int], lam: float, *, hinted: bool = False) -> list[list[dict]]:
    """Sample ``counts[i]`` programs for each task, run and grade them; one group of
    samples.jsonl rows per task (with ``weight``, ``bits``, ``reward``, ``hinted``), the kept
    ones (right, not hard-coded) weighted by their posterior under the prior 2^(-lam bits)."""
    gens = expert.generate(prompts, counts)
    flat_tasks = [t for t, gs in zip(tasks, gens) for _ in gs]
    flat = [g for gs in gens for g in gs]
    outcomes = rewards.evaluate(flat_tasks, [g.text for g in flat], [g.num_tokens for g in flat])
    groups, at = [], 0
    right_value = rewards.config.correct
    for gs in gens:
        group = []
        for k in range(len(gs)):
            o = outcomes[at + k]
            row = o.sample.to_dict()
            row.update(index=k, reward=o.correctness, metamorphic=o.metamorphic, bits=_bits(o.sample),
                       weight=0.0, hinted=hinted)
            row["kept"] = bool(o.sample.correct and o.correctness == right_value)  # hard-coded scores less
            group.append(row)
        at += len(gs)
        groups.append(group)
    for group in groups:
        reweigh(group, lam)
    return groups


def reweigh(group: list[dict], lam: float) -> None:
    """One question's kept programs weighted by their posterior (the rest weigh 0)."""
    idx = [i for i, r in enumerate(group) if r.get("kept")]
    for i, w in zip(idx, posterior_weights([group[i]["bits"] for i in idx], lam)):
        group[i]["weight"] = w


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


def e_step(expert: CodeExpert, rewards: CodeRewards, tasks: list, prompts: list[str], lam: float):
    """Sample, run and grade ``expert.config.num_samples`` programs per task. Returns the
    samples.jsonl rows (with ``weight``, ``bits``, ``reward``) and, per task index, the
    (row index, posterior weight) of its kept programs (right, not hard-coded)."""
    groups = sample_and_keep(expert, rewards, tasks, prompts, [expert.config.num_samples] * len(tasks), lam)
    return _merge([(list(range(len(tasks))), groups)], len(tasks))


def m_step(model, tok, data: list[dict], config: EMConfig, *, seed: int, out_dir: Path,
           progress: bool = False) -> float:
    """One SFT pass (``epochs``) of TRL's SFTTrainer over the drawn prompt/completion pairs,
    loss on the completion only (``progress``: the trainer's bar, with its ETA). Returns the
    mean training loss."""
    from datasets import Dataset, disable_progress_bars  # here, not at the top: start-up cost
    from transformers import PrinterCallback  # here, not at the top: start-up cost
    from trl import SFTConfig, SFTTrainer  # here, not at the top: start-up cost

    disable_progress_bars()  # TRL's dataset preparation draws three bars per M-step
    on_cpu = next(model.parameters()).device.type == "cpu"
    args = SFTConfig(
        output_dir=str(out_dir), num_train_epochs=config.epochs, learning_rate=config.learning_rate,
        per_device_train_batch_size=config.train_batch_size, save_strategy="no", report_to=[],
        logging_strategy="no", seed=seed, data_seed=seed, bf16=bool(config.bf16), use_cpu=on_cpu,
        completion_only_loss=True, max_length=None, disable_tqdm=not progress,
        gradient_checkpointing=None)  # None: off, without transformers 5's deprecation warning
    was_training = model.training
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(data), processing_class=tok)
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
    from tqdm import tqdm  # here, not at the top: start-up cost
    return tqdm(total=total, desc=desc, unit="program", dynamic_ncols=True)


def _say(config: EMConfig, text: str) -> None:
    if not config.quiet:
        print(text, flush=True)


def _completions_so_far(log: RunLog, start: int) -> int:
    rows = [r for r in log.read("metrics.jsonl") if r.get("step", 0) <= start] if start else []
    return rows[-1]["completions"] if rows else 0


def _open_run(setup: EMSetup):
    config = setup.em
    if config.resume:
        run = Run.open(config.resume)
        check_resumable(run.config, setup, "em", config.resume, _RESUMABLE)
        return run, last_checkpoint(run.path)
    return Run.create(config.runs_dir, config.run_name or f"em-{setup.task.suite}",
                      {"kind": "em", **to_dict(setup)}), None


def parse_setup(argv: list[str] | None = None) -> EMSetup:
    return parse(EMSetup, argv, prog="latentcode train em",
                 description="EM over latent programs: sample, keep the right ones weighted by the "
                             "prior 2^(-lambda bits), fine-tune on them, repeat")


def main(argv: list[str] | None = None) -> int:
    """``latentcode train em``; under ``torchrun`` or ``accelerate launch`` every process runs
    this and the main one prints the summary."""
    path = train_em(parse_setup(argv))
    if int(os.environ.get("RANK", "0")) == 0:
        print(training_summary(path, "em"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
