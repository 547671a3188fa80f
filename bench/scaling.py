"""Step time of ES and GRPO with 1 and 2 processes on this machine, the same global work per step.

    python bench/scaling.py [--steps 3] [--out bench/results/scaling.json]

SmolLM2-135M, list statistics. One process uses every core's threads; two processes (torchrun
for ES, `accelerate launch` for GRPO, gloo) use one thread each and split the step's work:
ES the population's members, GRPO the generation batch (per-device batch halved, so the
completions per step are equal). Step time is the median of the steps after the first (which
also warms caches), read from each run's metrics.jsonl; the runs go one after another, each
configuration twice, interleaved, so a slow spell of this shared machine hits both.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def es(procs: int, steps: int, runs: Path) -> list[str]:
    flags = ["--population", "4", "--batch-size", "4", "--max-new-tokens", "96", "--train-size", "16",
             "--eval-size", "2", "--eval-every", "0", "--save-every", "0", "--max-steps", str(steps), "--quiet",
             "--runs-dir", str(runs)]
    if procs == 1:
        return [sys.executable, "-m", "latentcode.training.es", *flags]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--master-port",
            str(_port()), "-m", "latentcode.training.es", *flags]


def grpo(procs: int, steps: int, runs: Path) -> list[str]:
    flags = ["--use-cpu", "true", "--num-generations", "4", "--per-device-train-batch-size", str(8 // procs),
             "--max-completion-length", "96", "--max-steps", str(steps), "--save-steps", "1000",
             "--train-size", "64", "--eval-size", "2", "--eval-every", "0", "--report-to", "none",
             "--learning-rate", "2e-4", "--disable-tqdm", "true", "--runs-dir", str(runs)]
    if procs == 1:
        return [sys.executable, "-m", "latentcode.training.grpo", *flags]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(procs),
            "--main_process_port", str(_port()), "-m", "latentcode.training.grpo", *flags]


def step_times(run: Path) -> list[float]:
    """Per-step seconds: ES logs each step's own wall_s, GRPO the time since its start."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    walls = [r["wall_s"] for r in rows]
    config = json.loads((run / "config.json").read_text())
    if config.get("kind") == "grpo":
        walls = [b - a for a, b in zip([0.0] + walls[:-1], walls)]
    return walls[1:]  # the first step also warms caches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench/results/scaling.json"))
    args = ap.parse_args()
    cores = os.cpu_count() or 2
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for trainer, make in (("es", es), ("grpo", grpo)):
                for procs in (1, 2):
                    runs = Path(tmp) / f"{trainer}-{procs}-{r}"
                    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // procs))}
                    done = subprocess.run(make(procs, args.steps, runs), env=env, capture_output=True, text=True)
                    if done.returncode:
                        sys.exit(f"{trainer} x{procs} failed:\n{done.stderr[-3000:]}")
                    (run,) = list(runs.iterdir())
                    times.setdefault(f"{trainer}-{procs}", []).extend(step_times(run))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"step seconds on {cores} cores (SmolLM2-135M, median of {args.repeats} x {args.steps - 1} steps)")
    print("| trainer | 1 process | 2 processes | speed-up |")
    print("|---|---:|---:|---:|")
    for trainer in ("es", "grpo"):
        one, two = med[f"{trainer}-1"], med[f"{trainer}-2"]
        print(f"| {trainer} | {one:.1f} | {two:.1f} | {one / two:.2f}x |")
    Path(args.out).write_text(json.dumps({"cores": cores, "steps": args.steps, "times": times, "median": med},
                                         indent=1) + "\n")


if __name__ == "__main__":
    main()
