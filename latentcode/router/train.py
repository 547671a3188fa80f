"""``latentcode train router``: fit a router on labelled questions, evaluate it on held-out ones.

    latentcode bench --mode both --suite liststats --n 100 --runs-dir runs/router   # labels, once
    latentcode train router --labels runs/router/*-train-* --eval-labels runs/router/*-heldout-* \
        --form probe --objective ce --cost-weights 0 0.5 1 2

One gate is fitted per cost weight ``c`` (the utility ``correct - c * cost / 1000``,
``latentcode.router.costs``). The run folder holds ``gates.safetensors`` (every gate; for the
code slot also the upcycled MoE routers it shares a softmax with), ``report.json`` (per cost
weight, on the training and the held-out questions: the accuracy-cost curve, APGR, CPT, the
baselines, where each family goes), ``questions.jsonl`` (each held-out question: both paths'
outcomes and costs, p(code) under every gate) and ``metrics.jsonl`` (the fitting). Labels are
read, never recomputed: the paths ran once, in the label runs.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import field
from pathlib import Path
from typing import ClassVar

import torch

from latentcode.config import RunConfig, parse, setting, to_dict
from latentcode.models import ModelArgs
from latentcode.router.costs import CostConfig, utility
from latentcode.router.curves import report
from latentcode.router.features import QuestionStates, default_layers, read_questions
from latentcode.router.gates import FORMS, OBJECTIVES, fit, make_gate
from latentcode.router.labels import Outcome, read_labels
from latentcode.runs import Run


@dataclasses.dataclass
class RouterConfig:
    labels: list[str] = setting(None, "`latentcode bench --mode both` run folders: the training questions", factory=list)
    eval_labels: list[str] = setting(None, "`bench --mode both` run folders of held-out questions (families and number ranges never trained on)", factory=list)
    form: str = setting("probe", "probe: logistic regression on pooled hidden states; slot: one more logit in every MoE router")
    objective: str = setting("ce", "ce: cross-entropy on the better path; pg: policy gradient from the sampled path's outcome only")
    cost_weights: list[float] = setting(None, "c of the utility correct - c * cost / 1000: one gate each", factory=lambda: [0.0, 0.5, 1.0, 2.0])
    probe_layers: list[int] | None = setting(None, "hidden states the probe pools (0: embeddings; default: the middle and the last)")
    num_experts: int = setting(4, "slot: experts per upcycled MoE layer (every one a copy of the dense MLP)")
    top_k: int = setting(1, "slot: experts per token of the upcycled layers")
    steps: int = setting(300, "Adam steps per gate")
    batch_questions: int = setting(64, "training questions per step (0: all of them every step)")
    learning_rate: float = setting(0.01, "Adam learning rate")
    weight_decays: list[float] = setting(None, "L2 penalties on the gate's weights to choose from: each is fitted on four fifths of the training questions and the one with the best expected utility on the other fifth is refitted on all", factory=lambda: [1e-3, 1e-2, 1e-1])
    batch_size: int = setting(16, "prompts per forward pass when reading the questions")
    bootstrap: int = setting(1000, "bootstrap resamples of the held-out questions for APGR's interval")

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, not {self.form!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if not self.labels:
            raise ValueError("labels: pass the training questions' `latentcode bench --mode both` run folders "
                             "(--labels RUN [RUN ...])")
        if not self.weight_decays or any(w < 0 for w in self.weight_decays):
            raise ValueError(f"weight_decays ({self.weight_decays}) must be one or more numbers >= 0")
        if not self.cost_weights or any(c < 0 for c in self.cost_weights):
            raise ValueError(f"cost_weights ({self.cost_weights}) must be one or more numbers >= 0")
        if self.batch_questions < 0:
            raise ValueError(f"batch_questions ({self.batch_questions}) must be >= 0 (0: all questions every step)")
        for name in ("steps", "batch_size", "num_experts", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k ({self.top_k}) must be <= num_experts ({self.num_experts})")


@dataclasses.dataclass
class RouterSetup:
    """Everything ``latentcode train router`` reads; ``--seed`` (the run section) seeds the
    upcycled routers and the policy-gradient sampling."""
    KIND: ClassVar[str] = "router"  # what config.json records
    router: RouterConfig = field(default_factory=RouterConfig)
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelArgs = field(default_factory=ModelArgs)
    cost: CostConfig = field(default_factory=CostConfig)

    def __post_init__(self):
        if self.run.resume is not None:
            raise ValueError("a router run does not resume (it fits in minutes); leave out --resume")


def gate_name(c: float) -> str:
    return f"c{c:g}"


def prepare_model(model, config: RouterConfig, seed: int):
    """The model the router reads: itself for the probe; for the code slot, upcycled (its
    routers drawn with ``seed``) with a slot in every MoE layer."""
    if config.form != "slot":
        return model, ()
    from latentcode.moe.upcycle import add_slot, upcycle
    torch.manual_seed(seed)
    upcycle(model, num_experts=config.num_experts, top_k=config.top_k)
    return model, add_slot(model)


def direct_prompts(outcomes: list[Outcome], model, tok) -> tuple[list[str], list[str]]:
    """Each question's direct-path prompt (with its label run's worked examples)."""
    from latentcode.expert.direct_expert import DirectExpert
    from latentcode.expert.prompts import PromptConfig
    from tasks.base import Task
    experts: dict[int, DirectExpert] = {}
    prompts = []
    for o in outcomes:
        expert = experts.setdefault(o.few_shot, DirectExpert(model, tok, prompt=PromptConfig(few_shot=o.few_shot)))
        prompts.append(expert.prompt(Task(o.task_id, o.question, o.target, o.family)))
    return prompts, [o.question for o in outcomes]


def read_states(model, tok, outcomes, config: RouterConfig) -> QuestionStates:
    prompts, questions = direct_prompts(outcomes, model, tok)
    layers = (config.probe_layers or default_layers(model)) if config.form == "probe" else None
    return read_questions(model, tok, prompts, questions, layers=layers, slot=config.form == "slot",
                          batch_size=config.batch_size)


def utilities(outcomes: list[Outcome], costs: CostConfig, c: float) -> tuple[torch.Tensor, torch.Tensor]:
    u_code = torch.tensor([utility(o.code.correct, o.code.cost(costs), c) for o in outcomes])
    u_direct = torch.tensor([utility(o.direct.correct, o.direct.cost(costs), c) for o in outcomes])
    return u_code, u_direct


def evaluate(p: list[float], outcomes: list[Outcome], costs: CostConfig, bootstrap: int, seed: int) -> dict:
    return report(p, [o.code.correct for o in outcomes], [o.direct.correct for o in outcomes],
                  [o.code.cost(costs) for o in outcomes], [o.direct.cost(costs) for o in outcomes],
                  [o.family for o in outcomes], bootstrap=bootstrap, seed=seed)


def choose_weight_decay(config: RouterConfig, states, u_code: torch.Tensor, u_direct: torch.Tensor,
                        seed: int) -> tuple[float, dict]:
    """The penalty of ``config.weight_decays`` whose gate, fitted on 80% of the training
    questions, has the best expected utility p u_code + (1 - p) u_direct on the other 20%."""
    if len(config.weight_decays) == 1:
        return config.weight_decays[0], {}
    total = len(u_code)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    val, rest = order[:max(1, total // 5)].sort().values, order[max(1, total // 5):].sort().values
    fit_states, val_states = states.subset(rest), states.subset(val)
    scores = {}
    for wd in config.weight_decays:
        gate = make_gate(config.form, fit_states)
        fit(gate, fit_states, u_code[rest], u_direct[rest], objective=config.objective, steps=config.steps,
            lr=config.learning_rate, weight_decay=wd, seed=seed, batch_questions=config.batch_questions)
        with torch.no_grad():
            p = gate(val_states)
        scores[wd] = float((p * u_code[val] + (1 - p) * u_direct[val]).mean())
    return max(scores, key=scores.get), scores


def _check_labels_model(path, model: str) -> None:
    """Labels made by another model are refused: the router reads ``model``'s hidden states,
    and which path answers better is a property of the model that answered."""
    made_by = (Run.open(path).config.get("model") or {}).get("model_name_or_path")
    if isinstance(made_by, str) and made_by != model:
        raise ValueError(f"labels {path} were made by {made_by!r}, not {model!r} (the model whose hidden "
                         f"states the router reads); pass --model {made_by}, or make labels with --model {model}")


def train_router(setup: RouterSetup) -> Path:
    """Fit one gate per cost weight on the labelled training questions, report each on the
    held-out ones; returns the run folder."""
    from safetensors.torch import save_file
    config = setup.router
    train = read_labels(config.labels)  # checked before a model is loaded or a folder made
    heldout = read_labels(config.eval_labels) if config.eval_labels else []
    overlap = {o.task_id for o in train} & {o.task_id for o in heldout}
    if overlap:
        raise ValueError(f"eval_labels share {len(overlap)} questions with labels (e.g. {sorted(overlap)[0]}); "
                         "held-out questions must never be trained on")
    for path in [*config.labels, *(config.eval_labels or [])]:
        _check_labels_model(path, setup.model.model_name_or_path)
    model, tok = setup.model.load(device=setup.run.device)
    model, mlps = prepare_model(model, config, setup.run.seed)
    run = Run.create(setup.run.runs_dir, setup.run.run_name or f"router-{config.form}-{config.objective}",
                     {"kind": "router", **to_dict(setup), "train_questions": len(train),
                      "heldout_questions": len(heldout)})
    t0 = time.perf_counter()
    states = read_states(model, tok, train, config)
    held_states = read_states(model, tok, heldout, config) if heldout else None
    read_s = time.perf_counter() - t0
    tensors, reports = {}, {"train": {}, "heldout": {}}
    for i, m in enumerate(mlps):  # the routers the slot shares its softmax with
        tensors[f"moe.{i}.router.weight"] = m.moe.router.weight.detach().float().cpu().contiguous()
    probs = {}
    for c in config.cost_weights:
        _fit_gate(setup, c, (train, states), (heldout, held_states), run, tensors, reports, probs)
    save_file(tensors, str(run.path / "gates.safetensors"))
    rows = [{"task_id": o.task_id, "family": o.family, "suite": o.suite, "code_correct": o.code.correct,
             "direct_correct": o.direct.correct, "code_cost": o.code.cost(setup.cost),
             "direct_cost": o.direct.cost(setup.cost), "p_code": {n: p[i] for n, p in probs.items()}}
            for i, o in enumerate(heldout)]
    run.write_jsonl("questions.jsonl", rows)
    reports["read_s"] = read_s
    reports["questions_read"] = len(train) + len(heldout)
    run.write_json("report.json", reports)
    return run.path


def _fit_gate(setup: RouterSetup, c: float, training, held, run: Run, tensors: dict, reports: dict,
              probs: dict) -> None:
    """The gate for cost weight ``c``: its weight decay chosen on held-back training questions,
    fitted on all of them, reported on both splits; its tensors and held-out p(code) kept."""
    config, seed = setup.router, setup.run.seed
    (train, states), (heldout, held_states) = training, held
    name = gate_name(c)
    gate = make_gate(config.form, states)
    u_code, u_direct = utilities(train, setup.cost, c)
    t1 = time.perf_counter()
    wd, scores = choose_weight_decay(config, states, u_code, u_direct, seed)
    losses = fit(gate, states, u_code, u_direct, objective=config.objective, steps=config.steps,
                 lr=config.learning_rate, weight_decay=wd, seed=seed, batch_questions=config.batch_questions)
    fit_s = time.perf_counter() - t1
    with torch.no_grad():
        p_train = gate(states).tolist()
        reports["train"][name] = evaluate(p_train, train, setup.cost, 0, seed)
        reports["train"][name]["p_sorted"] = sorted(p_train, reverse=True)
        if held_states is not None:
            probs[name] = gate(held_states).tolist()
            reports["heldout"][name] = evaluate(probs[name], heldout, setup.cost, config.bootstrap, seed)
    for key, value in gate.state_dict().items():
        tensors[f"{name}.{key}"] = value.detach().float().cpu().contiguous()
    run.append_jsonl("metrics.jsonl", {"gate": name, "c": c, "weight_decay": wd,
                                       "validation_utility": {f"{k:g}": v for k, v in scores.items()},
                                       "loss_first": losses[0], "loss_last": losses[-1],
                                       "steps": len(losses), "fit_s": fit_s})


def format_report(path: Path) -> str:
    import json
    rep = json.loads((Path(path) / "report.json").read_text())
    lines = []
    for split in ("train", "heldout"):
        for name, r in rep[split].items():
            ci = r.get("apgr_ci95")
            apgr = "n/a" if r["apgr"] is None else f"{r['apgr']:.2f}" + (f" ({ci[0]:.2f}-{ci[1]:.2f})" if ci else "")
            lines.append(f"{split:8s} {name:6s} APGR {apgr}  CPT50 {r['cpt50']}  CPT80 {r['cpt80']}  "
                         f"code {r['always_code']['accuracy']:.1%} direct {r['always_direct']['accuracy']:.1%} "
                         f"oracle {r['oracle']['accuracy']:.1%}  at 0.5: {r['at_threshold']['accuracy']:.1%} "
                         f"with {r['at_threshold']['share']:.0%} code")
    return "\n".join(lines)


def parse_setup(argv: list[str] | None = None) -> RouterSetup:
    return parse(RouterSetup, argv, prog="latentcode train router",
                 description="Fit a router (code expert or direct answer, per question) on labelled questions")


def main(argv: list[str] | None = None) -> int:
    path = train_router(parse_setup(argv))
    print(format_report(path))
    print(f"  run folder: {path}")
    return 0
