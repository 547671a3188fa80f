"""Generation throughput: the project's decoder against transformers' generate, per dtype and
batch size, on the two prompts the project sends most (3-shot GSM8K, zero-shot list
statistics), and the share of the machine's matmul roofline each reaches.

    python bench/generation_speed.py --prompts liststats:0 gsm8k:3 --batches 16 32 64 128 \\
        --dtypes float32 bfloat16 --questions 64 --out bench/results/generation_speed.json

Greedy, 320 new tokens at most, the same questions for both methods, in alternating order; ``generate`` runs with
transformers' sdpa attention (as a user gets it), the decoder with the model as loaded (the
decode attention on CPU, latentcode/attention.py).
The decoder runs ``batch`` rows at a time from a queue of all the questions (continuous
batching: a finished row's place goes to the next question); ``generate`` runs the questions
in chunks of ``batch`` with a per-row stopping criterion (a chunk ends when its longest row
does). tokens/s counts the tokens each method kept (up to the closed code block).

Roofline: a token costs 2 x (non-embedding parameters + output head) FLOPs (0.27 GFLOP for
SmolLM2-135M; attention extra); the peak is the measured (64 x 576) @ (576 x 1536) matmul
rate in that dtype on this machine. A dtype the CPU does not multiply natively (bf16 without
AVX-512 BF16 / AMX) is reported with its matmul rate and not run, unless --force.

Each (prompt, dtype, batch) result is written to --out as soon as it is measured, and a
rerun skips what the file already holds (--redo measures again).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from latentcode.expert.sampling import ExpertConfig  # noqa: E402
from latentcode.expert.code_expert import CodeExpert  # noqa: E402
from latentcode.expert.prompts import PromptConfig  # noqa: E402
from latentcode.models import cpu_has_native_bf16, load_model  # noqa: E402
from tasks.suites import load_suite  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def matmul_gflops(dtype: torch.dtype, device: str, reps: int = 200) -> float:
    a = torch.randn(64, 576, dtype=dtype, device=device)
    b = torch.randn(576, 1536, dtype=dtype, device=device)
    for _ in range(10):
        a @ b
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps // 5):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / (reps // 5))
    return 2 * 64 * 576 * 1536 / statistics.median(times) / 1e9


def flops_per_token(model) -> float:
    emb = model.get_input_embeddings().weight.numel()
    total = sum(p.numel() for p in model.parameters())
    head = model.get_output_embeddings().weight.numel()
    return 2.0 * (total - emb + head) if model.config.tie_word_embeddings else 2.0 * (total - emb)


class _Stop(StoppingCriteria):
    def __init__(self, tok, prompt_len, answered):
        self.tok, self.prompt_len, self.answered, self.done = tok, prompt_len, answered, None

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tok.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        done = torch.tensor([self.answered(t) for t in texts], device=input_ids.device)
        self.done = done if self.done is None else self.done | done
        return self.done


def _kept(tok, row: list[int], answered) -> list[int]:
    """generate's tokens up to end-of-sequence or the closed block (what the decoder keeps)."""
    out = []
    for t in row:
        if t in (tok.eos_token_id, tok.pad_token_id):
            break
        out.append(t)
        if "`" in tok.decode([t]) and answered(tok.decode(out, skip_special_tokens=True)):
            break
    return out


def with_generate(expert, prompts: list[str], batch: int, max_new: int) -> list[list[int]]:
    model = expert.model
    attention = model.config._attn_implementation
    model.set_attn_implementation("sdpa")  # transformers' generate as a user gets it
    try:
        return _generate(expert, prompts, batch, max_new)
    finally:
        model.set_attn_implementation(attention)


def _generate(expert, prompts: list[str], batch: int, max_new: int) -> list[list[int]]:
    tok, model = expert.tokenizer, expert.model
    out = []
    for i in range(0, len(prompts), batch):
        enc = tok(prompts[i:i + batch], return_tensors="pt", padding=True,
                  add_special_tokens=False).to(model.device)
        n = enc["input_ids"].shape[1]
        gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, temperature=None,
                             top_p=None, top_k=None, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id,
                             stopping_criteria=StoppingCriteriaList([_Stop(tok, n, expert.answered)]))
        out += [_kept(tok, r, expert.answered) for r in gen[:, n:].tolist()]
    return out


