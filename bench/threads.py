"""Throughput beside a co-running CPU-bound process, with and without the thread governor
(latentcode/threads.py): decoding (the main job's prompts) and a training step.

    python bench/threads.py --rounds 3 --out bench/results/threads.json

Arms, interleaved per round (which goes first alternates):
- ``fixed``: torch's own thread count (the cores it found at start-up), as before;
- ``governed``: the governor ticks before every forward pass and sets the count to the cores
  the rest of the machine leaves free.
Each arm runs quiet and then beside one busy-loop process (``python -c 'while True: pass'``,
started before and killed after); the figure is loaded / quiet throughput of that arm, the
issue's goal being >= 0.5 (a fair share of 2 cores beside one busy core). Decoding is a fixed
amount of work: ``--rows`` list-statistics prompts, exactly ``--new-tokens`` each (no stop),
batch ``--rows``. The training step is forward + backward of ``--train-rows`` rows of
``--train-len`` tokens under the dtype training uses (bf16 autocast where the CPU multiplies
bf16 natively, else float32). Dtype, CPU capability and thread counts are in the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("LATENTCODE_THREADS", "0")  # this script installs the governor itself
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from latentcode.expert.code_expert import CodeExpert  # noqa: E402
from latentcode.expert.decode import decode_queue  # noqa: E402
from latentcode.models import bf16_is_fast, load_model  # noqa: E402
from latentcode.threads import Governor  # noqa: E402
from tasks.suites import load_suite  # noqa: E402


def decode_rate(model, ids, new_tokens: int, pad: int) -> float:
    t0 = time.perf_counter()
    out, _ = decode_queue(model, ids, batch_size=len(ids), max_new_tokens=new_tokens,
                          eos_token_ids=set(), pad_token_id=pad)
    return sum(map(len, out)) / (time.perf_counter() - t0)


def train_rate(model, rows: int, length: int, autocast: bool) -> float:
    """Tokens per second of forward + backward (the work of a GRPO or M-step update)."""
    ids = torch.randint(0, model.config.vocab_size, (rows, length))
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    model.zero_grad(set_to_none=True)
    return rows * length / (time.perf_counter() - t0)


class Busy:
    """One CPU-bound process for the length of a ``with`` block."""

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--dtype", default=None, help="default: the project's choice for this CPU")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--train-rows", type=int, default=4)
    ap.add_argument("--train-len", type=int, default=256)
    ap.add_argument("--out", default="bench/results/threads.json")
    args = ap.parse_args()

    model, tok = load_model(args.model, dtype=args.dtype)
    expert = CodeExpert(model, tok)
    tasks = load_suite("liststats", n=args.rows, seed=0)
    ids = tok([expert.prompt(t) for t in tasks], add_special_tokens=False)["input_ids"]
    autocast = model.dtype == torch.float32 and bf16_is_fast()
    start_threads = torch.get_num_threads()
    governor = Governor(interval_s=0.5, ceiling=start_threads)
    rates: dict[str, dict[str, list[float]]] = {}

    def run(arm: str, loaded: bool) -> None:
        torch.set_num_threads(start_threads)  # each arm starts where torch starts
        governor.threads = start_threads
        hook = model.register_forward_pre_hook(governor.hook) if arm == "governed" else None
        try:
            governor.measure()
            d = decode_rate(model, ids, args.new_tokens, tok.pad_token_id)
            model.train()
            t = train_rate(model, args.train_rows, args.train_len, autocast)
            model.eval()
        finally:
            if hook is not None:
                hook.remove()
        cond = "loaded" if loaded else "quiet"
        for what, v in (("decode", d), ("train", t)):
            rates.setdefault(f"{arm}/{what}/{cond}", []).append(v)
        print(f"  {arm:9s} {cond:6s} decode {d:7.1f} tok/s  train {t:7.1f} tok/s  "
              f"threads now {torch.get_num_threads()}", flush=True)

    decode_rate(model, ids[:4], 4, tok.pad_token_id)  # warm-up
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        arms = ["fixed", "governed"] if r % 2 == 0 else ["governed", "fixed"]
        for arm in arms:
            run(arm, loaded=False)
            with Busy():
                run(arm, loaded=True)
    torch.set_num_threads(start_threads)

    med = {k: statistics.median(v) for k, v in rates.items()}
    table = ["| arm | work | quiet tok/s | beside a busy core tok/s | loaded / quiet |",
             "|---|---|---:|---:|---:|"]
    for arm in ("fixed", "governed"):
        for what in ("decode", "train"):
            q, l = med[f"{arm}/{what}/quiet"], med[f"{arm}/{what}/loaded"]
            table.append(f"| {arm} | {what} | {q:.1f} | {l:.1f} | {l / q:.2f} |")
    print("\n".join(table))
    out = {"machine": {"capability": torch.backends.cpu.get_cpu_capability(),
                       "threads_at_start": start_threads, "cores": os.cpu_count(),
                       "dtype": str(model.dtype), "train_autocast_bf16": autocast},
           "settings": vars(args), "rates": rates, "medians": med}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
