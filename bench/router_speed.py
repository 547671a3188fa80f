"""What a router's costs are made of, and what the router itself costs, on this machine.

    python bench/router_speed.py --out bench/results/router_speed.json

1. The cost weights (latentcode/router/costs.py): SmolLM2-135M in bf16 answers 64 direct-path
   prompts (zero-shot list statistics, 3-shot GSM8K) with the project's decoder, 64 rows at a
   time. A prompt token's cost in generated tokens is the prefill's seconds per prompt token
   over the decoding's seconds per generated token; a sandbox second's cost is the tokens the
   decoder generates per second.
2. The router's overhead over the neural path's prompt forward (batches of 16 prompts, the
   router's reading batch): tokenize + forward, against the same with the router's reading
   (hidden states pooled over the question; for the code slot, the MoE routers' inputs) and its
   gate. The code slot is timed on the upcycled model (4 experts, top-1) against the upcycled
   model's own forward. Medians of --repeats alternating runs.
3. The router's reading of whole prompts against reading after the prompts' shared start
   (what bench --mode routed does): the same 16 prompts, medians of alternating runs.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from latentcode.expert.base import ExpertConfig  # noqa: E402
from latentcode.expert.direct_expert import DirectExpert  # noqa: E402
from latentcode.expert.prompts import PromptConfig  # noqa: E402
from latentcode.models import load_model  # noqa: E402
from latentcode.moe.upcycle import add_slot, upcycle  # noqa: E402
from latentcode.router.features import default_layers, read_questions, slot_probabilities  # noqa: E402
from latentcode.router.gates import ProbeGate  # noqa: E402
from tasks.suites import load_suite  # noqa: E402


def cost_weights(model, tok, suite: str, few_shot: int, n: int) -> dict:
    tasks = load_suite(suite, n=n, difficulty=2 if suite == "liststats" else 1)
    expert = DirectExpert(model, tok, ExpertConfig(max_new_tokens=128, batch_size=64, prefix_cache=False,
                                                   lookahead=0), prompt=PromptConfig(few_shot=few_shot))
    prompts = [expert.prompt(t) for t in tasks]
    enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    real = int(enc["attention_mask"].sum())
    with torch.no_grad():
        model(**enc, use_cache=True)  # warm-up
        t0 = time.perf_counter()
        model(**enc, use_cache=True)
        prefill_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    gens = expert.generate(prompts)
    total_s = time.perf_counter() - t0
    generated = sum(g[0].num_tokens for g in gens)
    decode_s = max(1e-9, total_s - prefill_s)
    return {"suite": suite, "few_shot": few_shot, "prompts": n, "prompt_tokens": real,
            "prefill_s": prefill_s, "generated_tokens": generated, "generate_s": total_s,
            "prefill_s_per_token": prefill_s / real, "decode_s_per_token": decode_s / generated,
            "prompt_weight": (prefill_s / real) / (decode_s / generated),
            "decoder_tokens_per_s": generated / decode_s}


def overhead(model, tok, prompts, questions, repeats: int, slot: bool) -> dict:
    layers = None if slot else default_layers(model)
    probe = ProbeGate(len(layers) * model.config.hidden_size) if not slot else None
    mlps = add_slot(model) if slot else ()
    slots = [m.slot for m in mlps]

    def plain():
        for m in mlps:
            m.slot = None  # the upcycled model without its slots
        enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
        with torch.no_grad():
            model(**enc, use_cache=False)

    def routed():
        if slot:  # the slots in the routers, read in the forward pass (what bench --mode routed does)
            for m, s in zip(mlps, slots):
                m.slot = s
            slot_probabilities(model, tok, prompts, questions, batch_size=len(prompts), share_prefix=False)
            return
        states = read_questions(model, tok, prompts, questions, layers=layers, batch_size=len(prompts),
                                share_prefix=False)
        with torch.no_grad():
            probe(states)

    plain(), routed()  # warm-up
    a, b = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        plain()
        a.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        routed()
        b.append(time.perf_counter() - t0)
    base, with_router = statistics.median(a), statistics.median(b)
    for m in mlps:
        m.slot = None  # the plain forward again, for whoever measures next
    return {"form": "slot" if slot else "probe", "prompts": len(prompts), "forward_s": base,
            "with_router_s": with_router, "overhead": with_router / base - 1}


def prefix_reading(model, tok, prompts, questions, repeats: int) -> dict:
    """The probe's reading of every whole prompt against reading after the prompts' shared start
    (system prompt and worked examples, run once per batch): medians of alternating runs."""
    layers = default_layers(model)
    times = {False: [], True: []}
    for share in (False, True):  # warm-up
        read_questions(model, tok, prompts, questions, layers=layers, batch_size=len(prompts), share_prefix=share)
    for _ in range(repeats):
        for share in (False, True):
            t0 = time.perf_counter()
            read_questions(model, tok, prompts, questions, layers=layers, batch_size=len(prompts), share_prefix=share)
            times[share].append(time.perf_counter() - t0)
    whole, shared = statistics.median(times[False]), statistics.median(times[True])
    return {"prompts": len(prompts), "whole_prompts_s": whole, "after_shared_prefix_s": shared,
            "speedup": whole / shared}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--skip-costs", action="store_true", help="only the router's overhead")
    ap.add_argument("--out", default="bench/results/router_speed.json")
    args = ap.parse_args()
    model, tok = load_model("smollm2-135m", device="cpu")
    previous = json.loads(Path(args.out).read_text()) if args.skip_costs and Path(args.out).exists() else {}
    out = {"model": "smollm2-135m", "dtype": str(model.dtype), "threads": torch.get_num_threads(),
           "costs": previous.get("costs") if args.skip_costs else
           [cost_weights(model, tok, "liststats", 0, args.questions), cost_weights(model, tok, "gsm8k", 3, args.questions)]}
    for c in out["costs"] or []:
        print(f"{c['suite']:10s} {c['few_shot']}-shot: prefill {c['prefill_s_per_token'] * 1e3:.2f} ms/token, "
              f"decode {c['decode_s_per_token'] * 1e3:.2f} ms/token -> prompt_weight {c['prompt_weight']:.3f}, "
              f"decoder {c['decoder_tokens_per_s']:.0f} tokens/s")
    tasks = load_suite("gsm8k", n=16)
    expert = DirectExpert(model, tok, prompt=PromptConfig(few_shot=3))
    prompts, questions = [expert.prompt(t) for t in tasks], [t.prompt for t in tasks]
    out["prefix_reading"] = prefix_reading(model, tok, prompts, questions, args.repeats)
    r = out["prefix_reading"]
    print(f"router reading, {r['prompts']} 3-shot GSM8K prompts: whole prompts {r['whole_prompts_s']:.3f} s, "
          f"after the shared prefix {r['after_shared_prefix_s']:.3f} s ({r['speedup']:.1f}x)")
    out["overhead"] = [overhead(model, tok, prompts, questions, args.repeats, slot=False)]
    torch.manual_seed(0)
    moe = upcycle(copy.deepcopy(model), num_experts=4, top_k=1)
    out["overhead"].append(overhead(moe, tok, prompts, questions, args.repeats, slot=True))
    for o in out["overhead"]:
        print(f"router {o['form']:5s}: forward {o['forward_s']:.3f} s, with the router {o['with_router_s']:.3f} s "
              f"({o['overhead']:+.1%}) over {o['prompts']} 3-shot GSM8K prompts")
    Path(args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