def with_decoder(expert, prompts: list[str], batch: int, max_new: int,
                 share_prefix: bool | None = None) -> list[list[int]]:
    ids = expert.tokenizer(prompts, add_special_tokens=False)["input_ids"]
    tokens, _ = expert.decode_ids(ids, temperature=0.0, top_p=1.0, max_new_tokens=max_new, batch_size=batch,
                                  share_prefix=share_prefix)
    return tokens


def with_copied_prefix(expert, prompts: list[str], batch: int, max_new: int) -> list[list[int]]:
    """The decoder as it was before issue 29: the shared prompt start copied into every row."""
    return with_decoder(expert, prompts, batch, max_new, share_prefix=False)


METHODS = {"decoder": with_decoder, "generate": with_generate, "copied": with_copied_prefix}


def measure(model, tok, suite: str, shots: int, batch: int, questions: int, max_new: int,
            methods: list[str]) -> dict:
    tasks = load_suite(suite, n=questions, seed=0)
    expert = CodeExpert(model, tok, ExpertConfig(max_new_tokens=max_new, batch_size=batch),
                        prompt=PromptConfig(few_shot=shots))
    prompts = [expert.prompt(t) for t in tasks]
    with_decoder(expert, prompts[:2], 2, 4)  # warm-up, and the shared prefix
    res = {}
    for name in methods:
        fn = METHODS[name]
        t0 = time.perf_counter()
        toks = fn(expert, prompts, batch, max_new)
        wall = time.perf_counter() - t0
        res[name] = {"s": wall, "tokens": sum(map(len, toks)), "tokens_per_s": sum(map(len, toks)) / wall,
                     "rows": toks}
    out = {k: {kk: vv for kk, vv in v.items() if kk != "rows"} for k, v in res.items()}
    for k, v in res.items():  # what each row said, for agreement across dtypes
        out[k]["row_hashes"] = [hashlib.sha1(str(r).encode()).hexdigest()[:10] for r in v["rows"]]
    if "generate" in res:
        a, b = res["generate"]["rows"], res["decoder"]["rows"]
        out["identical"] = sum(x == y for x, y in zip(a, b))
        out["ratio"] = res["decoder"]["tokens_per_s"] / res["generate"]["tokens_per_s"]
    if "copied" in res:
        out["shared_over_copied"] = res["decoder"]["tokens_per_s"] / res["copied"]["tokens_per_s"]
        out["identical_to_copied"] = sum(x == y for x, y in zip(res["copied"]["rows"], res["decoder"]["rows"]))
    out["questions"] = len(prompts)
    return out


