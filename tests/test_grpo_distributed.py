"""GRPO on two processes through `accelerate launch` (CPU, gloo), as a node with several GPUs
runs it: one run folder, both ranks holding the same weights after training, the closing fence
ending completions on every rank, and each completion scored once (by the rank that generated
it), not once per rank."""
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import free_port

WORKER = Path(__file__).with_name("grpo_ranks.py")


def test_two_processes_train_one_run(coder, tmp_path):
    # --multi_gpu picks the torchrun launcher; without CUDA its processes use gloo on the CPU
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--mixed_precision", "no", "--main_process_port", str(free_port()), str(WORKER),
           "--model", coder, "--use-cpu", "true", "--max-steps", "2", "--save-steps", "2",
           "--num-generations", "2", "--per-device-train-batch-size", "2", "--max-completion-length", "24",
           "--train-size", "8", "--eval-size", "2", "--eval-every", "0", "--temperature", "1.0",
           "--learning-rate", "1e-2", "--lr-scheduler-type", "constant", "--report-to", "none",
           "--runs-dir", str(tmp_path), "--seed", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]  # one folder, made by the main process
    ranks = [json.loads((run / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    # 2 steps x (2 processes x 2 completions): each rank generated its half, and scored exactly that
    assert [len(r["generated"]) for r in ranks] == [4, 4]
    assert all(sorted(r["scored"]) == sorted(r["generated"]) for r in ranks)
    for r in ranks:  # the fence stop, on every rank: nothing after a closed block
        closed = [t for t in r["generated"] if t.count("```") >= 2]
        assert closed and all(t.rstrip().endswith("```") for t in closed), r["generated"]
    # the logs: one metrics row per step, written once; the trained weights moved
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["completions"]) for m in metrics] == [(1, 4), (2, 8)]
    evals = [json.loads(line) for line in (run / "evals.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [0, 2]
    assert (run / "checkpoints" / "checkpoint-2").is_dir()
