"""Programs per second of the Ray sandbox backend against the local pool, on one machine.

    python bench/sandbox_ray.py [--programs 2000] [--rounds 5] [--out bench/results/sandbox_ray.json]

A local Ray instance with as many CPUs as this machine has; methods measured side by side,
interleaved round by round (this machine is shared and noisy), medians reported:
- local        sandbox.Pool with one server per core (what bench and the trainers use);
- ray-1        RayPool, 1 actor with one sandbox server per core;
- ray-2        RayPool, 2 actors with half the cores' servers each.
Each program's source is unique (a trailing comment defeats the servers' compile cache).
The overhead per program is (1 / ray rate - 1 / local rate): what the actors, Ray's object
store and the chunking add, per program, when the cores are the same.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STATS20 = (ROOT / "tests/corpus/sandbox/benign/065_stats_report_20_lines.py").read_text()


def rate(pool, n: int, r: int) -> float:
    codes = [f"{STATS20}\n# {r}-{i}" for i in range(n)]
    t0 = time.perf_counter()
    results = pool.run_many(codes, timeout_s=2.0)
    dt = time.perf_counter() - t0
    assert all(x.status == "ok" for x in results), {x.status for x in results}
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--programs", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "bench/results/sandbox_ray.json"))
    args = ap.parse_args()
    import ray
    from sandbox.ray_backend import RayPool
    cores = os.cpu_count() or 2
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, configure_logging=False)
    # every pool stays up for the interleaved rounds, so the actors reserve only a quarter of
    # a CPU each from Ray; their sandbox servers (workers_per_actor) are what use the cores
    pools = {"local": sandbox.Pool(cores),
             "ray-1": RayPool(1, cpus_per_actor=0.25, workers_per_actor=cores, chunk=args.chunk, max_in_flight=2),
             "ray-2": RayPool(2, cpus_per_actor=0.25, workers_per_actor=max(1, cores // 2),
                              chunk=args.chunk, max_in_flight=2)}
    for p in pools.values():  # warm: servers and actors started
        rate(p, 4 * cores, -1)
    rates = {k: [] for k in pools}
    for r in range(args.rounds):
        for name, p in pools.items():
            rates[name].append(rate(p, args.programs, r))
    for p in pools.values():
        p.close()
    ray.shutdown()
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"programs/s on {cores} cores ({platform.processor() or platform.machine()}), {args.programs} "
          f"20-line programs per round, median of {args.rounds} interleaved rounds")
    print("| method | programs/s | vs local | overhead per program |")
    print("|---|---:|---:|---:|")
    for k, v in med.items():
        extra = (1 / v - 1 / med["local"]) * 1e3
        print(f"| {k} | {v:.0f} | {v / med['local']:.2f}x | {extra:+.2f} ms |")
    Path(args.out).write_text(json.dumps({"cores": cores, "programs": args.programs, "rounds": args.rounds,
                                          "chunk": args.chunk, "rates": rates, "median": med}, indent=1) + "\n")


if __name__ == "__main__":
    main()
