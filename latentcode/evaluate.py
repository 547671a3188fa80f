"""`latentcode bench`: run a suite with the code expert (or direct answers), log everything.

    run = run_bench(compose(BenchSetup, model="smollm2-135m", suite="liststats", n=50, samples=4))
    run.path / "summary.json"
    python -m latentcode bench --config bench.yaml --samples 4    # flags override the file

Questions go through in chunks of ``4 * batch_size // samples``. With one path (code or
direct) a question is graded and its samples appended to samples.jsonl as its last completion
ends, while the others decode; both paths and routed runs append a chunk at a time. A killed
run keeps what was saved and ``resume`` picks up where it stopped.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import field
import time
from pathlib import Path
from typing import ClassVar


from latentcode.config import RunConfig, fill_from_run, from_dict, parse, setting, to_dict
from latentcode.expert.base import ExpertConfig
from latentcode.expert.code_expert import CodeExpert
from latentcode.expert.direct_expert import DirectExpert
from latentcode.expert.prompts import PromptConfig
from latentcode.metrics import summarize
from latentcode.models import ModelArgs, resolve_device
from latentcode.runs import Run
from sandbox.config import SandboxConfig
from tasks.config import TaskConfig
from tasks.suites import is_file_suite, load_suite


MODES = ("code", "direct", "both", "routed")
CHUNK_BATCHES = 4  # questions per chunk (samples appended, progress shown): this many batches


@dataclasses.dataclass
class BenchConfig:
    """The benchmark loop's own settings; the model, tasks, prompt, sampling and sandbox are
    the other sections of ``BenchSetup``."""
    n: int | None = setting(20, "questions: the first n of a dataset, or n generated with --task-seed")
    mode: str = setting("code", "code: write a program (CodeExpert); direct: answer in text (DirectExpert); both: each question by both paths (a router's labels); routed: the path --router picks")
    weights: str | None = setting(None, "an EM, ES or GRPO training run folder (its last checkpoint) or one of its checkpoints (RUN/checkpoints/iter-3, RUN/checkpoints/checkpoint-20): evaluate --model with those trained weights (a LoRA run's adapters on top, unmerged, as trained)")
    router: str | None = setting(None, "mode routed: a `latentcode train router` run folder")
    cost_weight: float | None = setting(None, "mode routed: the router's gate for this cost weight (default: its first)")
    code_share: float | None = setting(None, "mode routed: send about this share of questions to code (a threshold from the router's training questions) instead of the gate's 0.5")

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if (self.mode == "routed") != (self.router is not None):
            raise ValueError("--mode routed needs --router RUN (a `latentcode train router` run folder), "
                             "and --router applies only to --mode routed")
        if self.mode != "routed" and (self.cost_weight is not None or self.code_share is not None):
            raise ValueError("--cost-weight and --code-share apply only to --mode routed")
        if self.n is not None and self.n < 1:
            raise ValueError(f"n ({self.n}) must be at least 1 (or unset for the whole suite)")


@dataclasses.dataclass
class BenchSetup:
    """Everything a benchmark run reads, one section per part (``latentcode.config``)."""
    KIND: ClassVar[str] = "bench"  # what config.json records; resume refuses other kinds
    bench: BenchConfig = field(default_factory=BenchConfig)
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelArgs = field(default_factory=ModelArgs)
    task: TaskConfig = field(default_factory=TaskConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    def __post_init__(self):
        fill_from_run(self)  # --seed is the sampler's seed


def make_expert(setup: BenchSetup, model, tok, path: str | None = None):
    """The expert of ``path`` (default: the mode's), built from the setup's sections."""
    if (path or setup.bench.mode) == "code":
        return CodeExpert(model, tok, setup.expert, prompt=setup.prompt, sandbox_config=setup.sandbox)
    return DirectExpert(model, tok, setup.expert, prompt=setup.prompt)


def _rows(samples, path: str | None = None, **extra) -> list[dict]:
    rows = []
    for i, ss in enumerate(samples):
        for s in ss:
            r = s.to_dict()
            if path is not None:
                r["path"] = path
            r.update({k: v[i] for k, v in extra.items()})
            rows.append(r)
    return rows


def _code_and_direct(experts: dict, code_tasks: list, direct_tasks: list) -> tuple[list, list]:
    """Both paths' samples; the code path's programs run in the sandbox (CPU processes) while
    the direct path generates, instead of after it."""
    from concurrent.futures import ThreadPoolExecutor
    code = experts["code"]
    gens, gen_s = code.generate_for(code_tasks)
    with ThreadPoolExecutor(1) as pool:
        graded = pool.submit(code.grade_generations, code_tasks, gens, gen_s) if code_tasks else None
        direct = experts["direct"].solve(direct_tasks) if direct_tasks else []
        return (graded.result() if graded is not None else []), direct


def _solve_streaming(expert, batch, save) -> None:
    """One path's chunk: each question is graded and ``save(rows)`` called as its last
    completion ends, in a worker thread while the others decode, so a killed run keeps every
    question finished so far. The grader has its own tokenizer: a fast tokenizer is not shared
    safely between threads (the decoder's `finished` check decodes with the expert's)."""
    from concurrent.futures import ThreadPoolExecutor
    grader = copy.copy(expert)
    grader.tokenizer = copy.deepcopy(expert.tokenizer)
    t0, generated, futures = time.perf_counter(), [0], []

    def finished(i, gens):
        generated[0] += len(gens)
        gen_s = (time.perf_counter() - t0) / generated[0]  # seconds per completion so far
        futures.append(pool.submit(lambda: save(_rows(grader.grade_generations([batch[i]], [gens], gen_s)))))

    # leaving the block waits for the grading already queued, also on Ctrl-C: what finished is saved
    with ThreadPoolExecutor(1) as pool:
        expert.generate([expert.prompt(t) for t in batch], on_prompt=finished)
    for f in futures:
        f.result()  # a grading error surfaces here


def _solve_chunk(setup: BenchSetup, experts: dict, router, model, tok, batch) -> list[dict]:
    """The rows of one chunk of questions, in question order (both paths: code rows first)."""
    mode = setup.bench.mode
    if mode in ("code", "direct"):
        return _rows(experts[mode].solve(batch))
    if mode == "both":
        code, direct = _code_and_direct(experts, batch, batch)
        return _rows(code, "code") + _rows(direct, "direct")
    p, router_s = router.probabilities(model, tok, batch, setup.prompt)
    routes = router.routes(p)
    to_code = [i for i, r in enumerate(routes) if r]
    to_direct = [i for i, r in enumerate(routes) if not r]
    code, direct = _code_and_direct(experts, [batch[i] for i in to_code], [batch[i] for i in to_direct])
    answers = dict(zip(to_code, code)) | dict(zip(to_direct, direct))
    return [row for i in range(len(batch)) for row in _rows(
        [answers[i]], "code" if routes[i] else "direct", p_code=[p[i]],
        threshold=[router.threshold if abs(router.threshold) != float("inf") else None],
        router_s=[router_s / len(batch)])]


def run_bench(setup: BenchSetup, progress: bool | None = None) -> Run:
    """Solve the suite's questions (those a resumed run lacks), appending every sample to the
    run folder, then write summary.json; returns the run."""
    import torch
    from tqdm import tqdm

    setup, run = _resumed(setup)
    cfg, run_config, k = setup.bench, setup.run, setup.expert.num_samples
    tasks, model, tok, router = _load(setup)  # before a run folder exists: what fails, fails here
    if run is None:
        suite = setup.task.suite
        name = run_config.run_name or f"{Path(suite).stem if is_file_suite(suite) else suite}-{cfg.mode}"
        run = Run.create(run_config.runs_dir, name, {"kind": "bench", **to_dict(setup), "tasks": len(tasks)})
    per_question = 2 * k if cfg.mode == "both" else k
    done = run.completed_tasks(per_question)
    todo = [t for t in tasks if t.id not in done]
    torch.manual_seed(setup.expert.seed)
    paths = ("code", "direct") if cfg.mode in ("both", "routed") else (cfg.mode,)
    # the direct path gets its own tokenizer: it decodes while the code path's grading (another
    # thread, _code_and_direct) tokenizes programs, and a fast tokenizer is not shared safely
    experts = {path: make_expert(setup, model, tok if path == "code" else copy.deepcopy(tok), path)
               for path in paths}
    # a chunk is several batches' worth: the decoder keeps its batch full from the chunk's
    # queue, and only the chunk's last rows run in a thinning batch
    chunk = max(1, CHUNK_BATCHES * setup.expert.batch_size // k)
    # the bar moves as each completion ends; its accuracy (first samples; both paths: the code
    # path's) covers every question graded so far, resumed ones included
    bar = tqdm(total=len(tasks) * per_question, initial=(len(tasks) - len(todo)) * per_question,
               desc=f"{setup.task.suite} ({cfg.mode})", unit="gen",
               disable=not (not run_config.quiet if progress is None else progress))
    for expert in experts.values():
        expert.on_generated = lambda: bar.update(1)
    save = _saver(run, bar, cfg.mode)
    for start in range(0, len(todo), chunk):
        batch = todo[start:start + chunk]
        if cfg.mode in ("code", "direct"):  # saved question by question
            _solve_streaming(experts[cfg.mode], batch, save)
        else:  # both paths, or routed: saved chunk by chunk
            save(_solve_chunk(setup, experts, router, model, tok, batch))
    bar.close()
    for expert in experts.values():
        expert.on_generated = None
    _write_summary(run, setup, model)
    return run


def _resumed(setup: BenchSetup) -> tuple[BenchSetup, Run | None]:
    """(the setup to run, the run folder to finish or None): a resumed run's own settings,
    its partly answered questions dropped."""
    run_config = setup.run
    if run_config.device is not None:
        resolve_device(run_config.device)  # a device this machine lacks: one line, before anything loads
    if setup.model.use_peft:
        raise ValueError("use_peft (--lora) applies to training; bench evaluates the model as loaded "
                         "(a trained run's weights: --weights RUN)")
    if run_config.resume is None:
        return setup, None
    run = Run.open(run_config.resume)
    saved = run.config
    if saved.get("kind", "bench") != "bench" or "bench" not in saved:
        raise ValueError(f"{run_config.resume} is not a benchmark run folder; pass one `latentcode bench` wrote")
    setup = from_dict(BenchSetup, {k: v for k, v in saved.items() if k in _SECTIONS})
    setup.run.resume, setup.run.quiet = run_config.resume, run_config.quiet
    run.drop_partial(setup.expert.num_samples * (2 if setup.bench.mode == "both" else 1))
    return setup, run


def _load(setup: BenchSetup):
    """(tasks, model, tokenizer, router or None): the trained weights and the router's gate in
    the model, so a run's weights or gate that do not fit fail before a run folder is made."""
    from latentcode.checkpoints import WarmStart
    cfg, task = setup.bench, setup.task
    trained = WarmStart(cfg.weights, setup.model, flag="weights") if cfg.weights else None
    router = None
    if cfg.mode == "routed":
        from latentcode.router.routed import TrainedRouter
        router = TrainedRouter(cfg.router, setup.model, cost_weight=cfg.cost_weight, code_share=cfg.code_share)
    tasks = load_suite(task.suite, n=cfg.n, seed=task.task_seed, difficulty=task.difficulty,
                       wording=task.wording)
    model, tok = setup.model.load(device=setup.run.device)
    if trained is not None:
        model = trained.apply(model)
    if router is not None:
        model = router.prepare(model)
    return tasks, model, tok, router


def _saver(run: Run, bar, mode: str):
    """save(rows): append them to samples.jsonl, each with its share of the wall time since the
    last save, and show the accuracy so far on the bar."""
    def firsts(rows):
        return [r["correct"] for r in rows if r["index"] == 0 and (mode != "both" or r["path"] == "code")]

    graded = firsts(run.samples())
    last = [time.perf_counter()]

    def save(rows):
        now = time.perf_counter()
        for r in rows:  # the wall time since the rows saved before them, shared out
            r["wall_s"] = (now - last[0]) / max(1, len(rows))
        last[0] = now
        run.append_samples(rows)
        graded.extend(firsts(rows))
        if graded:
            bar.set_postfix_str(f"accuracy {sum(graded)}/{len(graded)} = {sum(graded) / len(graded):.1%}")
    return save


def _write_summary(run: Run, setup: BenchSetup, model) -> None:
    cfg = setup.bench
    summary = summarize_run(run.samples(), cfg.mode)
    summary.update(model=setup.model.model, weights=cfg.weights, suite=setup.task.suite, mode=cfg.mode,
                   few_shot=setup.prompt.few_shot, dtype=str(model.dtype).removeprefix("torch."),
                   device=str(model.device), batch_size=setup.expert.batch_size, router=cfg.router)
    run.write_json("summary.json", summary)


def summarize_run(rows: list[dict], mode: str) -> dict:
    """The run's summary; with both paths, each path's too and the oracle (the better path
    per question); routed, the share sent to code and the router's seconds."""
    if mode not in ("both", "routed"):
        return summarize(rows)
    paths = {p: [r for r in rows if r.get("path") == p] for p in ("code", "direct")}
    if mode == "routed":
        out = summarize(rows)
        firsts = [r for r in rows if r["index"] == 0]
        out["code_share"] = sum(r.get("path") == "code" for r in firsts) / max(1, len(firsts))
        out["router_s"] = sum(r.get("router_s", 0.0) for r in firsts)
        out["paths"] = {p: summarize(v) for p, v in paths.items() if v}
        return out
    out = summarize(paths["code"])
    out["paths"] = {p: summarize(v) for p, v in paths.items()}
    right = {}
    for r in rows:
        if r["index"] == 0:
            right[r["task_id"]] = right.get(r["task_id"], False) or bool(r["correct"])
    out["oracle_accuracy"] = sum(right.values()) / max(1, len(right))
    return out


_SECTIONS = {f.name for f in dataclasses.fields(BenchSetup)}


def parse_setup(argv: list[str] | None = None) -> BenchSetup:
    """``--config bench.yaml`` and flags (``--suite gsm8k --samples 4``); flags win."""
    return parse(BenchSetup, argv, prog="latentcode bench",
                 description="Run a suite with the code expert (or direct answers); log every program.")


# settings a resumed benchmark may be given anew: they do not change what it computes
_RESUMABLE = {"resume", "quiet", "device", "runs_dir", "run_name"}


def main(argv: list[str] | None = None) -> int:
    setup = parse_setup(argv)
    if setup.run.resume is not None:  # a flag that differs from the run's would be ignored: refuse it
        from latentcode.checkpoints import check_resumable
        run = Run.open(setup.run.resume)
        check_resumable(run.config, setup, "bench", setup.run.resume, _RESUMABLE, untagged=True)
    run = run_bench(setup)
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
    if s.get("check_unknown") or s.get("reask_shortfall"):
        lines.append(f"  hard-coding check: {s.get('check_unknown', 0)} unknown (a re-ask out of time), "
                     f"{s.get('reask_shortfall', 0)} checked on fewer re-asks than wanted")
    tps, eps = s.get("tokens_per_s"), s.get("executions_per_s")
    lines.append(f"  generated {s['generated_tokens']} tokens"
                 + (f" at {tps:.0f} tokens/s" if tps else "")
                 + (f"; {s['executions']} executions at {eps:.0f}/s" if eps else ""))
    if len(s.get("by_family", {})) > 1:
        lines.append("  by family: " + ", ".join(f"{f} {a:.0%}" for f, a in s["by_family"].items()))
    if s.get("paths") and s.get("mode") == "both":
        direct = s["paths"]["direct"]
        lines.append(f"  direct path: accuracy {direct['accuracy']:.1%}, {direct['generated_tokens']} tokens; "
                     f"better path per question (oracle) {s['oracle_accuracy']:.1%}")
    if s.get("mode") == "routed":
        lines.append(f"  routed: {s['code_share']:.0%} of questions to code; router {s['router_s']:.1f} s")
    return "\n".join(lines)


def print_summary(run: Run) -> None:
    s = json.loads((run.path / "summary.json").read_text())
    print(format_summary(s))
    print(f"  run folder: {run.path}")
