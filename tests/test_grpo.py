"""GRPO through TRL on a tiny model: the run folder, resuming, the command line.

A random tiny model writes no program at all, so every completion of a group gets the
same reward, GRPO's advantages are zero and no weight moves. The fixture first teaches
it, in a few seconds of supervised steps, to answer with ``print(1 + 2)`` in a code
block: sampled at temperature 1 its replies then mix programs that run (wrong answer),
programs that fail, cut programs and prose, and the rewards differ within a group.
"""
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import fit_tiny_coder
from latentcode.grpo import CodeGRPOConfig, main, train_grpo

pytestmark = pytest.mark.usefixtures("one_thread")

REPLY = "```python\nprint(1 + 2)\n```"


@pytest.fixture(scope="module")
def coder(tmp_path_factory):
    """A tiny model folder that writes code blocks some of the time."""
    return fit_tiny_coder(tmp_path_factory.mktemp("coder"), REPLY, 60, torch.optim.AdamW)


def small_config(model: str, runs_dir, **overrides) -> CodeGRPOConfig:
    settings = dict(model=model, runs_dir=str(runs_dir), use_cpu=True, max_steps=2, save_steps=2,
                    num_generations=4, per_device_train_batch_size=4, max_completion_length=16,
                    train_size=8, eval_size=4, eval_every=0, temperature=1.0, learning_rate=1e-2,
                    reward_truncated=-0.3, lr_scheduler_type="constant", seed=0)
    return CodeGRPOConfig(**{**settings, **overrides})


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def final_weights(run, step: int) -> dict[str, torch.Tensor]:
    folder = run / "checkpoints" / f"checkpoint-{step}"
    name = "adapter_model.safetensors" if (folder / "adapter_model.safetensors").exists() else "model.safetensors"
    return load_file(folder / name)


def test_short_run_writes_the_run_folder(coder, tmp_path, capsys):
    run = train_grpo(small_config(coder, tmp_path))
    samples = read_jsonl(run / "samples.jsonl")
    # two steps of one question's group of four; a repeated (task, completion) is logged once
    assert 1 < len(samples) <= 2 * 4
    assert {s["step"] for s in samples} == {1, 2}
    assert {"task_id", "status", "reward", "program", "completion", "correct", "question"} <= set(samples[0])
    assert len({s["reward"] for s in samples}) > 1, "the fixture's model must give varied rewards"
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [(m["step"], m["completions"]) for m in metrics] == [(1, 4), (2, 8)]
    assert all("reward_mean" in m and "rewards/correctness/mean" in m and "wall_s" in m for m in metrics)
    evals = read_jsonl(run / "evals.jsonl")
    assert [e["step"] for e in evals] == [0, 2]  # eval_every 0: start and end
    assert all(e["questions"] == 4 and 0 <= e["accuracy"] <= 1 for e in evals)
    assert {r["step"] for r in read_jsonl(run / "eval_samples.jsonl")} == {0, 2}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()  # transformers prefixes training logs with train/
    assert {"train/reward", "train/heldout/accuracy"} <= set(events.Tags()["scalars"])
    lora_b = [w for k, w in final_weights(run, 2).items() if "lora_B" in k]
    assert lora_b and any(w.abs().max() > 0 for w in lora_b), "LoRA B starts at zero and must move"

    from latentcode.cli import main as cli_main
    assert cli_main(["inspect", str(run), "--no-color"]) == 0
    assert f"{len(samples)} of {len(samples)} samples shown" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["grpo"]["output_dir"] == str(run / "checkpoints")


def test_full_weights_change(coder, tmp_path):
    run = train_grpo(small_config(coder, tmp_path, lora=False, learning_rate=1e-3))
    before = load_file(f"{coder}/model.safetensors")
    after = final_weights(run, 2)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_resume_matches_an_uninterrupted_run(coder, tmp_path):
    whole = train_grpo(small_config(coder, tmp_path / "whole", max_steps=4))
    cut = train_grpo(small_config(coder, tmp_path / "cut", max_steps=2))
    (cut / "metrics.jsonl").open("a").write('{"step": 3, "wall_s": 1}\n')  # logged after the checkpoint
    resumed = train_grpo(small_config(coder, tmp_path / "cut", max_steps=4, resume=str(cut)))
    assert resumed == cut
    a, b = final_weights(whole, 4), final_weights(cut, 4)
    halfway = final_weights(whole, 2)
    assert any(not torch.equal(a[k], halfway[k]) for k in a), "steps 3-4 must move the weights"
    assert a.keys() == b.keys()
    for k in a:  # exact on CPU; a linear schedule would differ: the cut run planned 2 steps
        assert torch.allclose(a[k], b[k], rtol=0, atol=1e-6), k
    assert [m["step"] for m in read_jsonl(cut / "metrics.jsonl")] == [1, 2, 3, 4]
    assert [e["step"] for e in read_jsonl(cut / "evals.jsonl")] == [0, 2, 4]
    assert [(s["step"], s["completion"]) for s in read_jsonl(cut / "samples.jsonl")] == \
        [(s["step"], s["completion"]) for s in read_jsonl(whole / "samples.jsonl")]


def test_parser_reads_yaml_then_flags(tmp_path):
    yaml = tmp_path / "run.yaml"
    yaml.write_text("model: tiny\nmdl: ast\nmdl_weight: 0.01\nmax_steps: 5\nlora: false\nuse_cpu: true\n")
    from trl import TrlParser
    (cfg,) = TrlParser(dataclass_types=[CodeGRPOConfig]).parse_args_and_config(
        ["--config", str(yaml), "--mdl-weight", "0.02", "--num-generations", "2"])
    assert (cfg.model, cfg.mdl, cfg.mdl_weight, cfg.max_steps, cfg.lora) == ("tiny", "ast", 0.02, 5, False)
    assert (cfg.num_generations, cfg.per_device_train_batch_size, cfg.temperature) == (2, 4, 0.7)


@pytest.mark.parametrize("flags, field", [
    (["--mdl", "bogus"], "mdl"),
    (["--mdl-on", "some"], "mdl_on"),
    (["--mdl", "ast", "--mdl-weight", "-1"], "mdl_weight"),
    (["--mdl-reference", "other"], "mdl_reference"),
    (["--few-shot", "9"], "few_shot"),
])
def test_bad_values_name_the_field(flags, field):
    with pytest.raises(ValueError, match=field):
        main(flags + ["--use-cpu", "true"])
