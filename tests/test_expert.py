"""The code expert end to end: prompts, generation, extraction, sandbox, grading, runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from latentcode.evaluate import BenchConfig
from latentcode.expert.code_expert import CodeExpert, ExpertConfig, Generation, direct_answer
from latentcode.expert.direct_expert import DirectExpert
from latentcode.expert.prompts import PromptConfig
from sandbox.config import SandboxConfig
from latentcode.models import load_model
from tasks.base import Task

FENCE = "```"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny", device="cpu")


def mean_task(i=0):
    return Task(id=f"t{i}", prompt="What is the average of [3, 0, 1, 300, 2]?", answer="61.2",
                family="liststats", meta={})


def test_config_errors_name_the_field_and_the_fix():
    with pytest.raises(ValueError, match="temperature 0 makes every sample identical"):
        ExpertConfig(num_samples=4, temperature=0.0)
    with pytest.raises(ValueError, match="mode must be one of code, direct, both, routed, not 'cot'"):
        BenchConfig(mode="cot")
    with pytest.raises(ValueError, match="few_shot"):
        PromptConfig(few_shot=9)
    assert ExpertConfig(num_samples=4).temperature == 0.7 and ExpertConfig().temperature == 0.0


def test_prompt_uses_the_chat_template_with_few_shot_examples(tiny):
    model, tok = tiny
    zero = CodeExpert(model, tok, prompt=PromptConfig(few_shot=0)).prompt(mean_task())
    three = CodeExpert(model, tok, prompt=PromptConfig(few_shot=3)).prompt(mean_task())
    assert zero.startswith("<|im_start|>system") and zero.endswith("<|im_start|>assistant\n")
    assert "Write a Python program" in zero and "[3, 0, 1, 300, 2]" in zero
    assert three.count("<|im_start|>user") == 4 and "golf_balls_left" in three
    direct = DirectExpert(model, tok, prompt=PromptConfig(few_shot=1)).prompt(mean_task())
    assert "Answer: 8" in direct and FENCE not in direct


@pytest.mark.parametrize("completion, finished, status, correct", [
    (f"{FENCE}python\nxs = [3, 0, 1, 300, 2]\nprint(sum(xs) / len(xs))\n{FENCE}", True, "ok", True),
    (f"{FENCE}python\nxs = [3, 0, 1, 300, 2]\nsum(xs) / len(xs)\n{FENCE}", True, "ok", True),
    (f"{FENCE}python\nprint('The average is', 61.2)\n{FENCE}", True, "ok", True),
    (f"{FENCE}python\nfor i in range(10001):\n    print(i)\n{FENCE}", True, "ok", False),
    (f"{FENCE}python\nxs = [3, 0, 1, 300, 2]\nprint(sum(xs) / len(ys))\n{FENCE}", True, "error", False),
    (f"{FENCE}python\nwhile True:\n    pass\n{FENCE}", True, "timeout", False),
    (f"{FENCE}python\nxs = [3, 0, 1, 300, 2]\nprint(sum(xs) /", False, "truncated", False),
    ("The average is about sixty.", True, "no_code", False),
])
def test_known_completions_are_run_and_graded(tiny, completion, finished, status, correct):
    model, tok = tiny
    expert = CodeExpert(model, tok, sandbox_config=SandboxConfig(timeout_s=0.5))
    [[s]] = expert.grade_generations([mean_task()], [[Generation(completion, 20, finished)]])
    assert (s.status, s.correct) == (status, correct), s
    if status in ("truncated", "no_code"):
        assert s.stdout == "" and s.error  # never run, and says why


def test_hardcoded_and_lengths_are_recorded(tiny):
    model, tok = tiny
    expert = CodeExpert(model, tok, ExpertConfig())
    gens = [[Generation(f"{FENCE}python\nprint(61.2)\n{FENCE}", 9, True)],
            [Generation(f"{FENCE}python\nxs = [3, 0, 1, 300, 2]\nprint(sum(xs) / len(xs))\n{FENCE}", 20, True)]]
    a, b = [ss[0] for ss in expert.grade_generations([mean_task(0), mean_task(1)], gens)]
    assert a.correct and a.hardcoded and not b.hardcoded
    assert a.lengths["tokens"] < b.lengths["tokens"] and a.lengths["ast_nodes"] < b.lengths["ast_nodes"]


def test_direct_mode_grades_the_answer_line(tiny):
    model, tok = tiny
    expert = DirectExpert(model, tok)
    gens = [[Generation("The sum is 306 and there are 5 numbers.\nAnswer: 61.2", 15, True)]]
    [[s]] = expert.grade_generations([mean_task()], gens)
    assert (s.status, s.answer, s.correct) == ("direct", "61.2", True)
    assert direct_answer("so it is 7.\nThe answer is 12.") == "12"


def test_generate_returns_num_samples_per_prompt_in_order(tiny):
    model, tok = tiny
    expert = CodeExpert(model, tok, ExpertConfig(num_samples=3, max_new_tokens=6, batch_size=4))
    tasks = [mean_task(i) for i in range(3)]
    samples = expert.solve(tasks)
    assert [len(ss) for ss in samples] == [3, 3, 3]
    assert [s.task_id for ss in samples for s in ss] == ["t0"] * 3 + ["t1"] * 3 + ["t2"] * 3
    assert all(s.gen_tokens <= 6 for ss in samples for s in ss)
    assert {s.status for ss in samples for s in ss} <= {"no_code", "truncated", "ok", "error",
                                                         "timeout", "blocked", "memory"}


def _bench(tmp_path, *extra):
    cmd = [sys.executable, "-m", "latentcode", "bench", "--model", "tiny", "--suite", "liststats",
           "--max-new-tokens", "8", "--batch-size", "4", "--runs-dir", str(tmp_path), "--quiet", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_bench_cli_writes_a_run_folder(tmp_path):
    out = _bench(tmp_path, "--n", "6", "--samples", "2")
    assert out.returncode == 0, out.stderr
    [run] = list(tmp_path.iterdir())
    config = json.loads((run / "config.json").read_text())
    rows = [json.loads(l) for l in (run / "samples.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    assert config["task"]["suite"] == "liststats" and len(rows) == 12
    assert {"question", "program", "stdout", "status", "answer", "target", "correct",
            "lengths", "gen_s"} <= set(rows[0])
    assert summary["questions"] == 6 and "maj@2" in summary and "pass@2" in summary
    assert "accuracy (first sample)" in out.stdout


def test_a_killed_run_resumes_to_the_same_questions(tmp_path):
    out = _bench(tmp_path, "--n", "8")
    assert out.returncode == 0, out.stderr
    [run] = list(tmp_path.iterdir())
    rows = (run / "samples.jsonl").read_text().splitlines()
    # keep the first 3 questions and half a line, as a kill would
    (run / "samples.jsonl").write_text("\n".join(rows[:3]) + "\n" + rows[3][:20])
    (run / "summary.json").unlink()
    out = subprocess.run([sys.executable, "-m", "latentcode", "bench", "--resume", str(run), "--quiet"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    again = [json.loads(l) for l in (run / "samples.jsonl").read_text().splitlines()]
    assert sorted(r["task_id"] for r in again) == sorted(json.loads(l)["task_id"] for l in rows)
    assert json.loads((run / "summary.json").read_text())["questions"] == 8


def test_inspect_filters_and_writes_html(tmp_path):
    assert _bench(tmp_path, "--n", "4").returncode == 0
    [run] = list(tmp_path.iterdir())
    out = subprocess.run([sys.executable, "-m", "latentcode", "inspect", str(run), "--failed"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "samples shown" in out.stdout and "WRONG" in out.stdout
    page = tmp_path / "out.html"
    out = subprocess.run([sys.executable, "-m", "latentcode", "inspect", str(run), "--html", str(page)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    text = page.read_text()
    assert out.returncode == 0 and text.startswith("<!doctype html>") and "<script" not in text
    assert text.count("class='s ") == 4


@pytest.mark.parametrize("text, code_done, direct_done", [
    (f"{FENCE}python\nprint(1)\n{FENCE}", True, False),
    (f"{FENCE}python\nprint(1)\n", False, False),
    ("so 5.\nAnswer: 12\n", False, True),
    ("Answer: 12", False, False),  # the line may still be growing
    ("Answer: olleh\n", False, True),
    ("Answer:\n", False, False),
])
def test_rows_stop_once_what_is_graded_is_complete(text, code_done, direct_done):
    from latentcode.expert.code_expert import _has_closed_block
    from latentcode.expert.direct_expert import _has_answer_line
    assert (_has_closed_block(text), _has_answer_line(text)) == (code_done, direct_done)
