"""Evolution strategies: the algorithm on a toy fitness, then the trainer end to end on a tiny
model (resume, two processes, the CLI parser).

A random tiny model never writes a program, so every member would score the same and ES
would never move (a test of resume would pass vacuously). The fixture first fits it by
gradient descent to answer every question with one short program; perturbed copies then
break that program in different ways, and the fitness differs between members.
"""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import fit_tiny_coder, free_port
from latentcode.config import compose
from latentcode.training.es import ESSetup, parse_setup as parse_config, train_es
from latentcode.training.es_algorithm import centered_ranks, es_step, noise, perturb

pytestmark = pytest.mark.usefixtures("one_thread")

PROGRAM = "```python\nprint(sum([1, 2]))\n```"


@pytest.fixture(scope="module")
def coder(tmp_path_factory):
    """A folder with the tiny model fitted to reply PROGRAM to the training questions."""
    return fit_tiny_coder(tmp_path_factory.mktemp("coder"), PROGRAM, 40)


def small(coder, runs_dir, **kw) -> ESSetup:
    base = dict(model=coder, device="cpu", population=4, sigma=0.02, lr=1e-3, tasks_per_step=2,
                max_new_tokens=24, train_size=8, eval_size=4, eval_every=0, save_every=0,
                max_steps=4, metamorphic=False, runs_dir=str(runs_dir), quiet=True,
                bf16=False)  # exact-equality tests: bf16 rounding depends on the batch's make-up
    return compose(ESSetup, **{**base, **kw})


def final_weights(run, step=4) -> dict:
    return load_file(str(run / "checkpoints" / f"step-{step}" / "trainable.safetensors"))


