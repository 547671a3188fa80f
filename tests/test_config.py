"""Composed configs (latentcode/config.py): one dataclass per part, shared by every command,
parsed together from YAML and flags; and every documented command line parses."""
from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import field
from pathlib import Path

import pytest

from latentcode.evaluate import BenchSetup, run_bench
from latentcode.config import changed, compose, from_dict, parse, sections, to_dict
from latentcode.expert.prompts import PromptConfig
from latentcode.models import ModelArgs
from latentcode.training.em import EMSetup
from latentcode.training.es import ESSetup
from latentcode.training.grpo import GRPOSetup
from latentcode.training.rewards import RewardConfig
from sandbox.config import SandboxConfig
from tasks.config import SplitConfig, TaskConfig

ROOT = Path(__file__).resolve().parents[1]
SETUPS = {"bench": BenchSetup, "grpo": GRPOSetup, "es": ESSetup, "em": EMSetup}


def test_commands_share_one_dataclass_per_part():
    kinds = {name: dict(sections(cls)) for name, cls in SETUPS.items()}
    for part, cls in [("model", ModelArgs), ("task", TaskConfig), ("prompt", PromptConfig),
                      ("sandbox", SandboxConfig)]:
        assert all(k[part] is cls for k in kinds.values()), part
    for part, cls in [("split", SplitConfig), ("reward", RewardConfig)]:
        assert kinds["grpo"][part] is kinds["es"][part] is cls


def test_a_setting_lives_in_exactly_one_section():
    for cls in SETUPS.values():
        names = [f.name for _, sec in sections(cls) for f in dataclasses.fields(sec) if f.init]
        assert len(names) == len(set(names)), cls
        parse(cls, [])  # and the parser builds (argparse refuses a flag defined twice)

    @dataclasses.dataclass
    class Clash:
        sandbox: SandboxConfig = field(default_factory=SandboxConfig)
        other: ClashingLimits = field(default_factory=lambda: ClashingLimits())

    with pytest.raises(TypeError, match="two sections define the same setting"):
        parse(Clash, [])


@dataclasses.dataclass
class ClashingLimits:
    timeout_s: float = 1.0


def test_yaml_keys_and_aliases_then_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: tiny\nlora: true\nreward_truncated: -0.3\nmdl: ast\nmdl_weight: 0.1\n"
                    "timeout_s: 0.5\nfew_shot: 2\nsuite: arithmetic\n")
    s = parse(ESSetup, ["--config", str(path), "--mdl-weight", "0.2", "--memory-mb", "128"])
    assert (s.model.model_name_or_path, s.model.use_peft, s.reward.truncated) == ("tiny", True, -0.3)
    assert (s.reward.mdl, s.reward.mdl_weight) == ("ast", 0.2)  # the flag won
    assert (s.sandbox.timeout_s, s.sandbox.memory_mb, s.prompt.few_shot, s.task.suite) == (0.5, 128, 2, "arithmetic")
    # the flag aliases too
    s = parse(GRPOSetup, ["--model", "tiny", "--lora", "false", "--reward-error", "-0.2", "--use-cpu"])
    assert (s.model.model_name_or_path, s.model.use_peft, s.reward.error) == ("tiny", False, -0.2)


def test_a_command_sets_its_own_section_defaults():
    assert parse(GRPOSetup, ["--use-cpu"]).model.use_peft is True  # GRPO trains LoRA unless told
    assert parse(ESSetup, []).model.use_peft is False  # ES perturbs every weight
    assert compose(GRPOSetup, use_cpu=True).model.use_peft is True
    assert GRPOSetup().model.use_peft is True


def test_unknown_yaml_key_or_setting_is_refused_by_name(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("suite: liststats\nmdl_wieght: 0.1\n")
    with pytest.raises(ValueError, match="mdl_wieght"):
        parse(ESSetup, ["--config", str(path)])
    with pytest.raises(TypeError, match="'mdl_wieght'"):
        compose(ESSetup, mdl_wieght=0.1)


def test_bad_values_name_their_field_in_every_command():
    for cls in SETUPS.values():
        extra = ["--use-cpu"] if cls is GRPOSetup else []
        with pytest.raises(ValueError, match="few_shot"):
            parse(cls, ["--few-shot", "9", *extra])
        with pytest.raises(ValueError, match="memory_mb"):
            parse(cls, ["--memory-mb", "8", *extra])
        with pytest.raises(ValueError, match="dtype"):
            parse(cls, ["--dtype", "float8", *extra])


def test_a_setup_round_trips_through_its_saved_dict():
    s = compose(BenchSetup, model="tiny", suite="arithmetic", n=7, samples=3, few_shot=1, timeout_s=0.7)
    back = from_dict(BenchSetup, to_dict(s))
    assert back == s and back.expert.num_samples == 3 and back.sandbox.timeout_s == 0.7
    assert changed(to_dict(s), back, set()) == []
    moved = compose(BenchSetup, model="tiny", suite="arithmetic", n=9, samples=3, few_shot=1, timeout_s=0.7)
    assert changed(to_dict(s), moved, set()) == ["bench.n: 7 -> 9"]
    assert changed(to_dict(s), moved, {"n"}) == []


def test_bench_refuses_lora():
    with pytest.raises(ValueError, match="use_peft"):
        run_bench(compose(BenchSetup, model="tiny", lora=True, n=1))


# every documented command line parses -----------------------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"(?:(?:python -m )?latentcode (bench|train grpo|train es|train em|train router)|"
                     r"-m latentcode\.training\.(grpo|es|em))(?=\s|$)(.*)")


