"""The command line as a user meets it: bad input is one line and leaves nothing behind; resume
refuses another kind of run and changed settings; Ctrl-C says what was saved and how to go on;
a closed pipe ends quietly; run folders made at once by several processes do not collide;
training ends with a summary and no library deprecation warning.

Runs are real (the `tiny` model, the real sandbox); the commands go through
``latentcode.cli.main`` as the console script calls it, or through a subprocess where a
signal or a pipe is the point.
"""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from latentcode.cli import main
from latentcode.runs import Run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--model", "tiny", "--max-new-tokens", "8"]
GRPO = ["--model", "tiny", "--max-steps", "1", "--save-steps", "1", "--num-generations", "2",
        "--per-device-train-batch-size", "2", "--max-completion-length", "8", "--train-size", "4",
        "--eval-size", "2", "--eval-every", "0", "--use-cpu", "true", "--report-to", "none"]


def cli(argv, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def folders(path: Path) -> list[Path]:
    return sorted(path.iterdir()) if path.exists() else []


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("bench")
    assert main(["bench", *TINY, "--suite", "arithmetic", "--n", "2", "--runs-dir", str(runs), "--quiet"]) == 0
    return folders(runs)[0]


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("grpo")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", "grpo", *GRPO, "--suite", "arithmetic", "--runs-dir", str(runs)]) == 0
    return folders(runs)[0], caught


@pytest.mark.parametrize("argv,says", [
    (["bench", "--n", "0"], "n (0) must be at least 1"),
    (["bench", "--n", "1", "--batch-size", "0"], "batch_size (0) must be at least 1"),
    (["bench", "--model", "./no/such/folder"], "model folder './no/such/folder' does not exist"),
    (["bench", "--suite", "nosuch"], "unknown suite 'nosuch'"),
    (["bench", "--suite", "missing.jsonl"], "missing.jsonl: no such file"),
    (["bench", "--mode", "routed"], "--mode routed needs --router RUN"),
    (["bench", "--weights", "no/such/run"], "no/such/run"),
    (["train", "grpo", "--max-steps", "0"], "max_steps (0) must be at least 1"),
    (["train", "es", "--max-steps", "0"], "max_steps (0) must be at least 1"),
    (["train", "em", "--iterations", "0"], "iterations (0) must be at least 1"),
    (["train", "router", "--labels", "no/such/labels"], "no/such/labels"),
])
def test_bad_input_is_one_line_and_leaves_nothing(argv, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli([*argv, "--runs-dir", str(tmp_path / "runs")], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latentcode: error: ") and says in lines[0], err
    assert "Traceback" not in err
    assert folders(tmp_path / "runs") == []


def test_an_unknown_hub_id_fails_at_once_when_offline(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    rc, _, err = cli(["bench", "--model", "nosuchorg/nosuchmodel", "--n", "1", "--runs-dir", str(tmp_path / "runs")], capsys)
    assert rc == 2 and "not in the hub cache, and the hub is not reachable" in err
    assert folders(tmp_path / "runs") == []


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="n \\(0\\)"):
        main(["bench", "--n", "0", "--debug"])


def test_an_unknown_trainer_is_named(capsys):
    rc, _, err = cli(["train", "ppo"], capsys)
    assert rc == 2 and "unknown trainer 'ppo'; choose one of grpo, es, em, router" in err


def test_a_jsonl_file_is_a_suite(tmp_path, capsys):
    questions = tmp_path / "mine.jsonl"
    questions.write_text('{"question": "What is 1 + 2?", "answer": 3}\n\n{"question": "What is 2 * 5?", "answer": "10", "id": "q-ten"}\n')
    rc, out, _ = cli(["bench", *TINY, "--suite", str(questions), "--runs-dir", str(tmp_path / "runs"), "--quiet"], capsys)
    assert rc == 0
    rows = Run(folders(tmp_path / "runs")[0]).samples()
    assert [(r["task_id"], r["target"], r["family"]) for r in rows] == [("mine/0", "3", "mine"), ("q-ten", "10", "mine")]
    questions.write_text('{"question": "What is 1 + 2?", "answer": 3}\n{"question": "no answer"}\n')
    rc, _, err = cli(["bench", *TINY, "--suite", str(questions), "--runs-dir", str(tmp_path / "runs2")], capsys)
    assert rc == 2 and f"{questions}:2: needs \"question\" and \"answer\"" in err
    assert folders(tmp_path / "runs2") == []


def test_resume_refuses_another_kind_and_touches_nothing(bench_run, capsys):
    before = {p.name: p.read_bytes() for p in bench_run.iterdir()}
    for trainer in ("es", "em", "grpo"):
        rc, _, err = cli(["train", trainer, "--resume", str(bench_run)], capsys)
        assert rc == 2, trainer
        assert f"is a bench run, not a{'n' if trainer[0] == 'e' else ''} {trainer} run" in err
        assert f"latentcode bench --resume {bench_run}" in err
    assert {p.name: p.read_bytes() for p in bench_run.iterdir()} == before


def test_bench_resume_refuses_a_flag_it_would_ignore(bench_run, capsys):
    rc, _, err = cli(["bench", "--resume", str(bench_run), "--n", "5"], capsys)
    assert rc == 2 and "bench.n: 2 -> 5" in err
    rc, out, _ = cli(["bench", "--resume", str(bench_run), "--quiet"], capsys)  # unchanged: finishes
    assert rc == 0 and f"run folder: {bench_run}" in out


def test_training_ends_with_a_summary_and_no_deprecation_warning(grpo_run, capsys):
    run, caught = grpo_run
    noisy = [str(w.message)[:80] for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))
             and "gradient_checkpointing" in str(w.message) or "past_key_values" in str(w.message)]
    assert noisy == []
    from latentcode.training.summary import training_summary
    text = training_summary(run, "grpo")
    assert text.splitlines()[0] == "trained 1 step, 2 completions"
    assert "held-out accuracy 0.0% (step 0) -> 0.0% (step 1) on 2 questions" in text
    assert text.endswith(f"run folder: {run}")


def test_grpo_resume_reuses_its_settings_and_refuses_changes(grpo_run, capsys):
    run, _ = grpo_run
    config = (run / "config.json").read_text()
    rc, _, err = cli(["train", "grpo", "--resume", str(run), "--learning-rate", "0.5"], capsys)
    assert rc == 2 and "grpo.learning_rate: 1e-05 -> 0.5" in err
    rc, _, err = cli(["train", "es", "--resume", str(run)], capsys)
    assert rc == 2 and f"is a grpo run, not an es run (continue it with `latentcode train grpo --resume {run}`)" in err
    # no flag but --resume: the saved model (tiny), sizes and suite, not the defaults
    rc, out, _ = cli(["train", "grpo", "--resume", str(run), "--max-steps", "2"], capsys)
    assert rc == 0 and "trained 2 steps" in out
    assert json.loads((run / "config.json").read_text())["model"] == json.loads(config)["model"]
    assert [m["step"] for m in Run(run).samples() if "step" in m] and \
        sorted({json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()}) == [1, 2]


def _bench_command(runs: Path, n: int) -> list[str]:
    return [sys.executable, "-m", "latentcode", "bench", *TINY, "--suite", "arithmetic", "--n", str(n),
            "--batch-size", "2", "--runs-dir", str(runs), "--quiet"]


def test_ctrl_c_says_what_was_saved_and_how_to_go_on(tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_bench_command(runs, 2000), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(runs.glob("*/samples.jsonl"))
        if found and found[0].stat().st_size > 0:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("no sample was saved within 120 s")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run = found[0].parent
    saved = len(Run(run).samples())
    assert f"saved {saved} samples in {run}; continue with: latentcode bench --resume {run}" in err


def test_a_closed_pipe_ends_quietly(tmp_path):
    runs = tmp_path / "runs"
    assert main(["bench", *TINY, "--suite", "arithmetic", "--n", "300", "--samples", "2",
                 "--runs-dir", str(runs), "--quiet"]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "latentcode", "inspect", str(folders(runs)[0]), "--no-color"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def _make_run(args) -> str:
    runs_dir, i = args
    return str(Run.create(runs_dir, "same", {"kind": "bench", "maker": i}).path)


def test_runs_created_at_once_do_not_collide(tmp_path):
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        paths = pool.map(_make_run, [(str(tmp_path), i) for i in range(8)] * 2)
    assert len(set(paths)) == 16
    makers = sorted(json.loads((Path(p) / "config.json").read_text())["maker"] for p in paths)
    assert makers == sorted(list(range(8)) * 2)


@pytest.mark.parametrize("command", [["bench"], ["train", "grpo"], ["train", "es"], ["train", "em"],
                                     ["train", "router"], ["inspect"], ["demo"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0 and "--" in capsys.readouterr().out


def test_finding_runs_by_kind_and_saying_when_there_is_none(tmp_path, bench_run):
    from latentcode.runs import find_runs, latest_run
    with pytest.raises(FileNotFoundError, match="no bench run under .*latentcode bench --suite liststats"):
        latest_run(tmp_path, kind="bench")
    (tmp_path / "nested").mkdir()
    older = Run.create(tmp_path / "nested", "a", {"kind": "bench"})
    Run.create(tmp_path, "b", {"kind": "grpo"})
    (tmp_path / "20991231-000000-broken").mkdir()
    (tmp_path / "20991231-000000-broken" / "config.json").write_text("{cut")
    assert [r.path for r in find_runs(tmp_path, "bench")] == [older.path]  # the damaged folder is left out
    assert latest_run(tmp_path).kind == "grpo"
