"""The router (latentcode/router): a tiny model whose code path is right on one family and whose
direct path is right on another; labels from real `bench --mode both` runs; the router must
learn the split from the model's hidden states, in both forms and with both objectives; the
code slot leaves the MoE layers' FFN routing unchanged; the curve metrics on known cases."""
from __future__ import annotations

import copy
import json
import random

import pytest
import torch

from conftest import fit_replies
from latentcode import evaluate as bench_module
from latentcode.evaluate import BenchSetup, run_bench
from latentcode.config import compose
from latentcode.router import curves
from latentcode.router.labels import read_labels
from latentcode.router.train import RouterSetup, train_router
from tasks.base import Task

pytestmark = pytest.mark.usefixtures("one_thread")

CODE_REPLY = "```python\nprint(1 + 2)\n```"
DIRECT_REPLY = "Answer: 7\n"


def questions(seed: int) -> list[Task]:
    """seed 0: training questions; 1: held-out ones (other case numbers, more threes)."""
    threes = [Task(f"threes/{seed}-{i}", f"What is 1 + 2? (case {seed}{i})", "3", "threes") for i in range(6)]
    sevens = [Task(f"sevens/{seed}-{i}", f"What is 3 + 4? (case {seed}{i})", "7", "sevens")
              for i in range(6 if seed == 0 else 4)]
    return [t for pair in zip(threes, sevens) for t in pair] + threes[len(sevens):]


@pytest.fixture(scope="module")
def split_model(tmp_path_factory):
    """A tiny model fitted to answer every code prompt with print(1 + 2) (right on 'threes') and
    every direct prompt with 'Answer: 7' (right on 'sevens')."""
    from latentcode.expert.code_expert import CodeExpert
    from latentcode.expert.direct_expert import DirectExpert
    from latentcode.models import load_model
    folder = tmp_path_factory.mktemp("split")
    torch.manual_seed(0)
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    tasks = questions(0) + questions(1)
    pairs = [(CodeExpert(model, tok).prompt(t), CODE_REPLY) for t in tasks] + \
            [(DirectExpert(model, tok).prompt(t), DIRECT_REPLY) for t in tasks]
    fit_replies(model, tok, pairs, 80)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def bench(model, tmp_path, seed, name, monkeypatch, **kw):
    monkeypatch.setattr(bench_module, "load_suite", lambda *a, seed=0, **k: questions(seed))
    setup = compose(BenchSetup, model=model, task_seed=seed, max_new_tokens=16, dtype="float32",
                    runs_dir=str(tmp_path), name=name, quiet=True, **kw)
    return run_bench(setup).path


