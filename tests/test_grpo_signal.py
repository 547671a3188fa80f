"""GRPO given signal: several questions per step, the pass-rate curriculum, and the warm start
from an EM, ES or GRPO run's checkpoint (latentcode/training/grpo.py, latentcode/checkpoints.py);
the same checkpoints evaluated by ``latentcode bench --weights``."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import WHAT_IS, fit_tiny_coder
from latentcode.training import harness  # where a trainer reads its task split
from latentcode.config import compose
from latentcode.models import load_model
from latentcode.training import grpo
from latentcode.models import ModelArgs
from latentcode.checkpoints import WarmStart
from latentcode.training.em import EMSetup, train_em
from latentcode.training.grpo import GRPOSetup, build_trainer, parse_setup
from tasks.base import Task

pytestmark = pytest.mark.usefixtures("one_thread")

REPLY = "```python\nprint(1 + 2)\n```"


@pytest.fixture(scope="module")
def coder(tmp_path_factory):
    """A tiny model that writes print(1 + 2) some of the time."""
    return fit_tiny_coder(tmp_path_factory.mktemp("coder"), REPLY, 45, torch.optim.AdamW, also=WHAT_IS)


def sums_and_sevens(task, split_config):
    """Training questions whose answer is 3 (the coder is sometimes right) and 7 (never)."""
    make = [Task(f"q/{i}", f"What is {'1 + 2' if i % 2 else '3 + 4'}? (case {i})", "3" if i % 2 else "7",
                 "arithmetic", {}) for i in range(14)]
    return make[:10], make[10:]


def grpo_setup(coder, runs_dir, **overrides) -> GRPOSetup:
    settings = dict(model=coder, runs_dir=str(runs_dir), use_cpu=True, max_steps=1, save_steps=1,
                    num_generations=4, per_device_train_batch_size=4, max_completion_length=16,
                    eval_every=0, temperature=1.0, learning_rate=1e-2, metamorphic=False,
                    lr_scheduler_type="constant", seed=0, bf16=False, report_to="none")
    return compose(GRPOSetup, **{**settings, **overrides})


def em_run(coder, runs_dir, **kw):
    base = dict(model=coder, device="cpu", iterations=1, questions=4, samples=4, max_new_tokens=16,
                batch_size=16, learning_rate=2e-2, train_batch_size=8, epochs=2, eval_every=0,
                eval_start=False, metamorphic=False, runs_dir=str(runs_dir), quiet=True, bf16=False)
    return train_em(compose(EMSetup, **{**base, **kw}))


def logits(model, tok, text="What is 1 + 2?"):
    with torch.no_grad():
        return model(**tok(text, return_tensors="pt")).logits


# several questions per step -------------------------------------------------------------------

def test_questions_per_step_sets_the_accumulation():
    cfg = parse_setup(["--questions-per-step", "4", "--num-generations", "8",
                       "--per-device-train-batch-size", "8", "--use-cpu", "true"]).grpo
    assert cfg.gradient_accumulation_steps == 4 and cfg.completions_per_step == 32
    assert cfg.generation_batch_size // cfg.num_generations == 4  # questions in one generation batch


@pytest.mark.parametrize("flags, message", [
    (["--questions-per-step", "3", "--num-generations", "2", "--per-device-train-batch-size", "4"], "multiple"),
    (["--questions-per-step", "0"], "positive multiple"),
    (["--questions-per-step", "4", "--gradient-accumulation-steps", "2"], "contradicts"),
    (["--curriculum-samples", "1"], "curriculum_samples"),
])
def test_signal_settings_refuse_bad_values(flags, message):
    with pytest.raises(ValueError, match=message):
        parse_setup(flags + ["--use-cpu", "true"])


# the curriculum --------------------------------------------------------------------------------

def test_curriculum_keeps_the_questions_solved_sometimes(coder, tmp_path, monkeypatch):
    monkeypatch.setattr(grpo, "load_split", sums_and_sevens)
    setup = grpo_setup(coder, tmp_path, curriculum_samples=8)
    trainer, run, _ = build_trainer(setup)
    rows = [json.loads(line) for line in (run / "curriculum.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in rows] == [f"q/{i}" for i in range(10)]
    assert all(r["samples"] == 8 and r["train"] == (0 < r["pass_rate"] < 1) for r in rows)
    sevens = [r for r in rows if int(r["task_id"][2:]) % 2 == 0]
    assert all(r["pass_rate"] == 0 and not r["train"] for r in sevens), "7 is never printed"
    kept = {r["task_id"] for r in rows if r["train"]}
    assert kept, "the coder must be right on some sums some of the time"
    assert {row["task_id"] for row in trainer.train_dataset} == kept
    # the filter's completions count in the budget
    trainer.remove_callback(grpo.HeldoutEval)
    trainer.train()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["completions"] == 10 * 8 + 4

    # a resumed run reads the file instead of sampling again, and refuses one that does not fit
    again = grpo._curriculum(setup, grpo.RunLog(run), None, None, sums_and_sevens(None, None)[0])
    assert {t.id for t in again[0]} == kept and again[1] == 80
    (run / "curriculum.jsonl").write_text(json.dumps({"task_id": "q/0", "train": True}) + "\n")
    with pytest.raises(ValueError, match="does not match this run's training questions"):
        grpo._curriculum(setup, grpo.RunLog(run), None, None, sums_and_sevens(None, None)[0])


def test_curriculum_with_nothing_to_learn_says_what_to_do(coder, tmp_path, monkeypatch):
    def sevens(task, split_config):
        make = [Task(f"s/{i}", f"What is 3 + 4? ({i})", "7", "arithmetic", {}) for i in range(6)]
        return make[:4], make[4:]
    monkeypatch.setattr(grpo, "load_split", sevens)
    with pytest.raises(ValueError, match="no training question has a pass rate strictly between 0 and 1"):
        build_trainer(grpo_setup(coder, tmp_path, curriculum_samples=4))


# the warm start ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lora", [True, False])
def test_warm_start_carries_the_em_weights(coder, tmp_path, monkeypatch, lora):
    from latentcode.training import em
    monkeypatch.setattr(harness, "load_split", sums_and_sevens)
    run = em_run(coder, tmp_path / "em", use_peft=lora)
    base, tok = load_model(coder, device="cpu", dtype="float32")
    before = logits(base, tok)
    # the EM model: its adapters applied to the base, or its weights
    from safetensors.torch import load_file
    start = WarmStart(run, ModelArgs(model_name_or_path=coder, use_peft=lora))
    assert start.checkpoint.name == "iter-1"
    saved = load_file(str(start.checkpoint / "trainable.safetensors"))
    reference, _ = load_model(coder, device="cpu", dtype="float32")
    if lora:
        from peft import get_peft_model
        reference = get_peft_model(reference, ModelArgs(model_name_or_path=coder, use_peft=True).peft_config())
    missing = set(saved) - {n for n, _ in reference.named_parameters()}
    assert not missing
    reference.load_state_dict(saved, strict=False)
    trained = logits(reference, tok)
    assert not torch.allclose(before, trained, atol=1e-4), "the EM step must have moved the model"

    # a GRPO run starts there: LoRA into its own adapters, full weights into the model
    monkeypatch.setattr(grpo, "load_split", sums_and_sevens)
    trainer, _, _ = build_trainer(grpo_setup(coder, tmp_path / "grpo", init_from=str(run), use_peft=lora))
    torch.testing.assert_close(logits(trainer.model, tok), trained, atol=1e-5, rtol=1e-5)
    # and an evaluation sees the EM model
    evaluated = start.apply(load_model(coder, device="cpu", dtype="float32")[0])
    torch.testing.assert_close(logits(evaluated, tok), trained, atol=1e-5, rtol=1e-5)


def test_bench_evaluates_a_trained_run(coder, tmp_path, monkeypatch):
    from latentcode import evaluate as bench_module
    from latentcode.evaluate import BenchSetup, run_bench
    from latentcode.runs import read_jsonl
    from latentcode.training import em
    monkeypatch.setattr(harness, "load_split", sums_and_sevens)
    monkeypatch.setattr(bench_module, "load_suite", lambda *a, **k: sums_and_sevens(None, None)[0])
    run = em_run(coder, tmp_path / "em", use_peft=True)

    def bench(name, **kw):
        setup = compose(BenchSetup, model=coder, n=10, mode="code", max_new_tokens=16,
                        dtype="float32", runs_dir=str(tmp_path / "bench"), name=name, quiet=True, **kw)
        out = run_bench(setup).path
        return out, [r["completion"] for r in read_jsonl(out / "samples.jsonl")]

    base, before = bench("base")
    trained, after = bench("trained", weights=str(run / "checkpoints" / "iter-1"))
    assert json.loads((trained / "summary.json").read_text())["weights"].endswith("iter-1")
    assert json.loads((trained / "config.json").read_text())["bench"]["weights"].endswith("iter-1")
    # the answers are the trained model's (test_warm_start_carries_the_em_weights: its logits)
    assert after != before
    # a run of another model is refused before any folder is made
    with pytest.raises(ValueError, match="weights: .* pass --model"):
        run_bench(compose(BenchSetup, model="tiny", n=2, weights=str(run),
                          runs_dir=str(tmp_path / "refused")))
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize("lora", [True, False])
def test_a_grpo_run_is_read_back(coder, tmp_path, monkeypatch, lora):
    """bench --weights and --init-from read GRPO's checkpoints (TRL's): PEFT's adapter file or
    the model's own, with its tied output matrix saved once."""
    monkeypatch.setattr(grpo, "load_split", sums_and_sevens)
    trainer, run, _ = build_trainer(grpo_setup(coder, tmp_path / "grpo", use_peft=lora, max_steps=2,
                                               save_steps=2, learning_rate=1e-2 if lora else 1e-3))
    trainer.train()
    tok = trainer.processing_class
    trained = logits(trainer.model.eval(), tok)
    assert not torch.allclose(logits(load_model(coder, device="cpu", dtype="float32")[0], tok), trained,
                              atol=1e-4), "two GRPO steps must have moved the model"
    start = WarmStart(run, ModelArgs(model_name_or_path=coder, use_peft=lora))
    assert start.checkpoint == run / "checkpoints" / "checkpoint-2"
    evaluated = start.apply(load_model(coder, device="cpu", dtype="float32")[0])
    torch.testing.assert_close(logits(evaluated, tok), trained, atol=1e-5, rtol=1e-5)
    # a named checkpoint; one of another model's shapes is refused, not half-loaded
    named = WarmStart(run / "checkpoints" / "checkpoint-2", ModelArgs(model_name_or_path=coder, use_peft=lora))
    assert named.checkpoint.name == "checkpoint-2"
    if lora:
        with pytest.raises(ValueError, match="pass --lora-r 16"):
            WarmStart(run, ModelArgs(model_name_or_path=coder, use_peft=True, lora_r=8))


