"""Documented flows as a newcomer meets them: the router's three README steps end to end at the
default gate; a benchmark stopped half-way keeps every question it finished; bad input of every
kind is one line naming the fix, exit status 2 and no folder; help a person can read."""
import time
from pathlib import Path

import pytest

from conftest import tiny_labels
from latentcode.cli import main
from latentcode.runs import Run

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def cli(argv, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_the_routers_three_steps_at_the_default_gate(tmp_path, capsys):
    """README, "The router": labels, `train router --config configs/router.yaml` (four cost
    weights, c0 and c0.5 among them), then `bench --mode routed` with no --cost-weight (gate c0,
    which must not pick up c0.5's weights)."""
    labels = tiny_labels(tmp_path)
    rc, _, err = cli(["train", "router", "--labels", str(labels["train"]), "--runs-dir", str(tmp_path / "no")], capsys)
    assert rc == 2 and "were made by 'tiny', not 'smollm2-135m'" in err and "pass --model tiny" in err
    assert not (tmp_path / "no").exists() or not any((tmp_path / "no").iterdir())
    rc, _, err = cli(["train", "router", "--model", "tiny", "--config", str(CONFIGS / "router.yaml"), "--labels", str(labels["train"]),
                      "--eval-labels", str(labels["heldout"]), "--steps", "5", "--runs-dir", str(tmp_path / "router")], capsys)
    assert rc == 0, err
    (router,) = (tmp_path / "router").iterdir()
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "What is 1 + 3?", "answer": 4}\n{"question": "What is 2 + 3?", "answer": 5}\n')
    for weight in ([], ["--cost-weight", "0.5"]):
        rc, out, err = cli(["bench", "--model", "tiny", "--mode", "routed", "--router", str(router), *weight,
                            "--suite", str(questions), "--max-new-tokens", "8", "--quiet",
                            "--runs-dir", str(tmp_path / "routed")], capsys)
        assert rc == 0 and "routed:" in out, err
    assert all(len(Run(p).samples()) == 2 for p in (tmp_path / "routed").iterdir())


def test_a_stopped_bench_keeps_every_question_it_finished(tmp_path, capsys, monkeypatch):
    """Questions are saved as they finish, not per chunk of 4 x batch size: Ctrl-C while the
    fifth of twelve questions (all in one batch of 64) is graded keeps the first four."""
    from latentcode.expert.code_expert import CodeExpert
    grade = CodeExpert.grade_generations
    calls = []

    def stopped_at_the_fifth(self, tasks, gens, gen_s=0.0):
        calls.append(tasks[0].id)
        if len(calls) >= 5:
            raise KeyboardInterrupt
        return grade(self, tasks, gens, gen_s)

    monkeypatch.setattr(CodeExpert, "grade_generations", stopped_at_the_fifth)
    rc, _, err = cli(["bench", "--model", "tiny", "--max-new-tokens", "8", "--suite", "arithmetic", "--n", "12",
                      "--runs-dir", str(tmp_path / "runs"), "--quiet"], capsys)
    assert rc == 130
    (run,) = (tmp_path / "runs").iterdir()
    saved = Run(run).samples()
    assert [r["task_id"] for r in saved] == calls[:4]
    assert f"saved 4 samples in {run}; continue with: latentcode bench --resume {run}" in err
    monkeypatch.setattr(CodeExpert, "grade_generations", grade)
    rc, _, _ = cli(["bench", "--resume", str(run), "--quiet"], capsys)
    assert rc == 0 and len(Run(run).samples()) == 12


BAD = [
    (["bench", "--n", "abc"], "argument --n: invalid int value: 'abc'"),
    (["bench", "--nosuch", "3"], "unknown flag --nosuch"),
    (["bench", "--max-new-token", "3"], "did you mean --max-new-tokens?"),
    (["bench", "--model", "tiny", "--device", "cuda:7"], "device 'cuda:7'"),
    (["bench", "--config", "missing.yaml"], "--config missing.yaml: no such file"),
    (["bench", "--config", "broken.yaml"], "broken.yaml is not valid YAML at line 3, column 1 (while parsing a flow sequence started at line 2)"),
    (["bench", "--config", "list.yaml"], "list.yaml must be a YAML mapping"),
    (["bench", "--config", "typo.yaml"], "unknown key sufite in typo.yaml; did you mean suite?"),
    (["train", "es", "--population", "many"], "argument --population: invalid int value: 'many'"),
    (["train", "es", "--model", "tiny", "--device", "cuda:7"], "device 'cuda:7'"),
    (["train", "grpo", "--nosuch", "1"], "unknown flag --nosuch"),
    (["train", "em", "--nosuch", "1"], "unknown flag --nosuch"),
    (["train", "router", "--nosuch", "1"], "unknown flag --nosuch"),
    (["inspect"], "the following arguments are required: run"),
    (["inspect", "no/such/run"], "no/such/run is not a run folder"),
]


