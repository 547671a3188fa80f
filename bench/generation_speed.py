"""Code-expert generation: transformers' generate vs the project's decoder, side by side.

Same prompts, same model, greedy, rounds alternating (generate first, then ours, then the
other way round) so machine noise hits both; reports the median seconds per batch and the
median of per-round ratios, and checks that both produced the same programs.

    python bench/generation_speed.py --suite gsm8k --few-shot 3 --samples 4 --rounds 3

"generate" is what ``CodeExpert`` did before ``latentcode/expert/decode.py``: one ``generate``
call per batch with ``num_return_sequences`` and a per-row stopping criterion (a finished
row stays in the batch until the longest ends; every row prefills the whole prompt).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from latentcode.expert.base import Expert, ExpertConfig
from latentcode.expert.code_expert import CodeExpert
from latentcode.expert.direct_expert import DirectExpert
from latentcode.expert.prompts import PromptConfig
from latentcode.models import load_model
from tasks.suites import load_suite


class _Stop(StoppingCriteria):
    def __init__(self, tok, prompt_len, answered):
        self.tok, self.prompt_len = tok, prompt_len
        self.answered = answered
        self.done = None

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tok.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        done = torch.tensor([self.answered(t) for t in texts], device=input_ids.device)
        self.done = done if self.done is None else self.done | done
        return self.done


def with_generate(expert: Expert, prompts: list[str]) -> tuple[list[str], int]:
    cfg, tok, model = expert.config, expert.tokenizer, expert.model
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    n = enc["input_ids"].shape[1]
    stop = _Stop(tok, n, expert.answered)
    kw = dict(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, top_k=None) \
        if cfg.temperature > 0 else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    out = model.generate(**enc, max_new_tokens=cfg.max_new_tokens,
                         num_return_sequences=cfg.num_samples, pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id, stopping_criteria=StoppingCriteriaList([stop]), **kw)
    texts, steps = [], out.shape[1] - n
    for row in out[:, n:].tolist():
        cut = next((i for i, t in enumerate(row) if t in (tok.eos_token_id, tok.pad_token_id)), len(row))
        texts.append(tok.decode(row[:cut], skip_special_tokens=True))
    return texts, steps


def with_decoder(expert: Expert, prompts: list[str]) -> list[str]:
    return [g.text for gs in expert._generate_batch(prompts) for g in gs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--suite", default="gsm8k")
    ap.add_argument("--mode", default="code")
    ap.add_argument("--few-shot", type=int, default=3)
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16, help="completions per batch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="bench/results/generation_speed.json")
    args = ap.parse_args()
    model, tok = load_model(args.model)
    per = max(1, args.batch // args.samples)
    tasks = load_suite(args.suite, n=per * args.rounds)
    temperature = 0.0 if args.samples == 1 else 0.7
    expert = {"code": CodeExpert, "direct": DirectExpert}[args.mode](
        model, tok, ExpertConfig(num_samples=args.samples, temperature=temperature, batch_size=args.batch),
        prompt=PromptConfig(few_shot=args.few_shot))
    expert._generate_batch([expert.prompt(tasks[0])])  # warm-up, and the shared prefix
    rows = []
    for r in range(args.rounds):
        prompts = [expert.prompt(t) for t in tasks[r * per:(r + 1) * per]]
        order = ["generate", "decoder"] if r % 2 == 0 else ["decoder", "generate"]
        res = {}
        for name in order:
            t0 = time.perf_counter()
            if name == "generate":
                texts, steps = with_generate(expert, prompts)
            else:
                texts = with_decoder(expert, prompts)
            res[name] = (time.perf_counter() - t0, texts)
        same = sum(a == b for a, b in zip(res["generate"][1], res["decoder"][1]))
        rows.append({"round": r, "generate_s": res["generate"][0], "decoder_s": res["decoder"][0],
                     "ratio": res["generate"][0] / res["decoder"][0], "steps": steps,
                     "same_text": same, "rows": len(texts)})
        print(f"round {r}: generate {res['generate'][0]:6.1f} s   decoder {res['decoder'][0]:6.1f} s"
              f"   x{rows[-1]['ratio']:.2f}   identical {same}/{len(texts)}", flush=True)
    summary = {
        "config": vars(args), "torch_threads": torch.get_num_threads(), "rounds": rows,
        "median_generate_s": statistics.median(r["generate_s"] for r in rows),
        "median_decoder_s": statistics.median(r["decoder_s"] for r in rows),
        "median_ratio": statistics.median(r["ratio"] for r in rows),
    }
    print(f"\n{args.suite} {args.mode} {args.few_shot}-shot, {args.samples} sample(s), "
          f"{args.batch} completions per batch: generate {summary['median_generate_s']:.1f} s, "
          f"decoder {summary['median_decoder_s']:.1f} s per batch (median); "
          f"median ratio x{summary['median_ratio']:.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(out.read_text()) if out.exists() else {}
    key = f"{args.suite}-{args.mode}-{args.few_shot}shot-k{args.samples}"
    old[key] = summary
    out.write_text(json.dumps(old, indent=2))


if __name__ == "__main__":
    main()
