"""Run metrics and the run folder (append-only samples, resume after a kill)."""
from __future__ import annotations

import json
import math

import pytest

from latentcode.metrics import majority_correct, pass_at_k, summarize, vote_key
from latentcode.runs import Run


def sample(task, index, answer, correct, status="ok", family="f", **kw):
    return dict(task_id=task, index=index, answer=answer, correct=correct, status=status,
                family=family, program="print(1)", lengths={"tokens": 3, "ast_nodes": 4,
                                                            "zlib_bits": 40}, **kw)


def test_pass_at_k_matches_the_closed_form():
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 1, 4) == 1.0
    assert math.isclose(pass_at_k(4, 1, 1), 0.25)
    assert math.isclose(pass_at_k(10, 3, 2), 1 - math.comb(7, 2) / math.comb(10, 2))


def test_votes_merge_equal_numbers():
    assert vote_key("4") == vote_key("4.0") == vote_key("4.00") == vote_key("4.")
    assert vote_key("1,200") == vote_key("1200")
    assert vote_key("Hello  World") == vote_key("hello world")


def test_majority_vote_uses_the_most_common_answer():
    group = [sample("q", 0, "5", False), sample("q", 1, "7", True), sample("q", 2, "7.0", True),
             sample("q", 3, None, False, status="timeout")]
    assert majority_correct(group)
    group2 = [sample("q", 0, "5", False), sample("q", 1, "5", False), sample("q", 2, "7", True)]
    assert not majority_correct(group2)


def test_summary_counts_first_sample_accuracy_maj_and_pass():
    rows = [sample("a", 0, "1", True), sample("a", 1, "2", False),
            sample("b", 0, "3", False), sample("b", 1, "4", True),
            sample("c", 0, None, False, status="timeout"), sample("c", 1, None, False, status="truncated")]
    s = summarize(rows)
    assert (s["questions"], s["k"]) == (3, 2)
    assert math.isclose(s["accuracy"], 1 / 3)  # only a's first sample is right
    assert math.isclose(s["pass@2"], 2 / 3)
    assert s["status"] == {"ok": 4, "timeout": 1, "truncated": 1}
    assert s["mean_program_tokens"] == 3


def test_run_folder_survives_a_cut_line_and_resumes(tmp_path):
    run = Run.create(tmp_path, "demo run/x", {"bench": {"samples": 2}})
    assert run.path.name.endswith("demo-run-x") and json.loads((run.path / "config.json").read_text())
    run.append_samples([sample("a", 0, "1", True), sample("a", 1, "1", True), sample("b", 0, "2", False)])
    with open(run.path / "samples.jsonl", "a") as f:
        f.write('{"task_id": "b", "ind')  # the process died mid-write
    again = Run.open(run.path)
    assert len(again.samples()) == 3
    assert again.completed_tasks(2) == {"a"}
    again.drop_partial(2)
    assert [s["task_id"] for s in again.samples()] == ["a", "a"]


def test_open_rejects_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        Run.open(tmp_path)


def test_wilson_interval_matches_published_values_and_bounds():
    from latentcode.metrics import wilson
    lo, hi = wilson(34, 200)  # 17.0%: the interval docs/results.md quotes
    assert (round(lo, 3), round(hi, 3)) == (0.124, 0.228)
    lo, hi = wilson(0, 20)  # no successes: starts at 0, still has width
    assert lo == 0.0 and 0.15 < hi < 0.17
    lo, hi = wilson(20, 20)
    assert hi == 1.0 and 0.83 < lo < 0.85
    for k in range(0, 51, 5):  # always holds the observed share
        lo, hi = wilson(k, 50)
        assert lo <= k / 50 <= hi
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson(3, 2)