@pytest.mark.parametrize("argv,says", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_of_every_kind_is_one_line(argv, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.yaml").write_text("model: tiny\nn: [1\n")
    (tmp_path / "list.yaml").write_text("- model\n- tiny\n")
    (tmp_path / "typo.yaml").write_text("model: tiny\nsufite: arithmetic\n")
    extra = [] if argv[0] == "inspect" else ["--runs-dir", str(tmp_path / "runs")]
    rc, out, err = cli([*argv, *extra], capsys)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("latentcode: error: ") and says in lines[0], err
    assert "HfArgumentParser" not in err and "usage:" not in err + out
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_cuda_device_without_cuda_is_one_line(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc, _, err = cli(["bench", "--model", "tiny", "--device", "cuda", "--runs-dir", str(tmp_path / "runs")], capsys)
    assert rc == 2 and "leave --device unset (or pass cpu)" in err and len(err.strip().splitlines()) == 1


def test_the_top_level_help_is_fast_and_documents_debug_and_config():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "latentcode", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--debug" in out.stdout and "--config" in out.stdout
    heavy = [m for m in ("torch", "transformers", "trl") if f"| {m}\n" in out.stderr]
    assert heavy == [], f"`latentcode --help` imports {heavy}"


@pytest.mark.parametrize("command,own_first", [(["train", "grpo"], "--max-steps"), (["bench"], "--n")])
def test_help_lists_the_projects_options_first_and_folds_the_rest(command, own_first, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    short = capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*command, "--help-all"])
    full = capsys.readouterr().out
    assert "--config FILE.yaml" in short and "--debug" in short and "--help-all" in short
    assert short.index(own_first) < short.index("--suite") < short.index("--timeout-s")
    assert len(short.splitlines()) < min(260, len(full.splitlines()))
    assert "HfArgumentParser" not in short
    if command == ["bench"]:  # an inference command: no training flags
        for flag in ("--lora", "--use-peft", "--lora-r", "--use-dora", "--load-in-4bit"):
            assert flag not in short, flag
        assert "--load-in-4bit" in full
    else:
        assert "--suite" in short and "--adam-beta1" not in short and "--adam-beta1" in full


def test_the_tiny_model_gets_smoke_run_defaults(tmp_path):
    """`train es --model tiny --max-steps 2` took 11 minutes with the SmolLM2 run's defaults
    (30 members x 16 questions x 256 tokens); with `tiny` a trainer's defaults are a smoke
    run's. A flag or a YAML key still wins, and another model keeps the real defaults."""
    from latentcode.config import TINY_DEFAULTS, parse
    from latentcode.training.em import EMSetup
    from latentcode.training.es import ESSetup
    from latentcode.training.grpo import GRPOSetup
    for setup_cls in (ESSetup, EMSetup, GRPOSetup):
        tiny = parse(setup_cls, ["--model", "tiny", "--use-cpu"] if setup_cls is GRPOSetup else ["--model", "tiny"])
        for key, value in TINY_DEFAULTS[setup_cls.KIND].items():
            section = next(getattr(tiny, f.name) for f in __import__("dataclasses").fields(tiny)
                           if hasattr(getattr(tiny, f.name), key))
            assert getattr(section, key) == value, (setup_cls.KIND, key)
    assert parse(ESSetup, ["--model", "tiny", "--population", "6"]).es.population == 6
    (tmp_path / "es.yaml").write_text("model: tiny\npopulation: 8\n")
    from_file = parse(ESSetup, ["--config", str(tmp_path / "es.yaml")])
    assert (from_file.es.population, from_file.es.tasks_per_step) == (8, 2)
    assert parse(ESSetup, []).es.population == 30


def test_grpo_says_how_many_steps_max_steps_minus_one_means():
    """TRL's max_steps -1 (the default: epochs over the training split) is stated before
    training in steps; the issue's run: 256 questions x 4 completions / 4 per step x 3 epochs."""
    from latentcode.training.grpo import CodeGRPOConfig, _epoch_steps
    assert _epoch_steps(CodeGRPOConfig(use_cpu=True, report_to="none"), 256) == 768


def test_ctrl_c_in_a_resumed_run_says_what_is_saved(tmp_path, capsys, monkeypatch):
    """A resumed training run is this command's folder too: Ctrl-C names what it holds and the
    command that goes on (it said only "interrupted")."""
    from latentcode.training import es
    run = Run.create(tmp_path, "es-liststats", {"kind": "es"})
    run.append_samples([{"task_id": f"t{i}", "index": 0} for i in range(3)])

    def interrupted(setup):
        raise KeyboardInterrupt
    monkeypatch.setattr(es, "train_es", interrupted)
    from latentcode import runs
    rc, _, err = cli(["train", "es", "--resume", str(run.path)], capsys)
    assert rc == 130
    assert f"saved 3 samples in {run.path}; continue with: latentcode train es --resume {run.path}" in err
