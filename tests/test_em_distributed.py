"""EM on two processes (torchrun, gloo on the CPU): each process samples and runs its share of
the E-step's questions, every process fine-tunes on all the kept programs (DDP), and the run
folder is written once. Checked: one folder, both ranks end with the same weights, which moved;
every question's programs logged once (none lost, none twice)."""
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

from conftest import free_port


def test_two_processes_share_the_e_step_and_agree_after_the_m_step(coder, tmp_path):
    questions = tmp_path / "sums.jsonl"  # answer 3: the coder's program is right
    questions.write_text("".join(f'{{"question": "What is 1 + 2? (case {i})", "answer": 3}}\n' for i in range(10)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
           "-m", "latentcode.training.em", "--model", coder, "--suite", str(questions), "--device", "cpu",
           "--bf16", "false", "--lora", "false", "--iterations", "2", "--questions", "4", "--samples", "4",
           "--max-new-tokens", "16", "--batch-size", "16", "--learning-rate", "5e-3", "--train-batch-size", "4",
           "--train-size", "8", "--eval-size", "2", "--eval-every", "0", "--metamorphic", "false",
           "--runs-dir", str(tmp_path / "runs"), "--quiet", "--dump-weights"]
    done = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    (run,) = list((tmp_path / "runs").iterdir())
    r0, r1 = (load_file(str(run / f"final-rank{r}.safetensors")) for r in (0, 1))
    assert r0.keys() == r1.keys() and all(torch.equal(r0[k], r1[k]) for k in r0)
    start = load_file(f"{coder}/model.safetensors")
    assert any(not torch.equal(r0[k], start[k]) for k in r0 if k in start), "the M-step must move the weights"
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for step in (1, 2):  # 4 questions x 4 programs, each question's programs once, in order
        mine = [s for s in samples if s["step"] == step]
        assert len(mine) == 16 and [s["index"] for s in mine] == [0, 1, 2, 3] * 4
        assert len({s["task_id"] for s in mine}) == 4
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["completions"]) for m in metrics] == [(1, 16), (2, 32)]
    assert any(m["kept"] > 0 and m["m_step_programs"] > 0 for m in metrics)  # an M-step on both ranks
    assert (run / "checkpoints" / "iter-2").is_dir()
    assert done.stdout.count("run folder:") == 1  # the summary, printed once
