"""Each configs/*.yaml runs as shipped: the command it documents, shrunk by flags to the `tiny`
model and a few questions (sizes only: no setting that decides which questions or how they are
split is overridden), writes a run whose config.json holds the file's other settings (flags override
the file, the file overrides the defaults)."""
import json
from pathlib import Path

import pytest
import yaml

from conftest import tiny_labels
from latentcode.cli import main
from latentcode.runs import Run, flat_settings

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHRINK = {
    "bench": ["--model", "tiny", "--suite", "arithmetic", "--n", "2", "--few-shot", "0", "--max-new-tokens", "8", "--quiet"],
    "grpo": ["--model", "tiny", "--max-steps", "1", "--save-steps", "1", "--num-generations", "2",
             "--per-device-train-batch-size", "2", "--max-completion-length", "8", "--train-size", "4",
             "--eval-size", "2", "--use-cpu", "true", "--report-to", "none"],
    "es": ["--model", "tiny", "--population", "2", "--tasks-per-step", "2", "--max-steps", "1", "--train-size", "4",
           "--eval-size", "2", "--max-new-tokens", "8", "--eval-every", "1", "--save-every", "1"],
    "em": ["--model", "tiny", "--iterations", "1", "--questions", "2", "--samples", "2", "--train-size", "4",
           "--eval-size", "2", "--max-new-tokens", "8", "--eval-every", "1", "--quiet"],
    "router": ["--model", "tiny", "--steps", "10"],  # the labels' model: another's is refused
}


def test_every_config_is_tested():
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(SHRINK)


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    return {k: str(v) for k, v in tiny_labels(tmp_path_factory.mktemp("labels")).items()}


@pytest.mark.parametrize("name", sorted(SHRINK))
def test_config_runs(name, tmp_path, labels):
    command = ["bench"] if name == "bench" else ["train", name]
    extra = ["--labels", labels["train"], "--eval-labels", labels["heldout"]] if name == "router" else []
    runs = tmp_path / "runs"
    assert main([*command, "--config", str(CONFIGS / f"{name}.yaml"), *SHRINK[name], *extra,
                 "--runs-dir", str(runs)]) == 0
    (run,) = list(runs.iterdir())
    saved = flat_settings(Run(run).config)
    flags = {a.lstrip("-").replace("-", "_") for a in SHRINK[name] if a.startswith("--")}
    aliases = {"model": "model_name_or_path", "samples": "num_samples", "lora": "use_peft",
               "reward_truncated": "truncated"}
    from_file = {k: v for k, v in yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()).items()
                 if k not in flags and k != "runs_dir"}
    assert from_file, "the file must set something the flags leave alone"
    for key, value in from_file.items():
        assert json.dumps(saved[aliases.get(key, key)]) == json.dumps(value) or saved[aliases.get(key, key)] == value, key
