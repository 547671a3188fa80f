"""Forward+backward time of the MoE layer against a dense FFN and transformers' Mixtral block.

    python bench/moe.py                                  # both tables, writes bench/results/moe.json
    python bench/moe.py --rounds 3 --experts 8 --allocator current   # quick look

Every round runs each contender once, in a shuffled order, and divides its time by the dense time
of the same round; the table reports the median of those ratios, which is robust to a shared
machine slowing down for a while. All contenders see the same input and the same routing (the
Mixtral blocks get copies of our weights), and each step starts with gradients set to None, as
`optimizer.zero_grad()` leaves them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from latentcode.moe.layer import MoEConfig, MoELayer, MoEOutput, routing_metrics
from latentcode.moe.gating import balance_loss_from_probs

GOALS = {8: 1.10, 64: 1.30}  # ours / dense, from the issue
EAGER_SPEEDUP_GOAL = 3.0  # hf eager / ours at E=64
ROUTER_SHARE_GOAL = 0.04  # router + permutation / dense


class DenseSwiGLU(nn.Module):
    """The ideal: one SwiGLU FFN with the active parameters of top_k experts."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate_up = nn.Linear(d_model, 2 * d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class IdentityExperts(nn.Module):
    """Stands in for the experts to time everything else the layer does: route, compute the aux
    losses and metrics, gather tokens by expert, weight and add them back."""

    def forward(self, x_sorted, tokens_per_expert):
        return x_sorted


class RouterOnly(nn.Module):
    """The router with its aux loss and metrics; a fixed random weighting of the gates stands in
    for the rest of the network in the backward."""

    def __init__(self, layer: MoELayer):
        super().__init__()
        self.layer = layer
        self.register_buffer("probe", torch.randn(layer.config.top_k * 1_000_000), persistent=False)  # moves with .to()

    def forward(self, x):
        routing = self.layer.router(x.reshape(-1, x.shape[-1]))
        balance = balance_loss_from_probs(routing.router_probs, routing.expert_index)
        routing_metrics(routing.router_probs, routing.tokens_per_expert, 0.0)
        gates = routing.combine_weights
        return (gates * self.probe[: gates.numel()].view_as(gates).to(gates.dtype)).sum() + self.layer.config.load_balancing_coef * balance


def router_and_permutation(layer: MoELayer) -> MoELayer:
    other = MoELayer(layer.config)
    other.router, other.experts = layer.router, IdentityExperts()
    return other


def mixtral_block(layer: MoELayer, implementation: str) -> nn.Module:
    from transformers import MixtralConfig
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

    c = layer.config
    config = MixtralConfig(
        hidden_size=c.d_model,
        intermediate_size=c.d_ff,
        num_local_experts=c.num_experts,
        num_experts_per_tok=c.top_k,
        experts_implementation=implementation,
    )
    block = MixtralSparseMoeBlock(config)
    with torch.no_grad():
        block.gate.weight.copy_(layer.router.weight)
        block.experts.gate_up_proj.copy_(layer.experts.w_gate_up.transpose(1, 2))
        block.experts.down_proj.copy_(layer.experts.w_down.transpose(1, 2))
    return block


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> float:
    module.zero_grad(set_to_none=True)
    x.grad = None
    _sync(x.device)  # a GPU runs asynchronously: time what it did, not what was queued
    start = time.perf_counter()
    out = module(x)
    if isinstance(out, MoEOutput):  # we pay for the aux loss too; Mixtral's block has none
        aux = module.aux_loss(out)
        torch.autograd.backward([out.hidden_states, aux], [grad, torch.ones((), device=aux.device, dtype=aux.dtype)])
    else:
        out.backward(grad if out.dim() else None)
    _sync(x.device)
    return time.perf_counter() - start


