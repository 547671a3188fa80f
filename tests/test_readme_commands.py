"""Every command of the README runs as written, in the README's order, from a scratch folder:
`tiny` in place of SmolLM2-135M and small counts where the README's would take long (each
substitution below says which and why); configs as shipped. What the README leaves to the
reader (`runs/<run>`, `<stamp>`) is the run an earlier command made."""
import shlex
from pathlib import Path

import pytest

from latentcode.cli import main
from latentcode.runs import Run

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# the README's lines that run here; the set-up line's install commands are .ci/run's, and the
# multi-process launchers (torchrun, accelerate) and the Ray cluster are docs/scaling.md's
# (tests/test_es.py and tests/test_grpo_distributed.py run two processes)
NOT_HERE = ("torchrun ", "accelerate launch", "--backend ray")
# small counts: (flag, value here); every run is a smoke run of the same code path
SMALLER = {"--n": "2", "--max-steps": "1", "--iterations": "1", "--population": "2", "--samples": "2"}
SIZES = {
    "bench": ["--model", "tiny", "--max-new-tokens", "8", "--quiet"],
    "train grpo": ["--model", "tiny", "--num-generations", "2", "--per-device-train-batch-size", "2",
                   "--max-completion-length", "8", "--train-size", "4", "--eval-size", "2", "--save-steps", "1",
                   "--use-cpu", "true", "--report-to", "none"],
    "train es": ["--model", "tiny", "--tasks-per-step", "2", "--max-new-tokens", "8", "--train-size", "4",
                 "--eval-size", "2", "--save-every", "1"],
    "train em": ["--model", "tiny", "--questions", "2", "--samples", "2", "--train-size", "4", "--eval-size", "2",
                 "--max-new-tokens", "8", "--quiet"],
    "train router": ["--model", "tiny", "--steps", "5"],
}


def readme_commands() -> list[str]:
    out, fence = [], None  # fence: the open block's language
    for line in README.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip() or "text"
            continue
        if fence in ("bash", "text"):
            command = line.split("  #")[0].strip().split("&& ")[-1]
            if command.startswith("latentcode ") and not any(n in command for n in NOT_HERE):
                out.append(command)
    return out


def resolve(arg: str, runs: Path) -> str:
    """`runs/<run>`: the newest bench run; `runs/<stamp>-NAME`: the run named NAME (EM on
    liststats for the README's `em-mawps`, which no README command makes); globs expanded."""
    arg = arg.replace("em-mawps", "em-liststats")
    if arg == "runs/<run>":
        return str(max(p for p in runs.iterdir() if Run(p).kind == "bench"))
    if "<stamp>" in arg:
        folder, name = arg.split("<stamp>")
        return str(max(Path(folder).glob("*" + name)))
    if "*" in arg:
        (found,) = sorted(Path().glob(arg))
        return str(found)
    return arg


def smaller(argv: list[str]) -> list[str]:
    argv = ["tiny" if a == "smollm2-135m" else a for a in argv]
    small = {**SMALLER, "--n": "6"} if "both" in argv else SMALLER  # a router's labels: a few questions more
    return [small[argv[i - 1]] if i and argv[i - 1] in small else a for i, a in enumerate(argv)]


def test_the_readme_has_its_commands():
    assert len(readme_commands()) >= 20


def test_every_readme_command_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    failed = []
    for command in readme_commands():
        argv = [resolve(a, tmp_path / "runs") for a in shlex.split(command)[1:]]
        kind = " ".join(argv[:2]) if argv[0] == "train" else argv[0]
        if "--resume" not in argv:
            argv = smaller(argv) + SIZES.get(kind, [])
        if kind == "demo":
            argv += ["--throughput", "0"]
        capsys.readouterr()
        rc = main(argv)
        err = capsys.readouterr().err
        if "--curriculum-samples" in argv:
            # the random tiny model solves no question sometimes: the curriculum must say so in
            # one line, exit 2, and leave no folder (a fitted model's curriculum: test_grpo_signal)
            assert rc == 2 and "no training question has a pass rate strictly between 0 and 1" in err, err
            assert not list((tmp_path / "runs").glob("*-grpo-liststats-2")) and \
                len(list((tmp_path / "runs").glob("*-grpo-*"))) == 1
            continue
        if rc != 0:
            failed.append((command, rc, err.strip().splitlines()[-1:] if err.strip() else ""))
    assert failed == []
