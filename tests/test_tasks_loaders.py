"""Benchmark loaders on the real files (shipped in tasks/data), and their errors."""
from __future__ import annotations

import itertools
import json
import operator
import os
import subprocess
import sys
from fractions import Fraction

import pytest

import sandbox
from tasks import countdown, gsm8k, humaneval, mawps, mbpp, svamp
from tasks.base import Task
from tasks.check import countdown_ok, grade
from tasks.jsonl import DatasetError, read_jsonl
from tasks.sources import data_dir, find_file

# Record counts from tasks/data/README.md.
COUNTS = [(gsm8k, 1319), (svamp, 1000), (mawps, 2373), (humaneval, 164), (mbpp, 500),
          (countdown, 256)]


@pytest.mark.parametrize("module, count", COUNTS, ids=lambda x: getattr(x, "__name__", x))
def test_loader_count_and_shape(module, count):
    tasks = module.load()
    assert len(tasks) == count
    assert len({t.id for t in tasks}) == count, "task ids must be unique"
    family = module.__name__.split(".")[-1]
    assert all(t.family == family and t.prompt and isinstance(t.answer, str) for t in tasks)
    assert all(Task.from_dict(json.loads(json.dumps(t.to_dict()))) == t for t in tasks[:20])


@pytest.mark.parametrize("module", [gsm8k, svamp, mawps, countdown])
def test_numeric_answers_parse(module):
    for t in module.load():
        assert Fraction(t.answer) is not None and "," not in t.answer, t.id


def test_gsm8k_answer_is_after_hashes_without_separators():
    tasks = gsm8k.load()
    assert (tasks[0].answer, tasks[0].prompt[:14]) == ("18", "Janet’s ducks ")
    assert not any("####" in t.meta["solution"] for t in tasks), "solution: the working only"
    raw = read_jsonl(find_file("gsm8k/test.jsonl"))
    big = [(r, t) for r, t in zip(raw, tasks) if "," in r["answer"].split("#### ")[-1]]
    assert big and all(t.answer == r["answer"].split("#### ")[-1].replace(",", "") for r, t in big)


def test_gsm8k_train_split_where_a_data_folder_has_it():
    try:
        find_file("gsm8k/train.jsonl")
    except FileNotFoundError:
        pytest.skip("GSM8K train is not shipped (4 MB); it comes from a data folder or LATENTCODE_DATA")
    assert len(gsm8k.load(split="train", limit=5)) == 5


def test_limit_and_ids():
    assert [t.id for t in svamp.load(limit=2)] == ["svamp/chal-1", "svamp/chal-2"]
    assert [t.id for t in mbpp.load(limit=2)] == ["mbpp/11", "mbpp/12"]
    assert mbpp.load()[-1].id == "mbpp/510"
    assert len(mbpp.load(split="train")) == 374 and len(mbpp.load(split="all")) == 974


def test_mawps_reads_as_written():
    t = mawps.load(limit=1)[0]
    assert t.prompt.startswith("Bryan took a look at his books as well. If Bryan") and t.answer == "504"
    assert t.meta["numbers"] == [56, 9]


def test_every_countdown_record_is_solvable_and_graded_by_expression():
    tasks = countdown.load()
    for t in tasks:
        assert len(t.meta["numbers"]) == 3 and str(t.meta["numbers"][0]) in t.prompt
        expression = _solve(t.meta["numbers"], int(t.answer))
        assert expression is not None, f"{t.id} has no solution"
        assert countdown_ok(expression, t.meta["numbers"], t.answer)
    # Through the sandbox: the expression is the final answer; the bare target is not.
    t = tasks[0]
    good, bare = sandbox.run_many([f"print({_solve(t.meta['numbers'], int(t.answer))!r})",
                                   f"print({t.answer})"])
    assert grade(t, good) and not grade(t, bare)


def _solve(numbers, target):
    """Brute force over orders, operators and both bracketings of three numbers."""
    for a, b, c in itertools.permutations(map(Fraction, numbers)):
        for o1, o2 in itertools.product(OPS, repeat=2):
            if _apply(o2, _apply(o1, a, b), c) == target:
                return f"({a} {o1} {b}) {o2} {c}"
            if _apply(o1, a, _apply(o2, b, c)) == target:
                return f"{a} {o1} ({b} {o2} {c})"
    return None


OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _apply(op, x, y):
    if x is None or y is None or (op == "/" and y == 0):
        return None
    return OPS[op](x, y)


@pytest.mark.parametrize("line, problem", [
    ('{"question": "q", "answer": "#### 3"', "invalid JSON"),
    ('{"question": "q"}', "missing field(s) answer"),
    ('[1, 2]', "expected a JSON object"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q", "answer": "x\\n#### 1"}\n\n' + line + "\n")
    with pytest.raises(DatasetError) as e:
        gsm8k.load(path)
    assert str(e.value).startswith(f"{path}:3: ") and problem in str(e.value)


def test_gsm8k_row_without_final_answer_is_an_error(tmp_path):
    path = tmp_path / "no_answer.jsonl"
    path.write_text('{"question": "q", "answer": "no final line"}\n')
    with pytest.raises(DatasetError, match=r"record 1: the answer has no '#### <number>' line"):
        gsm8k.load(str(path))


def test_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="pass the path of a JSONL file"):
        svamp.load(tmp_path / "nope.jsonl")


def test_data_dir_from_environment(tmp_path, monkeypatch):
    (tmp_path / "svamp").mkdir()
    (tmp_path / "svamp" / "svamp.jsonl").write_text(
        '{"ID": "x", "Body": "Ann has 2 cats", "Question": "How many cats?", "Answer": 2.0}\n')
    monkeypatch.setenv("LATENTCODE_DATA", str(tmp_path))
    [t] = svamp.load()
    assert (t.id, t.prompt, t.answer) == ("svamp/x", "Ann has 2 cats. How many cats?", "2")
    monkeypatch.setenv("LATENTCODE_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="LATENTCODE_DATA=.* is not a directory"):
        svamp.load()


def test_hub_name_without_datasets_package_says_to_pass_a_file(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(DatasetError, match="pip install datasets.*path of a local JSONL file"):
        gsm8k.load("openai/gsm8k")


def test_unreachable_hub_says_to_pass_a_file():
    # A subprocess, so that offline mode is set before datasets is imported (it reads it once).
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    code = ("from tasks import gsm8k\ntry:\n    gsm8k.load('openai/gsm8k')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120).stdout
    assert out.startswith("DatasetError could not load 'openai/gsm8k'"), out
    assert "path of a local JSONL file" in out


def test_a_clone_without_a_data_folder_reads_the_packaged_splits(tmp_path, monkeypatch):
    import tasks.sources as sources
    monkeypatch.delenv("LATENTCODE_DATA", raising=False)
    monkeypatch.setattr(sources, "REPO_ROOT", tmp_path / "clone")  # no data folder beside it
    assert sources.data_dirs() == [sources.PACKAGED]
    for module, n in COUNTS:
        assert len(module.load()) == n, module.__name__
    with pytest.raises(FileNotFoundError, match="gsm8k/train.jsonl is in none of: .*tasks/data"):
        sources.find_file("gsm8k/train.jsonl")  # the large split is not shipped


def test_the_packaged_splits_are_the_published_files():
    import hashlib
    import tasks.sources as sources
    for line in (sources.PACKAGED / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((sources.PACKAGED / name).read_bytes()).hexdigest() == digest, name