def run(num_experts: int, args) -> dict:
    torch.manual_seed(0)
    d_model, d_ff, top_k = args.d_model, args.d_ff, args.top_k
    ours = MoELayer(MoEConfig(d_model=d_model, d_ff=d_ff, num_experts=num_experts, top_k=top_k))
    contenders = {
        "dense": DenseSwiGLU(d_model, top_k * d_ff),
        "ours": ours,
        "router": RouterOnly(ours),
        "router+perm": router_and_permutation(ours),
        "hf_grouped_mm": mixtral_block(ours, "grouped_mm"),
        "hf_eager": mixtral_block(ours, "eager"),
    }
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    for module in contenders.values():
        module.to(device=device, dtype=dtype)
    x = torch.randn(args.batch, args.tokens // args.batch, d_model, device=device, dtype=dtype, requires_grad=True)
    grad = torch.randn_like(x)
    with torch.no_grad():  # same function, so the comparison is fair
        ref = contenders["hf_eager"](x)
        tol = 1e-4 if dtype == torch.float32 else 5e-2  # bf16 keeps 8 bits of mantissa
        assert torch.allclose(ours(x).hidden_states.float(), ref.float(), atol=tol), "ours and Mixtral disagree"
    times = {name: [] for name in contenders}
    random.seed(num_experts)
    for round_ in range(args.warmup + args.rounds):
        names = [n for n in contenders if n != "hf_eager" or round_ < args.warmup + args.eager_rounds]
        random.shuffle(names)
        for name in names:
            t = step(contenders[name], x, grad)
            if round_ >= args.warmup:
                times[name].append(t)
    rows = {}
    for name, ts in times.items():
        ratios = [t / d for t, d in zip(ts, times["dense"])]  # zip pairs the rounds a contender ran
        rows[name] = {
            "median_ms": 1e3 * statistics.median(ts),
            "median_ratio_to_dense": statistics.median(ratios),
            "ratios": ratios,
        }
    hf_vs_ours = [h / o for h, o in zip(times["hf_grouped_mm"], times["ours"])]
    eager_vs_ours = [h / o for h, o in zip(times["hf_eager"], times["ours"])]
    return {
        "num_experts": num_experts,
        "rows": rows,
        "hf_grouped_mm_over_ours": statistics.median(hf_vs_ours),
        "hf_eager_over_ours": statistics.median(eager_vs_ours),
    }


def goals(result: dict) -> list[tuple[str, bool, str]]:
    e, rows = result["num_experts"], result["rows"]
    out = []
    ratio = rows["ours"]["median_ratio_to_dense"]
    if e in GOALS:
        out.append((f"E={e}: ours <= {GOALS[e]}x dense", ratio <= GOALS[e], f"{ratio:.3f}x"))
    hf = result["hf_grouped_mm_over_ours"]
    out.append((f"E={e}: not slower than hf grouped_mm", hf >= 1.0, f"hf/ours = {hf:.3f}"))
    if e == 64:
        eager = result["hf_eager_over_ours"]
        goal = f"E={e}: >= {EAGER_SPEEDUP_GOAL}x faster than hf eager"
        out.append((goal, eager >= EAGER_SPEEDUP_GOAL, f"{eager:.2f}x"))
    share = rows["router+perm"]["median_ratio_to_dense"]
    out.append((f"E={e}: router+permutation < 4% of dense", share < ROUTER_SHARE_GOAL, f"{100 * share:.1f}%"))
    return out


def print_table(results: list[dict]) -> None:
    print(f"{'E':>3} {'contender':<14} {'median ms':>10} {'x dense':>8}")  # x dense: median of per-round ratios
    for result in results:
        for name, row in result["rows"].items():
            ms, ratio = row["median_ms"], row["median_ratio_to_dense"]
            print(f"{result['num_experts']:>3} {name:<14} {ms:>10.1f} {ratio:>8.3f}")
    print()
    for result in results:
        for goal, met, value in goals(result):
            print(f"{'met ' if met else 'MISS'} {goal:<42} {value}")


# glibc settings under which freed memory is reused instead of unmapped, so steps stop paying page
# faults: the table then shows compute and memory traffic alone. Must be set before the process starts.
NO_PAGE_FAULTS_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**62)}


def run_without_page_faults(args) -> list[dict]:
    """The same table in a child process started with NO_PAGE_FAULTS_ENV."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "moe.json"
        argv = [sys.executable, __file__, "--allocator", "current", "--out", str(out)]
        argv += ["--experts", *map(str, args.experts), "--rounds", str(args.rounds), "--warmup", str(args.warmup)]
        argv += ["--eager-rounds", str(args.eager_rounds), "--dtype", args.dtype]
        subprocess.run(argv, env=os.environ | NO_PAGE_FAULTS_ENV, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())["results"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=512)
    parser.add_argument("--d-ff", type=int, default=1024)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--eager-rounds", type=int, default=5, help="hf_eager runs in the first rounds only (slow)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--allocator",
        choices=["both", "current"],
        default="both",
        help="both: also rerun with glibc told to keep freed memory (no page faults); current: this process only",
    )
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU table (bench/gpu.sh)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", default="bench/results/moe.json")
    args = parser.parse_args(argv)
    if args.device != "cpu":
        args.allocator = "current"  # the page-fault rerun is about glibc's allocator on a CPU
    load_before = os.getloadavg()  # the machine is shared: a busy neighbour shows up here
    results = [run(e, args) for e in args.experts]
    print("Default allocator (what a training run gets):")
    print_table(results)
    report = {"meta": _meta(args) | {"loadavg_before": load_before, "loadavg_after": os.getloadavg()}, "results": results}
    if args.allocator == "both":
        report["results_without_page_faults"] = run_without_page_faults(args)
        report["meta"]["loadavg_after_rerun"] = os.getloadavg()
        print("\nWithout page faults (" + " ".join(f"{k}={v}" for k, v in NO_PAGE_FAULTS_ENV.items()) + "):")
        print_table(report["results_without_page_faults"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _meta(args) -> dict:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": _cpu_name(),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "args": vars(args),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    raise SystemExit(main())
