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
                     "train_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")
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
    for t in range(start + 1, config.iterations + 1):
        t0 = time.perf_counter()
        tasks = random.Random(f"{config.seed}-questions-{t}").sample(train, config.questions)
        # iteration t samples the same on resume; each process samples its own share of the questions
        expert.reseed(config.seed * 1_000_003 + t + 7_919 * state.process_index)
        prompts = [expert.prompt(task) for task in tasks]
        mine = list(range(state.process_index, len(tasks), state.num_processes))
        with autocast():
            local = e_step(expert, rewards, [tasks[q] for q in mine], [prompts[q] for q in mine],
                           setup.em.mdl_lambda)
        rows, kept = _merge(gather(state, (mine, *local)), config.samples)
        for row in rows:
            row["step"] = t
        if main:
            log.append("samples.jsonl", rows)
        completions += len(rows)
        rng = random.Random(f"{config.seed}-draw-{t}")
        data = [{"prompt": prompts[q], "completion": rows[i]["completion"]}
                for q, ks in sorted(kept.items()) for i in draw_programs(ks, config.samples, rng)]
        loss = m_step(model, tok, data, config, seed=config.seed + t, out_dir=run.path / "m-step") if data else None
        expert.forget_prefix()
        right = [r for r in rows if r["weight"] > 0]
        weights = [r["weight"] for r in right]

        def wmean(key):
            return math.fsum(r["weight"] * r[key] for r in right) / math.fsum(weights) if right else None
        metrics = [{
            "step": t, "completions": completions, "questions": len(tasks),
            "pass_at_k": len(kept) / len(tasks), "kept": len(right),
            "mean_bits": statistics.fmean(r["bits"] for r in right) if right else None,
            "posterior_mean_bits": wmean("bits"),
            "mean_ast_nodes": statistics.fmean(r["lengths"].get("ast_nodes", 0) for r in right) if right else None,
            "m_step_programs": len(data), "m_step_loss": loss, "wall_s": time.perf_counter() - t0}]
        say(f"iteration {t}: pass@{config.samples} {len(kept)}/{len(tasks)}, kept {len(right)}, "
            f"M-step on {len(data)} programs" + (f", loss {loss:.3f}" if loss is not None else ""))
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


def _merge(parts: list, k: int) -> tuple[list[dict], dict]:
    """Every process's E-step (its question indices, rows, kept) as one E-step over all the
    questions, in question order: rows of question q at q*k.., kept[q] = [(row, weight)]."""
    n = sum(len(mine) for mine, _, _ in parts)
    rows: list = [None] * (n * k)
    kept: dict = {}
    for mine, local_rows, local_kept in parts:
        for j, q in enumerate(mine):
            rows[q * k:(q + 1) * k] = local_rows[j * k:(j + 1) * k]
            if j in local_kept:
                kept[q] = [(q * k + (i - j * k), w) for i, w in local_kept[j]]
    return rows, dict(sorted(kept.items()))


def e_step(expert: CodeExpert, rewards: CodeRewards, tasks: list, prompts: list[str], lam: float):
    """Sample, run and grade ``expert.config.num_samples`` programs per task. Returns the
    samples.jsonl rows (with ``weight``, ``bits``, ``reward``) and, per task index, the
    (row index, posterior weight) of its kept programs (right, not hard-coded)."""
    k = expert.config.num_samples
    gens = expert.generate(prompts)
    flat_tasks = [t for t in tasks for _ in range(k)]
    flat = [g for gs in gens for g in gs]
    outcomes = rewards.evaluate(flat_tasks, [g.text for g in flat], [g.num_tokens for g in flat])
    rows, kept = [], {}
    right_value = rewards.config.correct
    for i, (g, o) in enumerate(zip(flat, outcomes)):
        row = o.sample.to_dict()
        row.update(index=i % k, reward=o.correctness, metamorphic=o.metamorphic,
                   bits=_bits(o.sample), weight=0.0)
        rows.append(row)
        if o.sample.correct and o.correctness == right_value:  # a hard-coded one scores less
            kept.setdefault(i // k, []).append(i)
    for q, idx in kept.items():
        ws = posterior_weights([rows[i]["bits"] for i in idx], lam)
        for i, w in zip(idx, ws):
            rows[i]["weight"] = w
        kept[q] = list(zip(idx, ws))
    return rows, kept


def m_step(model, tok, data: list[dict], config: EMConfig, *, seed: int, out_dir: Path) -> float:
    """One SFT pass (``epochs``) of TRL's SFTTrainer over the drawn prompt/completion pairs,
    loss on the completion only. Returns the mean training loss."""
    from datasets import Dataset, disable_progress_bars  # here, not at the top: start-up cost
    from transformers import PrinterCallback  # here, not at the top: start-up cost
    from trl import SFTConfig, SFTTrainer  # here, not at the top: start-up cost

    disable_progress_bars()  # TRL's dataset preparation draws three bars per M-step
    on_cpu = next(model.parameters()).device.type == "cpu"
    args = SFTConfig(
        output_dir=str(out_dir), num_train_epochs=config.epochs, learning_rate=config.learning_rate,
        per_device_train_batch_size=config.train_batch_size, save_strategy="no", report_to=[],
        logging_strategy="no", seed=seed, data_seed=seed, bf16=bool(config.bf16), use_cpu=on_cpu,
        completion_only_loss=True, max_length=None, disable_tqdm=True,
        gradient_checkpointing=None)  # None: off, without transformers 5's deprecation warning
    was_training = model.training
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(data), processing_class=tok)
    trainer.remove_callback(PrinterCallback)
    result = trainer.train()
    model.train(was_training)
    model.eval()
    return float(result.training_loss)


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
