"""bench/training_report.py reads training run folders into the figures of docs/results.md:
accuracy with its Wilson interval at each evaluation, completions and hours spent by then,
and the lengths of the right held-out programs."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "training_report.py"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("training_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def em_run(tmp_path: Path) -> Path:
    run = tmp_path / "20261206-120000-d2-lambda0-seed0"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "em", "em": {"seed": 0, "mdl_lambda": 0.0}}))
    write_jsonl(run / "metrics.jsonl", [{"step": t, "completions": 192 * t, "wall_s": 900.0} for t in (1, 2)])
    write_jsonl(run / "evals.jsonl", [{"step": 0, "accuracy": 0.17, "questions": 200, "ran_ok": 0.35},
                                      {"step": 2, "accuracy": 0.6, "questions": 200, "ran_ok": 0.8}])

    def answer(step, correct, nodes):
        return {"step": step, "correct": correct, "program": "print(1)", "hardcoded": False,
                "lengths": {"ast_nodes": nodes, "zlib_bits": 10 * nodes}}
    write_jsonl(run / "eval_samples.jsonl", [answer(0, True, 60), answer(0, False, 90),
                                        answer(2, True, 40), answer(2, True, 50)])
    write_jsonl(run / "samples.jsonl", [{"step": 2, "weight": 1.0, "bits": 300, "lengths": {"ast_nodes": 30}},
                                        {"step": 2, "weight": 0.0, "bits": 900, "lengths": {"ast_nodes": 90}}])
    return run


def test_evaluations_carry_their_interval_budget_and_program_lengths(report, tmp_path):
    r = report.load(em_run(tmp_path))
    assert r["label"] == "d2-lambda0-seed0" and r["kind"] == "em"
    first, last = r["evals"]
    assert (first["completions"], first["hours"], last["completions"], last["hours"]) == (0, 0.0, 384, 0.5)
    assert (first["right"], last["right"]) == (34, 120)
    assert [round(x, 3) for x in first["ci95"]] == [0.124, 0.228]
    assert (first["right_ast_nodes"], last["right_ast_nodes"], last["right_bits"]) == (60, 45, 450)
    assert r["kept_last_iteration"] == {"step": 2, "programs": 1, "ast_nodes": 30, "bits": 300}
    table = report.tables([r])
    assert "| d2-lambda0-seed0 | em | 2 | 384 | 0.50 | 60.0% (53.1%-66.5%), 120/200 |" in table
    assert first["accuracy_computed"] is None  # 2 answers logged for 200 questions: not computed from them


def test_the_figure_is_written_as_png_and_svg(report, tmp_path):
    written = report.plot([report.load(em_run(tmp_path))], tmp_path / "fig", "title")
    assert [p.suffix for p in written] == [".png", ".svg"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in written[1].read_bytes()[:400]


def test_by_template_counts_each_question_type(report, tmp_path):
    from tasks.config import SplitConfig, TaskConfig, load_split
    run = tmp_path / "20261206-120000-em-liststats"
    run.mkdir()
    task, split = TaskConfig(suite="liststats"), SplitConfig(train_size=6, eval_size=6)
    train, held = load_split(task, split)
    (run / "config.json").write_text(json.dumps({"kind": "em", "task": vars(task), "split": vars(split)}))
    write_jsonl(run / "eval_samples.jsonl", [{"step": 0, "task_id": t.id, "correct": i == 0} for i, t in enumerate(held)])
    write_jsonl(run / "samples.jsonl", [{"step": 1, "task_id": train[0].id, "correct": True, "weight": 1.0},
                                        {"step": 1, "task_id": train[0].id, "correct": True, "weight": 0.0}])
    table = report.by_template(run)
    first = held[0].meta["template"]
    assert f"| {first} | 1/1 |" in table  # six templates, one question each, the first right
    assert table.count("| 0/1 |") == 5
    assert f"| {train[0].meta['template']} | " in table and "| 2 / 1 / 2 |" in table


def test_grpo_hours_leave_out_evaluations_and_a_warm_start_counts_its_source(report, tmp_path, monkeypatch):
    em = em_run(tmp_path)  # 192 completions and 900 s per iteration
    run = tmp_path / "20261206-130000-em2-grpo"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"kind": "grpo", "grpo": {"seed": 0, "init_from": f"{em.name}/checkpoints/iter-1"}}))
    # GRPO's wall_s runs from the trainer's start: 360 s of held-out generation at step 0, 180 s at step 2
    write_jsonl(run / "metrics.jsonl", [{"step": 1, "completions": 96, "wall_s": 1260.0},
                                        {"step": 2, "completions": 128, "wall_s": 1800.0}])
    write_jsonl(run / "evals.jsonl", [{"step": 0, "accuracy": 0.3, "questions": 200, "gen_s": 360.0},
                                      {"step": 2, "accuracy": 0.5, "questions": 200, "gen_s": 180.0}])
    monkeypatch.chdir(tmp_path)  # init_from is a path as the trainer was given it
    r = report.load(run)
    first, last = r["evals"]
    assert r["warm_start"] == {"run": em.name, "step": 1, "completions": 192, "hours": 0.25}
    assert (first["completions"], first["hours"]) == (192, 0.25)  # EM's first iteration
    assert (last["completions"], round(last["hours"], 6)) == (192 + 128, 0.25 + 0.35)  # (1800 - 540) s
    (tmp_path / em.name / "metrics.jsonl").unlink()
    with pytest.raises(SystemExit, match="started from is not here"):
        report.load(run)


def test_train_curves_mark_evaluations_and_keep_the_legend_off_the_data(tmp_path):
    """bench/train_curves.py (matplotlib): PNG and SVG from run folders or from its own JSON;
    one dot per evaluation; the legend sits below both panels."""
    spec = importlib.util.spec_from_file_location("train_curves", SCRIPT.parent / "train_curves.py")
    curves = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curves)
    run = em_run(tmp_path)
    record = tmp_path / "curves.json"
    assert curves.main([str(run), "--out", str(tmp_path / "a"), "--json", str(record)]) == 0
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "a.svg").read_text()
    assert "em: d2-lambda0-seed0" in svg and "held-out accuracy" in svg
    # redrawn from the JSON alone: the same figure
    assert curves.main(["--from-json", str(record), "--out", str(tmp_path / "b")]) == 0
    b = (tmp_path / "b.svg").read_text()
    dots = b[b.index('<g id="evaluations-0">'):]
    assert dots[:dots.index("</g>")].count("<use ") == 2  # two evaluations, two dots
    runs = json.loads(record.read_text())
    fig = curves.figure(runs, {runs[0]["run"]: "x"}, 5)
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    for ax in fig.axes:  # below both panels, clear of their data
        assert not legend.overlaps(ax.get_window_extent()) and legend.y1 <= ax.get_window_extent().y0
