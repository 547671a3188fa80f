"""`latentcode bench`: run a suite with the code expert (or direct answers), log everything.

    run = run_bench(compose(BenchSetup, model="smollm2-135m", suite="liststats", n=50, samples=4))
    run.path / "summary.json"
    python -m latentcode bench --config bench.yaml --samples 4    # flags override the file

Questions go through in chunks of ``4 * batch_size // samples``; each chunk's samples are
appended to samples.jsonl as soon as they are graded, so a killed run loses at most one
chunk and ``resume`` picks up where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import field
import sys
import time


from latentcode.config import from_dict, parse, to_dict
from latentcode.expert.base import ExpertConfig
from latentcode.expert.code_expert import CodeExpert
from latentcode.expert.direct_expert import DirectExpert
from latentcode.expert.prompts import PromptConfig
from latentcode.metrics import summarize
from latentcode.models import ModelArgs
from latentcode.runs import Run
from sandbox.config import SandboxConfig
from tasks.config import TaskConfig
from tasks.suites import load_suite


MODES = {"code": CodeExpert, "direct": DirectExpert}
CHUNK_BATCHES = 4  # questions per chunk (samples appended, progress shown): this many batches


@dataclasses.dataclass
class BenchConfig:
    """The benchmark loop's own settings; the model, tasks, prompt, sampling and sandbox are
    the other sections of ``BenchSetup``."""
    n: int | None = field(default=20, metadata={"help": "questions: the first n of a dataset, or n generated with --task-seed"})
    mode: str = field(default="code", metadata={"help": "code: write a program (CodeExpert); direct: answer in text (DirectExpert)"})
    device: str | None = field(default=None, metadata={"help": "default: cuda if available, else cpu"})
    runs_dir: str = field(default="runs", metadata={"help": "where run folders are written"})
    name: str | None = field(default=None, metadata={"help": "run folder suffix; default: <suite>-<mode>"})
    resume: str | None = field(default=None, metadata={"help": "finish a run folder that was stopped half-way (its saved settings are used)"})
    weights: str | None = field(default=None, metadata={"help": "an EM, ES or GRPO training run folder (its last checkpoint) or one of its checkpoints (RUN/checkpoints/iter-3, RUN/checkpoints/checkpoint-20): evaluate --model with those trained weights (a LoRA run's adapters on top, unmerged, as trained)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'code' or 'direct', not {self.mode!r}")
        if self.n is not None and self.n < 1:
            raise ValueError(f"n ({self.n}) must be at least 1 (or unset for the whole suite)")


@dataclasses.dataclass
class BenchSetup:
    """Everything a benchmark run reads, one section per part (``latentcode.config``)."""
    bench: BenchConfig = field(default_factory=BenchConfig)
    model: ModelArgs = field(default_factory=ModelArgs)
    task: TaskConfig = field(default_factory=TaskConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


def make_expert(setup: BenchSetup, model, tok):
    """The expert the mode names, built from the setup's sections."""
    if setup.bench.mode == "code":
        return CodeExpert(model, tok, setup.expert, prompt=setup.prompt, sandbox_config=setup.sandbox)
    return DirectExpert(model, tok, setup.expert, prompt=setup.prompt)


