"""EM over latent programs (latentcode/training/em.py): the posterior weights follow the
prior, only right programs are trained on, EM raises a tiny coder's training pass rate, and
a resumed run reaches the weights of an uninterrupted one."""
from __future__ import annotations

import json
import math
import random
import statistics

import pytest
import torch
from safetensors.torch import load_file

from latentcode.training import harness  # where a trainer reads its task split
from latentcode.config import compose
from latentcode.training import em
from latentcode.training.em import EMSetup, draw_programs, posterior_weights, train_em
from tasks.base import Task


@pytest.fixture
def sums(monkeypatch):
    """Questions whose answer is 3: the coder's program is right, not hard-coded-by-template
    (the metamorphic check needs a generator template; these have none)."""
    def split(task, split_config):
        make = [Task(f"sum/{i}", f"What is 1 + 2? (case {i})", "3", "arithmetic", {}) for i in range(12)]
        return make[:8], make[8:]
    monkeypatch.setattr(harness, "load_split", split)


def small(coder, runs_dir, **kw) -> EMSetup:
    base = dict(model=coder, device="cpu", iterations=2, questions=4, samples=4, max_new_tokens=16,
                batch_size=16, learning_rate=5e-3, train_batch_size=8, epochs=2, eval_every=0,
                metamorphic=False, runs_dir=str(runs_dir), quiet=True, bf16=False, use_peft=False)
    return compose(EMSetup, **{**base, **kw})


def rows(run, name) -> list[dict]:
    return [json.loads(line) for line in (run / name).read_text().splitlines()]


# the posterior ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
def test_weights_are_the_prior_normalised(seed):
    rng = random.Random(seed)
    bits = [rng.randrange(20, 400) for _ in range(rng.randrange(1, 8))]
    lam = rng.choice([0.0, 0.01, 0.05])
    w = posterior_weights(bits, lam)
    assert math.isclose(math.fsum(w), 1.0) and all(x > 0 for x in w)
    for (a, wa), (b, wb) in zip(zip(bits, w), zip(bits[1:], w[1:])):
        assert math.isclose(wa / wb, 2.0 ** (-lam * (a - b)), rel_tol=1e-9)
    if lam == 0:
        assert all(math.isclose(x, 1 / len(bits)) for x in w)
    assert posterior_weights([], 0.1) == []
    assert posterior_weights([10_000, 10], 1.0)[0] >= 0  # no overflow however long


def test_draws_follow_the_weights():
    rng = random.Random(0)
    drawn = draw_programs([(5, 0.75), (9, 0.25)], 4000, rng)
    assert set(drawn) == {5, 9} and abs(drawn.count(5) / 4000 - 0.75) < 0.03
    assert draw_programs([], 4, rng) == []


# the trainer ---------------------------------------------------------------------------------

def test_em_raises_the_training_pass_rate_and_logs_every_program(coder, sums, tmp_path):
    run = train_em(small(coder, tmp_path, iterations=3, questions=8, samples=8, mdl_lambda=0.05))
    metrics = rows(run, "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3]
    samples = rows(run, "samples.jsonl")
    assert len(samples) == 3 * 8 * 8  # every E-step program, with its weight
    share = [statistics.fmean(s["correct"] for s in samples if s["step"] == t) for t in (1, 2, 3)]
    assert share[2] > share[0] + 0.2, share  # the share of right programs (pass@1) rises
    assert metrics[-1]["pass_at_k"] == 1.0
    by_q: dict = {}
    for s in samples:
        if s["weight"] > 0:
            assert s["correct"]  # only right programs are trained on
            by_q.setdefault((s["step"], s["task_id"]), []).append(s)
        else:
            assert not s["correct"] or s["metamorphic"] == "stuck"
    for group in by_q.values():  # weights follow the prior within each question
        assert math.isclose(math.fsum(s["weight"] for s in group), 1.0)
        want = posterior_weights([s["bits"] for s in group], 0.05)
        assert all(math.isclose(s["weight"], w) for s, w in zip(group, want))
    evals = rows(run, "evals.jsonl")
    assert [e["step"] for e in evals] == [0, 3]
    assert json.loads((run / "config.json").read_text())["kind"] == "em"
    heldout = rows(run, "eval_samples.jsonl")  # every held-out answer behind each accuracy
    assert [h["step"] for h in heldout] == [0] * 4 + [3] * 4
    for e in evals:
        mine = [h["correct"] for h in heldout if h["step"] == e["step"]]
        assert math.isclose(statistics.fmean(mine), e["accuracy"])


def test_inspect_reads_the_held_out_answers(coder, sums, tmp_path, capsys):
    from latentcode.cli import main as cli_main
    run = train_em(small(coder, tmp_path, iterations=1, eval_start=False))
    assert cli_main(["inspect", str(run), "--held-out", "--step", "1", "--no-color"]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 samples shown" in out and "What is 1 + 2? (case 8)" in out
    assert cli_main(["inspect", str(run), "--step", "1", "--no-color"]) == 0  # the E-step's programs
    assert "16 of 16 samples shown" in capsys.readouterr().out
    assert cli_main(["inspect", str(run), "--held-out", "--step", "0", "--no-color"]) == 0  # skipped
    assert "0 of 4 samples shown" in capsys.readouterr().out


def test_resume_reaches_the_same_weights(coder, sums, tmp_path):
    straight = train_em(small(coder, tmp_path / "a"))
    first = train_em(small(coder, tmp_path / "b", iterations=1))
    with pytest.raises(ValueError, match="mdl_lambda"):  # a resumed run must follow the same path
        train_em(small(coder, tmp_path / "b", mdl_lambda=0.5, resume=str(first)))
    resumed = train_em(small(coder, tmp_path / "b", resume=str(first)))
    assert resumed == first
    a = load_file(str(straight / "checkpoints" / "iter-2" / "trainable.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "iter-2" / "trainable.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["step"] for r in rows(resumed, "metrics.jsonl")] == [1, 2]
    assert rows(resumed, "metrics.jsonl") == rows(straight, "metrics.jsonl") or all(
        {k: v for k, v in x.items() if k != "wall_s"} == {k: v for k, v in y.items() if k != "wall_s"}
        for x, y in zip(rows(resumed, "metrics.jsonl"), rows(straight, "metrics.jsonl")))


def test_resume_refuses_another_kind_of_run(coder, tmp_path):
    other = tmp_path / "bench-run"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"kind": "bench", "bench": {}}))
    with pytest.raises(ValueError, match="is a bench run, not an em run .continue it with `latentcode bench --resume"):
        train_em(small(coder, tmp_path, resume=str(other)))


@pytest.mark.parametrize("flags,field", [(["--samples", "0"], "samples"), (["--mdl-lambda", "-1"], "mdl_lambda"),
                                         (["--temperature", "0"], "temperature")])
def test_bad_values_name_the_field(flags, field):
    with pytest.raises(ValueError, match=field):
        em.parse_setup(flags)
