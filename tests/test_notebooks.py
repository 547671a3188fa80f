"""Every notebook runs top to bottom (nbclient, a real Jupyter kernel) on tiny run folders made
here: a benchmark, a GRPO run and a router, all with the `tiny` model. A notebook that raises
fails its test; each must also show what it is for (a figure, the run page)."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import tiny_labels
from latentcode.cli import main

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TINY = ["--model", "tiny", "--max-new-tokens", "8", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    labels = tiny_labels(root)
    assert main(["train", "router", "--model", "tiny", "--labels", str(labels["train"]), "--eval-labels", str(labels["heldout"]),
                 "--form", "probe", "--steps", "20", "--runs-dir", str(root / "router")]) == 0
    assert main(["train", "grpo", "--model", "tiny", "--max-steps", "2", "--save-steps", "2", "--num-generations", "2",
                 "--per-device-train-batch-size", "2", "--max-completion-length", "8", "--train-size", "4",
                 "--eval-size", "2", "--eval-every", "1", "--use-cpu", "true", "--report-to", "none",
                 "--suite", "arithmetic", "--runs-dir", str(root / "train")]) == 0
    assert main(["bench", *TINY, "--suite", "arithmetic", "--n", "3", "--runs-dir", str(root)]) == 0
    return root


def execute(name: str, runs: Path, **env) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    saved = dict(os.environ)
    os.environ.pop("LATENTCODE_RUN", None)
    os.environ.update({"LATENTCODE_RUNS": str(runs), "LATENTCODE_NOTEBOOK_STEPS": "150", "OMP_NUM_THREADS": "1", **env})
    try:  # the kernel inherits this process's environment
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def outputs(nb, kind: str) -> list[str]:
    return [o["data"][kind] for c in nb.cells for o in c.get("outputs", []) if kind in o.get("data", {})]


def text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(
        ["inspect_run.ipynb", "moe_em.ipynb", "mixture_of_blocks.ipynb", "training_curves.ipynb", "router_curves.ipynb"])


def test_reading_a_run_shows_the_newest_bench_run_and_its_page(runs):
    nb = execute("inspect_run.ipynb", runs)
    newest = sorted(p for p in runs.iterdir() if p.name.endswith("arithmetic-code"))[-1]
    assert f"{newest} | bench | 3 samples" in text(nb)
    assert "arithmetic | code | tiny" in text(nb)
    page = outputs(nb, "text/html")
    assert len(page) == 1 and "<h1>latentcode run" in page[0] and page[0].count("class=verdict") == 3


def test_reading_a_training_run(runs):
    run = next((runs / "train").iterdir())
    nb = execute("inspect_run.ipynb", runs, LATENTCODE_RUN=str(run))
    assert "trained 2 steps" in text(nb) and "held-out accuracy" in text(nb)


def test_the_classical_moe_notebook_fits_both_problems_and_em_never_goes_down(runs):
    nb = execute("moe_em.ipynb", runs)
    out = text(nb)
    assert out.count("held-out NLL") == 4 and "never lower than the step before" in out
    assert len(outputs(nb, "image/png")) == 1


def test_the_mixture_of_blocks_notebook_shows_exits_and_choices(runs):
    nb = execute("mixture_of_blocks.ipynb", runs)
    assert " hops  mixture  stack  mean exit step" in text(nb)
    assert len(outputs(nb, "image/png")) == 1


def test_the_training_curves_notebook_reads_training_runs(runs):
    nb = execute("training_curves.ipynb", runs)
    assert "trained 2 steps, 4 completions" in text(nb)
    assert len(outputs(nb, "image/png")) == 1


def test_the_router_notebook_draws_its_curves(runs):
    nb = execute("router_curves.ipynb", runs)
    assert "router-probe-ce c0.5" in text(nb)
    assert len(outputs(nb, "image/png")) == 1
