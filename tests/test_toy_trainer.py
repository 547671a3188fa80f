"""A fourth trainer written as its algorithm only (tests/toy_trainer.py, one file) gets its run
folder, resume, held-out evaluation and summary from the harness (latentcode/training/harness.py)."""
import json

import pytest
from safetensors.torch import load_file

from latentcode.config import compose
from toy_trainer import ClimbSetup, main, train_climb

pytestmark = pytest.mark.usefixtures("one_thread")


def small(runs_dir, **kw) -> ClimbSetup:
    base = dict(model="tiny", max_new_tokens=8, train_size=6, eval_size=2, sigma=0.05, metamorphic=False,
                runs_dir=str(runs_dir), quiet=True)
    return compose(ClimbSetup, **{**base, **kw})


def rows(run, name) -> list[dict]:
    return [json.loads(line) for line in (run / name).read_text().splitlines()]


def test_it_gets_a_run_folder_with_logs_checkpoints_and_heldout_evaluations(tmp_path):
    run = train_climb(small(tmp_path, max_steps=2, eval_every=1))
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "climb" and config["climb"]["max_steps"] == 2 and run.name.endswith("climb-liststats")
    assert [r["step"] for r in rows(run, "metrics.jsonl")] == [1, 2]
    assert [r["completions"] for r in rows(run, "metrics.jsonl")] == [4, 8]  # 2 tasks, before and after
    assert {r["step"] for r in rows(run, "samples.jsonl")} == {1, 2}
    assert [r["step"] for r in rows(run, "evals.jsonl")] == [0, 1, 2]  # held out: start, every step, end
    assert all(r["questions"] == 2 for r in rows(run, "evals.jsonl"))
    assert sorted({r["step"] for r in rows(run, "eval_samples.jsonl")}) == [0, 1, 2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-1", "step-2"]


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    straight = train_climb(small(tmp_path / "straight", max_steps=3))
    first = train_climb(small(tmp_path / "cut", max_steps=2))
    with pytest.raises(ValueError, match="other settings .*sigma"):  # a change the run would not show
        train_climb(small(tmp_path / "cut", max_steps=3, sigma=0.5, resume=str(first)))
    resumed = train_climb(small(tmp_path / "cut", max_steps=3, resume=str(first)))
    assert resumed == first
    a, b = (load_file(str(r / "checkpoints" / "step-3" / "trainable.safetensors")) for r in (straight, resumed))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    drop = lambda rs: [{k: v for k, v in r.items() if k != "wall_s"} for r in rs]  # noqa: E731
    assert drop(rows(resumed, "metrics.jsonl")) == drop(rows(straight, "metrics.jsonl"))
    assert [r["step"] for r in rows(resumed, "evals.jsonl")] == [0, 2, 3]  # step 2 ended the first run


def test_its_command_prints_the_summary(tmp_path, capsys):
    assert main(["--model", "tiny", "--max-new-tokens", "8", "--train-size", "6", "--eval-size", "2",
                 "--max-steps", "1", "--metamorphic", "false", "--runs-dir", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "trained 1 step, 4 completions" in out and "held-out accuracy" in out
    assert f"run folder: {tmp_path}" in out