def run_bench(setup: BenchSetup, progress: bool | None = None) -> Run:
    import torch  # here, not at the top: start-up cost
    from tqdm import tqdm  # here, not at the top: start-up cost

    cfg = setup.bench
    if setup.model.use_peft:
        raise ValueError("use_peft (--lora) applies to training; bench evaluates the model as loaded "
                         "(a trained run's weights: --weights RUN)")
    if cfg.resume is not None:
        run = Run.open(cfg.resume)
        saved = run.config
        if saved.get("kind", "bench") != "bench" or "bench" not in saved:
            raise ValueError(f"{cfg.resume} is not a benchmark run folder; pass one `latentcode bench` wrote")
        setup = from_dict(BenchSetup, {k: v for k, v in saved.items() if k in _SECTIONS})
        setup.bench.resume, setup.bench.quiet = cfg.resume, cfg.quiet
        cfg = setup.bench
        run.drop_partial(setup.expert.num_samples)
    from latentcode.checkpoints import WarmStart  # here, not at the top: start-up cost
    # read before a run folder is made: a wrong path or another model's run fails here
    trained = WarmStart(cfg.weights, setup.model, flag="weights") if cfg.weights else None
    task = setup.task
    tasks = load_suite(task.suite, n=cfg.n, seed=task.task_seed, difficulty=task.difficulty)
    if cfg.resume is None:
        run = Run.create(cfg.runs_dir, cfg.name or f"{task.suite}-{cfg.mode}",
                         {"kind": "bench", **to_dict(setup), "tasks": len(tasks), "argv": sys.argv})
    k = setup.expert.num_samples
    done = run.completed_tasks(k)
    todo = [t for t in tasks if t.id not in done]
    torch.manual_seed(setup.expert.seed)
    model, tok = setup.model.load(device=cfg.device)
    if trained is not None:
        model = trained.apply(model)
    expert = make_expert(setup, model, tok)
    # a chunk is several batches' worth: the decoder keeps its batch full from the chunk's
    # queue, and only the chunk's last rows run in a thinning batch
    chunk = max(1, CHUNK_BATCHES * setup.expert.batch_size // k)
    show = not cfg.quiet if progress is None else progress
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=f"{task.suite} ({cfg.mode})",
               unit="q", disable=not show)
    for start in range(0, len(todo), chunk):
        batch = todo[start:start + chunk]
        t0 = time.perf_counter()
        samples = expert.solve(batch)
        rows = [s.to_dict() for ss in samples for s in ss]
        wall = time.perf_counter() - t0
        for r in rows:
            r["wall_s"] = wall / max(1, len(rows))
        run.append_samples(rows)
        bar.update(len(batch))
        firsts = [ss[0].correct for ss in samples]
        bar.set_postfix(acc=f"{sum(firsts)}/{len(firsts)}")
    bar.close()
    summary = summarize(run.samples())
    summary.update(model=setup.model.model, weights=cfg.weights, suite=task.suite, mode=cfg.mode, few_shot=setup.prompt.few_shot,
                   dtype=str(model.dtype).removeprefix("torch."), device=str(model.device),
                   batch_size=setup.expert.batch_size)
    run.write_json("summary.json", summary)
    return run


_SECTIONS = {f.name for f in dataclasses.fields(BenchSetup)}


def parse_setup(argv: list[str] | None = None) -> BenchSetup:
    """``--config bench.yaml`` and flags (``--suite gsm8k --samples 4``); flags win."""
    return parse(BenchSetup, argv, prog="latentcode bench",
                 description="Run a suite with the code expert (or direct answers); log every program.")


def main(argv: list[str] | None = None) -> int:
    run = run_bench(parse_setup(argv))
    print_summary(run)
    return 0


def format_summary(s: dict) -> str:
    k = s.get("k", 1)
    lines = [f"{s.get('suite')} | {s.get('mode')} | {s.get('model')}"
             + (f" ({s['dtype']} on {s['device']})" if s.get("dtype") else "")
             + f" | {s['questions']} questions x {k} samples",
             f"  accuracy (first sample) {s['accuracy']:.1%}   maj@{k} {s[f'maj@{k}']:.1%}   "
             f"pass@{k} {s[f'pass@{k}']:.1%}",
             "  status: " + ", ".join(f"{k_}={v}" for k_, v in s["status"].items())]
    if "mean_program_tokens" in s:
        lines.append(f"  mean program: {s['mean_program_tokens']:.0f} tokens, "
                     f"{s.get('mean_program_ast_nodes', 0):.0f} AST nodes, "
                     f"{s.get('mean_program_zlib_bits', 0):.0f} compressed bits; "
                     f"hard-coded answers {s['hardcoded_rate']:.1%}")
    tps, eps = s.get("tokens_per_s"), s.get("executions_per_s")
    lines.append(f"  generated {s['generated_tokens']} tokens"
                 + (f" at {tps:.0f} tokens/s" if tps else "")
                 + (f"; {s['executions']} executions at {eps:.0f}/s" if eps else ""))
    if len(s.get("by_family", {})) > 1:
        lines.append("  by family: " + ", ".join(f"{f} {a:.0%}" for f, a in s["by_family"].items()))
    return "\n".join(lines)


def print_summary(run: Run) -> None:
    s = json.loads((run.path / "summary.json").read_text())
    print(format_summary(s))
    print(f"  run folder: {run.path}")