def rows(run, name) -> list[dict]:
    return [json.loads(line) for line in (run / name).read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(coder, tmp_path_factory):
    """4 iterations, never interrupted."""
    return train_es(small(coder, tmp_path_factory.mktemp("straight")))


# the algorithm ----------------------------------------------------------------------------

def test_centered_ranks_average_ties_and_sum_to_zero():
    r = centered_ranks(torch.tensor([3.0, 1.0, 2.0, 2.0, 5.0]))
    # ranks 0..4: 1.0 -> 0, the two 2.0 -> (1 + 2) / 2, 3.0 -> 3, 5.0 -> 4; then / 4 - 0.5
    assert torch.allclose(r, torch.tensor([0.25, -0.5, -0.125, -0.125, 0.5], dtype=torch.float64))
    assert abs(r.sum().item()) < 1e-12


def test_perturb_and_restore_within_rounding():
    from latentcode.models import load_model
    model, _ = load_model("tiny", device="cpu", dtype="float32")
    params = list(model.parameters())
    before = [p.detach().clone() for p in params]
    assert torch.equal(noise(params[0], 7, 0), noise(params[0], 7, 0))  # regenerated, not stored
    assert not torch.equal(noise(params[0], 7, 0), noise(params[0], 8, 0))
    perturb(params, 7, 1e-3)
    assert not torch.equal(params[0], before[0])
    perturb(params, 7, -2e-3)
    perturb(params, 7, 1e-3)
    # float32 add then subtract rounds: equal to about 1e-7 relative, not bit for bit
    for p, b in zip(params, before):
        assert torch.allclose(p, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_es_step_climbs_a_known_fitness(optimizer):
    torch.manual_seed(0)
    target = torch.randn(16)
    w = torch.zeros(16, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.05) if optimizer == "sgd" else torch.optim.Adam([w], lr=0.05)
    start = (w - target).norm().item()
    for t in range(60):
        es_step([w], lambda: -(w - target).pow(2).sum().item(), opt,
                seeds=[1000 * t + j for j in range(10)], sigma=0.1)
    assert (w - target).norm().item() < 0.3 * start


# the trainer ------------------------------------------------------------------------------

def test_resume_reaches_the_same_weights(coder, straight, tmp_path):
    first = train_es(small(coder, tmp_path, max_steps=2, save_every=2))
    with pytest.raises(ValueError, match="sigma"):  # a resumed run must follow the same path
        train_es(small(coder, tmp_path, max_steps=4, sigma=0.05, resume=str(first)))
    resumed = train_es(small(coder, tmp_path, max_steps=4, resume=str(first)))
    assert resumed == first
    a, b = final_weights(straight), final_weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(r["fitness_std"] > 0 for r in rows(straight, "metrics.jsonl"))  # ES moved
    assert [r["step"] for r in rows(resumed, "metrics.jsonl")] == [1, 2, 3, 4]
    assert [r["reward_mean"] for r in rows(resumed, "metrics.jsonl")] == \
        [r["reward_mean"] for r in rows(straight, "metrics.jsonl")]
    assert rows(resumed, "metrics.jsonl")[-1]["completions"] == 4 * 4 * 2
    assert [r["step"] for r in rows(resumed, "evals.jsonl")] == [0, 2, 4]  # 2: the first end
    heldout = rows(resumed, "eval_samples.jsonl")  # every held-out answer, per evaluation
    assert [r["step"] for r in heldout] == [s for s in (0, 2, 4) for _ in range(len(heldout) // 3)]
    assert {s["step"] for s in rows(resumed, "samples.jsonl")} <= {1, 2, 3, 4}
    assert list((resumed / "tensorboard").glob("events.out.tfevents.*"))


def test_weights_moved(coder, straight):
    from latentcode.models import load_model
    model, _ = load_model(coder, device="cpu")
    after = final_weights(straight)
    assert any(not torch.equal(p, after[n]) for n, p in model.named_parameters())


def test_lora_trains_adapters_only(coder, tmp_path):
    run = train_es(small(coder, tmp_path, lora=True, lora_r=2, sigma=0.3, max_steps=1))
    saved = final_weights(run, step=1)
    assert saved and all("lora_" in k for k in saved)


def test_bf16_members_are_evaluated_at_their_own_weights():
    """autocast keeps its bf16 copy of a weight until its context exits (an in-place change
    inside one context is not seen); ES opens a fresh context per evaluation, so a member
    perturbed between two evaluations is evaluated at its own weights."""
    from latentcode.models import load_model
    from latentcode.models import bf16_autocast
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    ids = torch.tensor([tok("What is 3 + 4?")["input_ids"]])
    linears = [p for n, p in model.named_parameters() if n.endswith("proj.weight")]
    autocast = bf16_autocast(model, True)
    with torch.no_grad():
        with autocast():
            before = model(input_ids=ids).logits
            perturb(linears, 7, 0.5)
            stale = model(input_ids=ids).logits
        with autocast():
            fresh = model(input_ids=ids).logits
    assert torch.equal(before, stale)  # why one context around the loop is wrong
    assert (fresh - before).abs().max() > 0.1


def test_two_processes_agree_with_one(coder, straight, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-port", str(free_port()), "-m", "latentcode.training.es", "--model", coder,
           "--device", "cpu", "--population", "4", "--sigma", "0.02", "--lr", "1e-3",
           "--tasks-per-step", "2", "--max-new-tokens", "24", "--train-size", "8", "--eval-size", "4",
           "--eval-every", "0", "--save-every", "0", "--max-steps", "4", "--metamorphic", "false",
           "--bf16", "false", "--runs-dir", str(tmp_path), "--quiet", "--dump-weights"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    r0 = load_file(str(run / "final-rank0.safetensors"))
    r1 = load_file(str(run / "final-rank1.safetensors"))
    one = final_weights(straight)
    assert all(torch.equal(r0[k], r1[k]) and torch.equal(r0[k], one[k]) for k in one)
    assert rows(run, "metrics.jsonl")[-1]["completions"] == 4 * 4 * 2


# the command line -------------------------------------------------------------------------

def test_yaml_then_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: tiny\npopulation: 6\nsigma: 0.01\nmdl: ast\nlora: true\n")
    config = parse_config(["--config", str(path), "--population", "8", "--mdl-weight", "0.01",
                           "--max-steps", "5"])
    assert (config.model.model, config.es.population, config.es.sigma) == ("tiny", 8, 0.01)
    assert (config.reward.mdl, config.reward.mdl_weight, config.es.max_steps, config.model.use_peft) == ("ast", 0.01, 5, True)


@pytest.mark.parametrize("flags, field", [
    (["--population", "3"], "population"),
    (["--sigma", "0"], "sigma"),
    (["--optimizer", "rmsprop"], "optimizer"),
    (["--tasks-per-step", "32", "--train-size", "8"], "tasks_per_step"),
    (["--mdl-weight", "0.1"], "mdl"),
])
def test_bad_values_name_the_field(flags, field):
    with pytest.raises(ValueError, match=field):
        parse_config(flags)