@pytest.fixture(scope="module")
def labels(split_model, tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("labels")
    try:
        return (bench(split_model, folder, 0, "train", monkeypatch, mode="both"),
                bench(split_model, folder, 1, "heldout", monkeypatch, mode="both"))
    finally:
        monkeypatch.undo()


def test_both_paths_are_labelled(labels):
    train = read_labels([labels[0]])
    assert len(train) == 12
    assert all(o.code.correct == (o.family == "threes") for o in train)
    assert all(o.direct.correct == (o.family == "sevens") for o in train)
    assert all(o.code.gen_tokens > 0 and o.code.prompt_tokens > o.direct.prompt_tokens * 0 for o in train)
    assert all(o.code.status == "ok" and o.direct.status == "direct" for o in train)
    summary = json.loads((labels[0] / "summary.json").read_text())
    assert summary["oracle_accuracy"] == 1.0 and summary["paths"]["direct"]["accuracy"] == 0.5


def router(model, labels, tmp_path, **kw):
    kw.setdefault("weight_decays", [1e-3])
    setup = compose(RouterSetup, model=model, labels=[str(labels[0])], eval_labels=[str(labels[1])],
                    dtype="float32", device="cpu", cost_weights=[0.0], runs_dir=str(tmp_path),
                    bootstrap=50, **kw)
    path = train_router(setup)
    return path, json.loads((path / "report.json").read_text())["heldout"]["c0"]


@pytest.mark.parametrize("form,objective,steps,lr", [("probe", "ce", 200, 0.05), ("probe", "pg", 400, 0.05),
                                                     ("slot", "ce", 300, 0.05)])
def test_the_router_learns_the_split(split_model, labels, tmp_path, form, objective, steps, lr):
    choose = {"weight_decays": [1e-3, 1e-1]} if (form, objective) == ("probe", "ce") else {}
    path, held = router(split_model, labels, tmp_path, form=form, objective=objective, steps=steps,
                        learning_rate=lr, **choose)
    # held out: 6 threes (code right) and 4 sevens (direct right)
    assert held["always_code"]["accuracy"] == 0.6 and held["always_direct"]["accuracy"] == 0.4
    assert held["oracle"]["accuracy"] == 1.0
    assert held["by_family"]["threes"]["code_share"] == 1.0
    assert held["by_family"]["sevens"]["code_share"] == 0.0
    assert held["at_threshold"]["accuracy"] == 1.0
    assert held["apgr"] > 0.9 and held["cpt50"] <= 0.4
    if form == "probe" and objective == "ce":  # the penalty was chosen on held-back training questions
        metrics = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        assert set(metrics[0]["validation_utility"]) == {"0.001", "0.1"}
        assert metrics[0]["weight_decay"] in (0.001, 0.1)
    rows = [json.loads(line) for line in (path / "questions.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and all((r["p_code"]["c0"] >= 0.5) == (r["family"] == "threes") for r in rows)
    # loaded for answering, the router scores the held-out questions as it did when evaluated
    # (the code slot: read from the MoE routers' own slot probabilities in the forward pass)
    from latentcode.expert.prompts import PromptConfig
    from latentcode.models import ModelArgs, load_model
    from latentcode.router.routed import TrainedRouter
    trained = TrainedRouter(path, ModelArgs(model_name_or_path=split_model))
    model, tok = load_model(split_model, device="cpu", dtype="float32")
    p, _ = trained.probabilities(trained.prepare(model), tok, questions(1), PromptConfig())
    expected = {r["task_id"]: r["p_code"]["c0"] for r in rows}
    assert p == pytest.approx([expected[t.id] for t in questions(1)], abs=2e-3)


def test_bench_routed_answers_with_the_chosen_path(split_model, labels, tmp_path, monkeypatch, capsys):
    path, _ = router(split_model, labels, tmp_path / "r", form="probe", steps=200, learning_rate=0.05)
    run = bench(split_model, tmp_path, 1, "routed", monkeypatch, mode="routed", router=str(path))
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in rows] == [t.id for t in questions(1)]
    assert all(r["path"] == ("code" if r["family"] == "threes" else "direct") for r in rows)
    assert all(r["correct"] and 0 <= r["p_code"] <= 1 and r["threshold"] == 0.5 for r in rows)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["accuracy"] == 1.0 and summary["code_share"] == 0.6
    # inspect shows the route and filters by it
    from latentcode.cli import main as cli_main
    capsys.readouterr()
    assert cli_main(["inspect", str(run), "--path", "code", "--no-color"]) == 0
    heads = [line for line in capsys.readouterr().out.splitlines() if line.startswith("===")]
    assert len(heads) == sum(r["path"] == "code" for r in rows) > 0
    assert all(" route=code p_code=" in h and "[threes]" in h for h in heads)
    # a target share instead of the gate's 0.5: none, or all, to code
    none = bench(split_model, tmp_path, 1, "none", monkeypatch, mode="routed", router=str(path), code_share=0.0)
    assert json.loads((none / "summary.json").read_text())["code_share"] == 0.0
    every = bench(split_model, tmp_path, 1, "all", monkeypatch, mode="routed", router=str(path), code_share=1.0)
    assert json.loads((every / "summary.json").read_text())["code_share"] == 1.0


def test_bench_refuses_router_flags_out_of_place(tmp_path):
    with pytest.raises(ValueError, match="--mode routed needs --router"):
        compose(BenchSetup, mode="routed")
    with pytest.raises(ValueError, match="applies only to --mode routed"):
        compose(BenchSetup, mode="code", router="somewhere")
    with pytest.raises(ValueError, match="apply only to --mode routed"):
        compose(BenchSetup, mode="code", code_share=0.5)


def test_a_router_of_another_model_is_refused(split_model, labels, tmp_path):
    from latentcode.models import ModelArgs
    from latentcode.router.routed import TrainedRouter
    path, _ = router(split_model, labels, tmp_path, form="probe", steps=5)
    with pytest.raises(ValueError, match="pass --model"):
        TrainedRouter(path, ModelArgs(model_name_or_path="tiny"))
    with pytest.raises(ValueError, match="has gates for 0, not 3"):
        TrainedRouter(path, ModelArgs(model_name_or_path=split_model), cost_weight=3.0)
    with pytest.raises(ValueError, match="not a `latentcode train router` run folder"):
        TrainedRouter(labels[0], ModelArgs(model_name_or_path=split_model))


# the code slot ----------------------------------------------------------------------------------

def test_the_code_slot_leaves_the_ffn_unchanged_and_is_what_the_gate_reads():
    from latentcode.models import load_model
    from latentcode.moe.upcycle import add_slot, upcycle
    from latentcode.router.features import read_questions
    from latentcode.router.gates import SlotGate
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    torch.manual_seed(0)
    moe = upcycle(copy.deepcopy(model), num_experts=4, top_k=2)
    ids = tok(["What is 1 + 2?", "What is the median of [1, 5, 2]?"], return_tensors="pt", padding=True)
    before = moe(**ids).logits
    mlps = add_slot(moe)
    with torch.no_grad():  # a slot with weight: it must still change nothing the FFN computes
        for m in mlps:
            m.slot.weight.normal_()
            m.slot.bias.fill_(3.0)
    torch.testing.assert_close(moe(**ids).logits, before, rtol=0, atol=0)
    torch.testing.assert_close(before, model(**ids).logits, rtol=1e-5, atol=1e-5)
    # the slot's probability per token is the gate's: read from the routers' inputs
    gate = SlotGate(len(mlps), 64)
    with torch.no_grad():
        gate.weight.normal_(std=0.3)
        gate.bias.uniform_(-1, 1)
    gate.into(mlps)
    question = "What is 1 + 2?"
    states = read_questions(moe, tok, [question], [question], slot=True)
    moe(**tok([question], return_tensors="pt"))
    live = torch.stack([m.slot_probs for m in mlps]).mean(0)  # every token is the question's
    torch.testing.assert_close(gate.token_probs(states), live, rtol=2e-2, atol=2e-3)  # bf16 inputs


def test_reading_after_the_shared_prefix_gives_the_same_states():
    """The prompts' shared start (system prompt, worked examples) runs once per chunk; the
    question tokens' states, and so p(code), are the full forward's up to float rounding."""
    from latentcode.expert.direct_expert import DirectExpert
    from latentcode.expert.prompts import PromptConfig
    from latentcode.models import load_model
    from latentcode.moe.upcycle import add_slot, upcycle
    from latentcode.router.features import read_questions, slot_probabilities
    from latentcode.router.gates import SlotGate
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    torch.manual_seed(0)
    expert = DirectExpert(model, tok, prompt=PromptConfig(few_shot=2))
    tasks = questions(1)
    prompts, qs = [expert.prompt(t) for t in tasks], [t.prompt for t in tasks]
    shared = read_questions(model, tok, prompts, qs, layers=[1, 2], batch_size=4)
    full = read_questions(model, tok, prompts, qs, layers=[1, 2], batch_size=4, share_prefix=False)
    torch.testing.assert_close(shared.pooled, full.pooled, rtol=1e-4, atol=1e-4)
    moe = upcycle(copy.deepcopy(model), num_experts=4, top_k=2)
    mlps = add_slot(moe)
    gate = SlotGate(len(mlps), 64)
    with torch.no_grad():
        gate.weight.normal_(std=0.3)
        gate.bias.uniform_(-1, 1)
    gate.into(mlps)
    a, _ = slot_probabilities(moe, tok, prompts, qs, batch_size=4)
    b, _ = slot_probabilities(moe, tok, prompts, qs, batch_size=4, share_prefix=False)
    assert a == pytest.approx(b, abs=1e-4) and len(set(a)) > 1
    slot = read_questions(moe, tok, prompts, qs, slot=True, batch_size=4)
    slot_full = read_questions(moe, tok, prompts, qs, slot=True, batch_size=4, share_prefix=False)
    assert torch.equal(slot.token_question, slot_full.token_question)  # the same question tokens
    torch.testing.assert_close(slot.slot_lse, slot_full.slot_lse, rtol=1e-4, atol=1e-4)


# labels read back -------------------------------------------------------------------------------

def test_bad_labels_are_named(labels, tmp_path):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(labels[0], bad)
    lines = (bad / "samples.jsonl").read_text().splitlines()
    (bad / "samples.jsonl").write_text("\n".join(lines + ['{"cut": ']) + "\n")
    assert len(read_labels([bad])) == 12  # a last line cut by a kill is dropped
    (bad / "samples.jsonl").write_text("\n".join(lines[:2] + ["{oops"] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match=r"samples.jsonl:3: not a JSON line"):
        read_labels([bad])
    row = json.loads(lines[0])
    row["gen_tokens"] = -4
    (bad / "samples.jsonl").write_text("\n".join([json.dumps(row)] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match=r"samples.jsonl:1: gen_tokens is -4"):
        read_labels([bad])
    (bad / "samples.jsonl").write_text("\n".join(l for l in lines if '"path": "direct"' not in l) + "\n")
    with pytest.raises(ValueError, match="has only its code answer; finish the run: latentcode bench --resume"):
        read_labels([bad])
    config = json.loads((bad / "config.json").read_text())
    config["bench"]["mode"] = "code"
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not a `latentcode bench --mode both` run folder"):
        read_labels([bad])


def test_held_out_questions_may_not_be_trained_on(split_model, labels, tmp_path):
    setup = compose(RouterSetup, model=split_model, labels=[str(labels[0])], eval_labels=[str(labels[0])],
                    runs_dir=str(tmp_path))
    with pytest.raises(ValueError, match="held-out questions must never be trained on"):
        train_router(setup)
    assert not any(tmp_path.iterdir())


# curves -------------------------------------------------------------------------------------------

def test_curve_metrics_on_known_cases():
    code_ok = [True, True, False, False]
    direct_ok = [False, False, True, False]
    cost = [2.0] * 4, [1.0] * 4
    perfect = curves.report([0.9, 0.8, 0.1, 0.2], code_ok, direct_ok, *cost, ["a"] * 4, bootstrap=0)
    # always-direct 1/4, always-code 2/4; the oracle 3/4 with the two code-only questions
    assert perfect["always_direct"]["accuracy"] == 0.25 and perfect["always_code"]["accuracy"] == 0.5
    assert perfect["oracle"] == {"accuracy": 0.75, "share": 0.5}
    accs = [q["accuracy"] for q in perfect["points"]]
    assert accs == [0.25, 0.5, 0.75, 0.75, 0.5]
    # PGR 0, 1, 2, 2, 1 at shares 0, .25, .5, .75, 1: trapezoids .125 + .375 + .5 + .375
    assert perfect["apgr"] == pytest.approx(1.375)
    assert perfect["cpt50"] == 0.25 and perfect["cpt80"] == 0.25
    assert perfect["points"][-1]["cost"] == 2.0 and perfect["points"][0]["cost"] == 1.0
    assert perfect["accuracy_at_code_cost"] == 0.75
    backwards = curves.report([0.1, 0.2, 0.9, 0.8], code_ok, direct_ok, *cost, ["a"] * 4, bootstrap=0)
    assert backwards["apgr"] < 0.5 < perfect["apgr"] and backwards["min_margin_over_random"] < 0
    # no gap to recover: the metrics are undefined, not made up
    none = curves.report([0.5] * 2, [True, False], [True, False], [1.0] * 2, [1.0] * 2, ["a"] * 2, bootstrap=0)
    assert none["apgr"] is None and none["cpt50"] is None


def test_the_oracle_order_has_the_largest_apgr():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(2, 12)
        code_ok = [rng.random() < 0.6 for _ in range(n)]
        direct_ok = [rng.random() < 0.3 for _ in range(n)]
        if sum(code_ok) <= sum(direct_ok):
            continue
        ones = [1.0] * n
        best = curves.apgr(curves.curve([c - d for c, d in zip(code_ok, direct_ok)], code_ok, direct_ok, ones, ones))
        p = [rng.random() for _ in range(n)]
        other = curves.apgr(curves.curve(p, code_ok, direct_ok, ones, ones))
        assert other <= best + 1e-12
        # and random scores average out at about the straight line
    values = []
    code_ok = [i % 2 == 0 for i in range(40)]
    direct_ok = [i % 5 == 0 for i in range(40)]
    for _ in range(300):
        p = [rng.random() for _ in range(40)]
        values.append(curves.apgr(curves.curve(p, code_ok, direct_ok, [1.0] * 40, [1.0] * 40)))
    assert abs(sum(values) / len(values) - 0.5) < 0.05


def test_the_report_script_reads_router_runs(split_model, labels, tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    path, held = router(split_model, labels, tmp_path, form="probe", steps=200, learning_rate=0.05)
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "bench" / "router_report.py"), str(path), "--gate", "c0",
                          "--out", str(tmp_path / "curves"), "--json", str(tmp_path / "router.json")],
                         capture_output=True, text=True, check=True).stdout
    assert f"| probe / ce | c0 | {held['apgr']:.2f}" in out
    assert "| threes | 6 | 100% | 0% | 100%, 100% |" in out and "| sevens | 4 | 0% | 100% | 0%, 100% |" in out
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert json.loads((tmp_path / "router.json").read_text())[0]["heldout"]["c0"]["apgr"] == held["apgr"]


def test_a_subset_of_questions_scores_as_in_the_whole():
    from latentcode.router.features import QuestionStates
    from latentcode.router.gates import ProbeGate, SlotGate
    torch.manual_seed(0)
    lengths = torch.tensor([3, 1, 4, 2, 5])
    owner = torch.arange(5).repeat_interleave(lengths)
    states = QuestionStates(torch.randn(5, 6), torch.randn(2, int(lengths.sum()), 6).to(torch.bfloat16),
                            torch.randn(2, int(lengths.sum())), owner)
    slot, probe = SlotGate(2, 6), ProbeGate(6)
    with torch.no_grad():
        slot.weight.normal_()
        probe.linear.weight.normal_()
    pick = torch.tensor([1, 3, 4])
    part = states.subset(pick)
    assert part.token_question.tolist() == [0, 1, 1, 2, 2, 2, 2, 2]
    torch.testing.assert_close(slot(part), slot(states)[pick])
    torch.testing.assert_close(probe(part), probe(states)[pick])
    # a block of consecutive questions: views with the same scores
    block = states.between(1, 4)
    assert block.token_question.tolist() == [0, 1, 1, 1, 1, 2, 2]
    torch.testing.assert_close(slot(block), slot(states)[1:4])


def test_the_cost_is_one_documented_scalar():
    from latentcode.router.costs import CostConfig, utility
    costs = CostConfig(prompt_weight=0.1, sandbox_weight=200.0)
    assert costs.cost(gen_tokens=50, prompt_tokens=300, exec_s=0.02) == pytest.approx(50 + 30 + 4)
    assert utility(True, 500.0, 1.0) == pytest.approx(0.5) and utility(False, 0.0, 3.0) == 0.0
    with pytest.raises(ValueError, match="prompt_weight .* must be a finite number >= 0"):
        CostConfig(prompt_weight=-1)
    with pytest.raises(ValueError, match="sandbox_weight"):
        CostConfig(sandbox_weight=float("nan"))
