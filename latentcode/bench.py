"""`latentcode bench`: run a suite with the code expert (or direct answers), log everything.

    run = run_bench(BenchConfig(model="smollm2-135m", suite="liststats", n=50, samples=4))
    run.path / "summary.json"

Questions go through in chunks of ``batch_size // samples``; each chunk's samples are
appended to samples.jsonl as soon as they are graded, so a killed run loses at most one
chunk and ``resume`` picks up where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import field
import sys
import time
from pathlib import Path

from latentcode.expert.code_expert import CodeExpert, ExpertConfig
from latentcode.metrics import summarize
from latentcode.models import load_model
from latentcode.runs import Run
from tasks.suites import load_suite


@dataclasses.dataclass
class BenchConfig:
    model: str = field(default="smollm2-135m", metadata={"help": "hub id, local folder, smollm2-135m or tiny"})
    suite: str = field(default="liststats", metadata={"help": "a dataset (gsm8k, svamp, mawps, countdown, humaneval, mbpp) or a generated family"})
    n: int | None = field(default=20, metadata={"help": "questions: the first n of a dataset, or n generated with --seed"})
    samples: int = field(default=1, metadata={"help": "completions per question (maj@k, pass@k)"})
    mode: str = field(default="code", metadata={"help": "code: write a program; direct: answer in text"})
    few_shot: int = field(default=0, metadata={"help": "PAL-style worked examples in the prompt (0-3)"})
    max_new_tokens: int = field(default=320, metadata={"help": "token limit per completion"})
    temperature: float | None = field(default=None, metadata={"help": "default: greedy for 1 sample, 0.7 for several"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling mass when sampling"})
    batch_size: int = field(default=16, metadata={"help": "completions generated together"})
    timeout_s: float = field(default=2.0, metadata={"help": "sandbox wall-clock limit per program"})
    memory_mb: int = field(default=256, metadata={"help": "sandbox memory limit per program"})
    difficulty: int = field(default=1, metadata={"help": "difficulty of generated suites"})
    seed: int = field(default=0, metadata={"help": "seed for generated suites and sampling"})
    device: str | None = field(default=None, metadata={"help": "default: cuda if available, else cpu"})
    dtype: str | None = field(default=None, metadata={"help": "default: bf16 on cuda, float32 on cpu"})
    runs_dir: str = field(default="runs", metadata={"help": "where run folders are written"})
    name: str | None = field(default=None, metadata={"help": "run folder suffix; default: <suite>-<mode>"})


def expert_config(cfg: BenchConfig):
    return ExpertConfig(mode=cfg.mode, num_samples=cfg.samples, max_new_tokens=cfg.max_new_tokens,
                        temperature=cfg.temperature, top_p=cfg.top_p, batch_size=cfg.batch_size,
                        few_shot=cfg.few_shot, timeout_s=cfg.timeout_s, memory_mb=cfg.memory_mb,
                        seed=cfg.seed)


def run_bench(cfg: BenchConfig, resume: str | Path | None = None, progress: bool = True) -> Run:
    import torch  # here, not at the top: start-up cost
    from tqdm import tqdm  # here, not at the top: start-up cost


    expert_cfg = expert_config(cfg)  # validates the config before anything slow happens
    if resume is not None:
        run = Run.open(resume)
        cfg = BenchConfig(**run.config["bench"])
        expert_cfg = expert_config(cfg)
        run.drop_partial(cfg.samples)
    tasks = load_suite(cfg.suite, n=cfg.n, seed=cfg.seed, difficulty=cfg.difficulty)
    if resume is None:
        run = Run.create(cfg.runs_dir, cfg.name or f"{cfg.suite}-{cfg.mode}",
                         {"bench": dataclasses.asdict(cfg), "expert": dataclasses.asdict(expert_cfg),
                          "tasks": len(tasks), "argv": sys.argv})
    done = run.completed_tasks(cfg.samples)
    todo = [t for t in tasks if t.id not in done]
    torch.manual_seed(cfg.seed)
    model, tok = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    expert = CodeExpert(model, tok, expert_cfg)
    chunk = max(1, cfg.batch_size // cfg.samples)
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=f"{cfg.suite} ({cfg.mode})",
               unit="q", disable=not progress)
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
    summary.update(model=cfg.model, suite=cfg.suite, mode=cfg.mode, few_shot=cfg.few_shot)
    run.write_json("summary.json", summary)
    return run


def format_summary(s: dict) -> str:
    k = s.get("k", 1)
    lines = [f"{s.get('suite')} | {s.get('mode')} | {s.get('model')} | "
             f"{s['questions']} questions x {k} samples",
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
