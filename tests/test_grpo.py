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

from latentcode.config import compose
from latentcode.training.grpo import GRPOSetup, main, train_grpo

pytestmark = pytest.mark.usefixtures("one_thread")


def small_config(model: str, runs_dir, **overrides) -> GRPOSetup:
    settings = dict(model=model, runs_dir=str(runs_dir), use_cpu=True, max_steps=2, save_steps=2,
                    num_generations=4, per_device_train_batch_size=4, max_completion_length=16,
                    train_size=8, eval_size=4, eval_every=0, temperature=1.0, learning_rate=1e-2,
                    reward_truncated=-0.3, lr_scheduler_type="constant", seed=0)
    return compose(GRPOSetup, **{**settings, **overrides})


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


def _trainer(coder, tmp_path, **overrides):
    """The trainer train_grpo builds, and tokenized training prompts, to call its generation."""
    from latentcode.expert.code_expert import CodeExpert
    from latentcode.training.grpo import build_trainer
    from tasks.config import load_split
    setup = small_config(coder, tmp_path, **overrides)
    trainer, _, _ = build_trainer(setup)
    train, _ = load_split(setup.task, setup.split)
    tok = trainer.processing_class
    expert = CodeExpert(trainer.model, tok)
    return trainer, [tok(expert.prompt(t), add_special_tokens=False).input_ids for t in train], tok


def test_completions_stop_when_their_code_block_closes(coder, tmp_path):
    trainer, prompts, tok = _trainer(coder, tmp_path, max_completion_length=24)
    rows = [p for p in prompts[:4] for _ in range(4)]
    eos = trainer.eos_token_ids
    torch.manual_seed(0)
    ids, logprobs = trainer._generate_single_turn(rows, None, {}, 4)
    assert logprobs is None and len(ids) == len(rows)
    texts = [tok.decode(t, skip_special_tokens=True) for t in ids]
    closed = [t.count("```") >= 2 for t in texts]
    assert any(closed), "the fixture's model must close some blocks"
    for t, text, c in zip(ids, texts, closed):
        if c:  # nothing after the fence, and no end-of-sequence was sampled
            assert text.endswith("```") and t[-1] not in eos
        elif len(t) < 24:  # ended early without a block: it sampled end-of-sequence, kept as TRL keeps it
            assert t[-1] in eos and eos[0] not in t[:-1]
    # TRL's own generation runs the same prompts past the fence (at least one of them)
    trainer.args.stop_at_fence = False
    torch.manual_seed(0)
    ids, _ = trainer._generate_single_turn(rows, None, {}, 4)
    texts = [tok.decode(t, skip_special_tokens=True) for t in ids]
    assert any(t.count("```") >= 2 and not t.endswith("```") for t in texts)


def test_fence_stopping_resumes_from_the_global_generator(coder, tmp_path):
    """The decoder samples from torch's global generator, which checkpoints carry: the same
    seed gives the same completions, another seed others."""
    trainer, prompts, _ = _trainer(coder, tmp_path)
    rows = [p for p in prompts[:2] for _ in range(4)]
    draws = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        draws.append(trainer._generate_single_turn(rows, None, {}, 4)[0])
    assert draws[0] == draws[1] and draws[0] != draws[2]


@pytest.mark.parametrize("flag", [["--top-k", "50"], ["--repetition-penalty", "1.1"],
                                  ["--mask-truncated-completions", "true"]])
def test_sampling_options_the_decoder_lacks_are_refused(flag):
    with pytest.raises(ValueError, match="stop_at_fence"):
        main(flag + ["--use-cpu", "true"])
    from latentcode.training.grpo import parse_setup  # and accepted with TRL's generation
    cfg = parse_setup(flag + ["--use-cpu", "true", "--stop-at-fence", "false"]).grpo
    assert cfg.stop_at_fence is False


def test_vllm_generation_stops_at_the_closing_fence():
    """--use-vllm hands generation to TRL's vLLM path with the closing fence as a stop string
    (kept in the completion); the string ends a closed block, not an opening fence."""
    import re

    from latentcode.expert.extract import extract_program
    from latentcode.training.grpo import VLLM_FENCE_STOP, parse_setup
    cfg = parse_setup(["--use-vllm", "true", "--use-cpu", "true"]).grpo
    assert cfg.generation_kwargs == {"stop": [VLLM_FENCE_STOP], "include_stop_str_in_output": True}
    reply = "Here it is:\n```python\nxs = [3, 0, 1]\nprint(sum(xs) / len(xs))\n```\nThe average is 1."
    cut = reply[:reply.index(VLLM_FENCE_STOP) + len(VLLM_FENCE_STOP)]  # what vLLM returns
    assert cut.endswith("```\n") and "The average" not in cut
    assert extract_program(cut) == extract_program(reply) and extract_program(cut).status == "ok"
    assert not re.search(re.escape(VLLM_FENCE_STOP), "Sure.\n```python\nprint(1)")
    with pytest.raises(ValueError, match="'stop' is set by stop_at_fence"):
        parse_setup(["--use-vllm", "true", "--use-cpu", "true", "--generation-kwargs", '{"stop": ["x"]}'])


def test_parser_reads_yaml_then_flags(tmp_path):
    yaml = tmp_path / "run.yaml"
    yaml.write_text("model: tiny\nmdl: ast\nmdl_weight: 0.01\nmax_steps: 5\nlora: false\nuse_cpu: true\n")
    from latentcode.training.grpo import parse_setup
    s = parse_setup(["--config", str(yaml), "--mdl-weight", "0.02", "--num-generations", "2"])
    cfg = s.grpo
    assert (s.model.model, s.reward.mdl, s.reward.mdl_weight, cfg.max_steps, s.model.use_peft) == ("tiny", "ast", 0.02, 5, False)
    # per_device_train_batch_size: the tiny model's smoke-run default (latentcode.config.TINY_DEFAULTS)
    assert (cfg.num_generations, cfg.per_device_train_batch_size, cfg.temperature) == (2, 2, 0.7)


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


def test_the_overridden_trl_method_keeps_its_signature():
    """CodeGRPOTrainer overrides TRL's private _generate_single_turn; a TRL release that
    changes it must fail here, not in the middle of a training run."""
    import inspect
    from trl import GRPOTrainer
    from latentcode.training.grpo import CodeGRPOTrainer
    expected = ["self", "prompt_ids", "images", "multimodal_fields", "num_generations",
                "has_tool_images"]
    assert list(inspect.signature(GRPOTrainer._generate_single_turn).parameters) == expected
    assert list(inspect.signature(CodeGRPOTrainer._generate_single_turn).parameters) == expected