def documented_commands() -> list[tuple[str, str, str]]:
    """(file:line, command kind, flags) for each bench / train command line in the docs."""
    out = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        i = 0
        while i < len(lines):
            line, where = lines[i], f"{doc.name}:{i + 1}"
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            for text in re.findall(r"`([^`]+)`", line) or [line]:
                m = COMMAND.search(text.split(" #")[0])
                if not m:
                    continue
                kind = m.group(1) or f"train {m.group(2)}"
                flags = m.group(3).strip()
                if (flags and not flags.startswith("--")) or (kind == "train router" and not flags):
                    continue  # prose that names the command (a router needs --labels)
                out.append((where, kind, flags))
    return out


def test_the_docs_show_commands():
    kinds = {k for _, k, _ in documented_commands()}
    assert kinds == {"bench", "train grpo", "train es", "train em", "train router"}


@pytest.mark.parametrize("where, kind, flags", documented_commands(), ids=lambda x: str(x)[:60])
def test_documented_command_parses(where, kind, flags):
    argv = [a for a in shlex.split(flags) if not a.startswith("&")]
    from latentcode.router.train import RouterSetup
    setup_cls = {"bench": BenchSetup, "train grpo": GRPOSetup, "train es": ESSetup, "train em": EMSetup,
                 "train router": RouterSetup}[kind]
    argv = [str(ROOT / a) if a.startswith("configs/") else a for a in argv]
    parse(setup_cls, argv + (["--use-cpu"] if setup_cls is GRPOSetup else []))


def test_resume_takes_the_run_settings_as_defaults(tmp_path):
    import json
    saved = compose(GRPOSetup, model="tiny", lora=False, suite="arithmetic", mdl="ast", mdl_weight=0.1,
                    timeout_s=0.5, use_cpu=True)
    (tmp_path / "config.json").write_text(json.dumps({"kind": "grpo", **to_dict(saved)}, default=str))
    s = parse(GRPOSetup, ["--resume", str(tmp_path), "--use-cpu"])
    assert (s.model.model_name_or_path, s.model.use_peft, s.task.suite) == ("tiny", False, "arithmetic")
    assert (s.reward.mdl_weight, s.sandbox.timeout_s, s.run.resume) == (0.1, 0.5, str(tmp_path))
    # a flag given is a change the trainer can see and refuse
    s = parse(GRPOSetup, ["--resume", str(tmp_path), "--use-cpu", "--mdl-weight", "0.3"])
    diffs = [d for d in changed(to_dict(saved), s, set()) if not d.startswith(("grpo.", "run.resume"))]
    assert diffs == ["reward.mdl_weight: 0.1 -> 0.3"]
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json: not valid JSON"):
        parse(GRPOSetup, ["--resume", str(tmp_path), "--use-cpu"])


def test_a_run_folder_from_before_the_run_and_expert_sections_reads_as_it_was_made():
    """config.json written when ES's and EM's own sections held the run's fields and their
    sampling (and ES called its tasks per step batch_size) gives the same setup today."""
    es = from_dict(ESSetup, {"kind": "es", "es": {"seed": 3, "batch_size": 4, "runs_dir": "r", "quiet": True,
                                                  "max_new_tokens": 24, "population": 6}})
    assert (es.run.seed, es.run.runs_dir, es.run.quiet, es.expert.seed) == (3, "r", True, 3)
    assert (es.es.tasks_per_step, es.expert.max_new_tokens, es.es.population) == (4, 24, 6)
    em = from_dict(EMSetup, {"kind": "em", "em": {"seed": 2, "samples": 4, "temperature": 0.9, "batch_size": 8,
                                                  "resume": "x", "questions": 5}})
    assert (em.run.seed, em.run.resume, em.expert.seed) == (2, "x", 2)
    assert (em.expert.num_samples, em.expert.temperature, em.expert.batch_size, em.em.questions) == (4, 0.9, 8, 5)
    bench = from_dict(BenchSetup, {"kind": "bench", "bench": {"name": "mine", "device": "cpu", "n": 3},
                                   "expert": {"seed": 7, "num_samples": 2}})
    assert (bench.run.run_name, bench.run.device, bench.run.seed, bench.expert.seed, bench.bench.n) == \
        ("mine", "cpu", 7, 7, 3)
    with pytest.raises(TypeError):  # a key no section has is still refused
        from_dict(ESSetup, {"es": {"no_such_setting": 1}})


def test_es_refuses_its_old_batch_size_by_the_new_name(tmp_path):
    with pytest.raises(ValueError, match="batch_size is now tasks_per_step"):
        parse(ESSetup, ["--batch-size", "8"])
    (tmp_path / "es.yaml").write_text("batch_size: 8\n")
    with pytest.raises(ValueError, match="batch_size is now tasks_per_step"):
        parse(ESSetup, ["--config", str(tmp_path / "es.yaml")])