def test_lora_warm_start_into_a_full_weight_run_merges(coder, tmp_path, monkeypatch):
    from latentcode.training import em
    monkeypatch.setattr(harness, "load_split", sums_and_sevens)
    run = em_run(coder, tmp_path / "em", use_peft=True)
    monkeypatch.setattr(grpo, "load_split", sums_and_sevens)
    with_adapters = build_trainer(grpo_setup(coder, tmp_path / "a", init_from=str(run)))[0]
    merged = build_trainer(grpo_setup(coder, tmp_path / "b", init_from=str(run), use_peft=False))[0]
    assert not any("lora" in n for n, _ in merged.model.named_parameters())
    tok = with_adapters.processing_class
    torch.testing.assert_close(logits(merged.model, tok), logits(with_adapters.model, tok), atol=1e-4, rtol=1e-4)


def test_warm_start_refuses_what_it_cannot_use(coder, tmp_path, monkeypatch):
    from latentcode.training import em
    monkeypatch.setattr(harness, "load_split", sums_and_sevens)
    run = em_run(coder, tmp_path / "em", use_peft=True)
    with pytest.raises(ValueError, match="pass --model"):
        WarmStart(run, ModelArgs(model_name_or_path="tiny"))
    with pytest.raises(ValueError, match="pass --lora-r 16"):
        WarmStart(run, ModelArgs(model_name_or_path=coder, use_peft=True, lora_r=8))
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "config.json").write_text(json.dumps({"kind": "bench", "model": {"model_name_or_path": coder}}))
    with pytest.raises(ValueError, match="not an EM, ES or GRPO run folder"):
        WarmStart(bench, ModelArgs(model_name_or_path=coder))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text((run / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no finished checkpoint"):
        WarmStart(empty, ModelArgs(model_name_or_path=coder))
    # one checkpoint of a run, named
    named = WarmStart(run / "checkpoints" / "iter-1", ModelArgs(model_name_or_path=coder, use_peft=True))
    assert named.checkpoint == run / "checkpoints" / "iter-1"
    with pytest.raises(FileNotFoundError, match="not a finished checkpoint"):
        WarmStart(run / "checkpoints" / "iter-9", ModelArgs(model_name_or_path=coder, use_peft=True))