def report(results: dict) -> str:
    """The markdown table of a results file, with greedy agreement between the dtypes."""
    rows = [v for k, v in results.items() if isinstance(v, dict) and "decoder" in v]
    peak = results.get("matmul_gflops", {})
    lines = ["| prompt | dtype | batch | `generate` tok/s | prefix copied tok/s | decoder tok/s "
             "| decoder / generate | decoder / copied | same tokens as generate | decoder share of roofline |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["suite"], r["dtype"], r["batch"])):
        g, c, d = r.get("generate"), r.get("copied"), r["decoder"]
        lines.append(f"| {r['suite']} {r['few_shot']}-shot | {r['dtype']} | {r['batch']} | "
                     + (f"{g['tokens_per_s']:.0f} | " if g else "- | ")
                     + (f"{c['tokens_per_s']:.0f} | " if c else "- | ") + f"{d['tokens_per_s']:.0f} | "
                     + (f"{r['ratio']:.2f}x | " if g else "- | ")
                     + (f"{r['shared_over_copied']:.2f}x | " if c else "- | ")
                     + (f"{r['identical']}/{r['questions']} | " if g else "- | ")
                     + f"{d['roofline_share']:.0%} |")
    lines.append("")
    lines.append("matmul peak (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in peak.items()))
    agree = []
    for r in rows:
        if r["dtype"] != "bfloat16":
            continue
        other = results.get(f"{r['suite']}-{r['few_shot']}shot-float32-b{r['batch']}")
        if other and "row_hashes" in other["decoder"]:
            a, b = r["decoder"]["row_hashes"], other["decoder"]["row_hashes"]
            agree.append(f"{r['suite']} b{r['batch']}: {sum(x == y for x, y in zip(a, b))}/{len(a)}")
    if agree:
        lines.append("bf16 decoder replies token-for-token equal to float32's: " + "; ".join(agree))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--prompts", nargs="+", default=["liststats:0", "gsm8k:3"], help="suite:few_shot")
    ap.add_argument("--batches", nargs="+", type=int, default=[16, 32, 64, 128])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=list(DTYPES))
    ap.add_argument("--questions", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=320)
    ap.add_argument("--generate-max-batch", type=int, default=64, help="larger batches: decoder only")
    ap.add_argument("--force", action="store_true", help="run a dtype the CPU emulates")
    ap.add_argument("--attn-implementation", default=None,
                    help="the decoder model's attention (default: the project's per device; latentcode_decode "
                         "is the one that reads a shared prefix, the default on CPU)")
    ap.add_argument("--copied", action="store_true",
                    help="also run the decoder with the shared prefix copied into every row (before issue 29)")
    ap.add_argument("--redo", action="store_true")
    ap.add_argument("--out", default="bench/results/generation_speed.json")
    ap.add_argument("--report", action="store_true", help="print the table of --out and stop")
    args = ap.parse_args()
    out = Path(args.out)
    if args.report:
        print(report(json.loads(out.read_text())))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out.read_text()) if out.exists() else {}
    cpu = torch.backends.cpu.get_cpu_capability() if args.device == "cpu" else torch.cuda.get_device_name()
    results["machine"] = {"device": args.device, "capability": cpu, "threads": torch.get_num_threads(),
                          "native_bf16": cpu_has_native_bf16() if args.device == "cpu" else True,
                          "kernel_caps": {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA",
                                                                     "MKL_ENABLE_INSTRUCTIONS") if k in os.environ},
                          "load_average_at_start": os.getloadavg()}
    for dname in args.dtypes:
        dtype = DTYPES[dname]
        peak = matmul_gflops(dtype, args.device)
        results.setdefault("matmul_gflops", {})[dname] = peak
        print(f"{dname}: (64x576)@(576x1536) matmul {peak:.1f} GFLOP/s", flush=True)
        emulated = args.device == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16()
        if emulated and not args.force:
            print(f"  {dname} not run: this CPU has no native bf16 (--force runs it anyway)", flush=True)
            continue
        model, tok = load_model(args.model, device=args.device, dtype=dname,
                                attn_implementation=args.attn_implementation)
        per_token = flops_per_token(model)
        for spec in args.prompts:
            suite, shots = spec.split(":")
            for batch in args.batches:
                key = f"{suite}-{shots}shot-{dname}-b{batch}"
                if key in results and not args.redo:
                    continue
                methods = ["decoder"] + (["generate"] if batch <= args.generate_max_batch else [])
                methods += ["copied"] if args.copied else []
                if batch % 32 == 16:
                    methods.reverse()  # alternate which runs first
                r = measure(model, tok, suite, int(shots), batch, args.questions, args.max_new_tokens, methods)
                for m in ("decoder", "generate"):
                    if m in r:
                        r[m]["roofline_share"] = r[m]["tokens_per_s"] * per_token / (peak * 1e9)
                r.update(suite=suite, few_shot=int(shots), dtype=dname, batch=batch,
                         gflop_per_token=per_token / 1e9)
                results[key] = r
                out.write_text(json.dumps(results, indent=2))
                g = r.get("generate", {})
                print(f"  {key}: decoder {r['decoder']['tokens_per_s']:.0f} tok/s "
                      f"({r['decoder']['roofline_share']:.0%} of roofline)"
                      + (f", generate {g['tokens_per_s']:.0f} tok/s, x{r['ratio']:.2f}, identical "
                         f"{r['identical']}/{r['questions']}" if g else ""), flush=True)
    print(report(results))


if __name__ == "__main__":
    main()
