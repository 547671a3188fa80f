"""What both experts share: sampling settings, batched generation, the prompt-prefix cache.

    class CodeExpert(Expert): ...      # a program, run in the sandbox (code_expert.py)
    class DirectExpert(Expert): ...    # a text answer (direct_expert.py)

An expert answers a batch of tasks with ``solve(tasks)``: one list of ``Sample`` per task,
``num_samples`` long, each carrying its answer, grade and cost (generated tokens, generation
and execution seconds). The two differ in three methods: ``messages`` (what the model is
asked), ``answered`` (when a reply is complete, so its row leaves the batch) and
``grade_generations``. Generation is batched (left padding, KV cache); the prompt start all
questions share (system prompt, few-shot examples) is prefilled once and reused; a row
leaves the batch as soon as it is answered (small models keep talking after the code, and
those tokens cost time and change nothing). See ``latentcode.expert.decode``.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch

from latentcode.expert.decode import decode_queue, new_cache_of
from latentcode.expert.prompts import PromptConfig
from latentcode.expert.samples import Generation, Sample
from latentcode.expert.sampling import ExpertConfig


def _may_end(last_token_text: str) -> bool:
    """A block closes only on a token with a backtick, an answer line only on a newline: the
    whole row is decoded only then, not on every step."""
    return "`" in last_token_text or "\n" in last_token_text


class Expert:
    """The shared machinery; use ``CodeExpert`` or ``DirectExpert``."""

    def __init__(self, model, tokenizer, config: ExpertConfig | None = None, *,
                 prompt: PromptConfig | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.config = config or ExpertConfig()
        self.prompt_config = prompt or PromptConfig()
        self._prefix: _PrefixCache | None = None
        self._generator = torch.Generator(device=model.device).manual_seed(self.config.seed)
        self.on_generated: Callable[[], None] | None = None  # called as each completion ends (progress)

    def reseed(self, seed: int) -> None:
        """Restart the sampling generator at ``seed`` (a trainer reseeds per iteration, so a
        resumed run samples what the uninterrupted one did)."""
        self._generator.manual_seed(seed)

    # what differs ---------------------------------------------------------------------------
    def messages(self, task) -> list[dict]:
        raise NotImplementedError

    def answered(self, text: str) -> bool:
        """Whether a reply so far is complete (its row may leave the batch)."""
        raise NotImplementedError

    def grade_generations(self, tasks, gens: list[list[Generation]], gen_s: float = 0.0
                          ) -> list[list[Sample]]:
        raise NotImplementedError

    # prompts ------------------------------------------------------------------------------
    def prompt(self, task) -> str:
        return self.tokenizer.apply_chat_template(self.messages(task), tokenize=False,
                                                  add_generation_prompt=True)

    # generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompts: list[str], counts: list[int] | None = None,
                 on_prompt: Callable[[int, list[Generation]], None] | None = None) -> list[list[Generation]]:
        """``num_samples`` generations for each prompt (or ``counts[i]`` for prompt i),
        ``batch_size`` rows decoding at a time (a finished row's place goes to the next
        waiting one). ``on_prompt(i, generations)`` is called as prompt i's last row ends
        (bench grades and saves a question while the others decode)."""
        cfg, tok = self.config, self.tokenizer
        counts = [cfg.num_samples] * len(prompts) if counts is None else list(counts)
        if len(counts) != len(prompts) or any(c < 0 for c in counts):
            raise ValueError(f"counts must give a number >= 0 for each of the {len(prompts)} prompts")
        ids = tok(prompts, add_special_tokens=False)["input_ids"] if prompts else []
        ids = [x for x, c in zip(ids, counts) for _ in range(c)]
        starts = [sum(counts[:i]) for i in range(len(counts) + 1)]
        on_row = self._prompt_watch(ids, counts, starts, on_prompt) if on_prompt is not None else None
        tokens, ended = self.decode_ids(ids, temperature=cfg.temperature, top_p=cfg.top_p,
                                        max_new_tokens=cfg.max_new_tokens, generator=self._generator,
                                        on_row=on_row) if ids else ([], [])
        rows = [Generation(tok.decode(t, skip_special_tokens=True), len(t), e, len(p))
                for t, e, p in zip(tokens, ended, ids)]
        return [rows[starts[i]:starts[i + 1]] for i in range(len(prompts))]

    def _prompt_watch(self, ids, counts, starts, on_prompt):
        """An ``on_row`` for ``decode_ids`` that calls ``on_prompt(i, generations)`` once all
        of prompt i's rows have ended."""
        prompt_of = [i for i, c in enumerate(counts) for _ in range(c)]
        left = list(counts)
        done: dict[int, Generation] = {}

        def on_row(row, tokens, ended):
            done[row] = Generation(self.tokenizer.decode(tokens, skip_special_tokens=True), len(tokens),
                                   ended, len(ids[row]))
            i = prompt_of[row]
            left[i] -= 1
            if left[i] == 0:
                on_prompt(i, [done.pop(r) for r in range(starts[i], starts[i + 1])])
        return on_row

    def decode_ids(self, ids: list[list[int]], *, temperature: float, top_p: float,
                   max_new_tokens: int, generator: torch.Generator | None = None,
                   eos_token_ids: set[int] | None = None, keep_eos: bool = False,
                   batch_size: int | None = None,
                   on_row: Callable[[int, list[int], bool], None] | None = None,
                   share_prefix: bool | None = None) -> tuple[list[list[int]], list[bool]]:
        """New tokens for each prompt (token ids, one row per completion), and whether each
        row ended (end-of-sequence, or its reply is ``answered``) before ``max_new_tokens``.
        A sampled end-of-sequence token is left out unless ``keep_eos``. ``generator`` None
        samples from torch's global generator (what a trainer checkpoints and restores);
        ``eos_token_ids`` defaults to the tokenizer's; ``batch_size`` to the config's;
        ``share_prefix`` (default: where the attention supports it) keeps the shared prompt
        start once for all rows instead of copying it into each (``decode_queue``)."""
        cfg, tok = self.config, self.tokenizer
        if not ids:
            return [], []
        prefix = self._shared_prefix(ids) if cfg.prefix_cache else None
        return decode_queue(
            self.model, ids, batch_size=batch_size or cfg.batch_size, max_new_tokens=max_new_tokens,
            eos_token_ids=eos_token_ids or {tok.eos_token_id}, pad_token_id=tok.pad_token_id,
            temperature=temperature, top_p=top_p,
            prefix=prefix.layers if prefix is not None else None,
            prefix_len=len(prefix.ids) if prefix is not None else 0,
            finished=lambda row, t: _may_end(tok.decode(t[-1:]))
            and self.answered(tok.decode(t, skip_special_tokens=True)),
            generator=generator, keep_eos=keep_eos, lookahead=cfg.lookahead if temperature <= 0 else 0,
            on_done=(lambda row: self.on_generated()) if self.on_generated is not None else None,
            on_row=on_row, share_prefix=share_prefix)

    def forget_prefix(self) -> None:
        """Drop the cached prompt prefix. Needed after weight updates that autograd's version
        counters miss: fused optimizers (``AdamW(fused=True)``, transformers' default
        ``adamw_torch_fused``) write the weights without bumping them."""
        self._prefix = None

    def _shared_prefix(self, ids: list[list[int]]) -> "_PrefixCache | None":
        """The keys and values of the tokens every prompt starts with (system prompt and
        few-shot examples: 400 of the 460 tokens of a 3-shot GSM8K prompt), computed once
        and reused by every batch. Prefill was two thirds of generation time without it.
        Recomputed when the weights change (ES perturbs them in place)."""
        version = _weights_version(self.model)
        limit = min(map(len, ids)) - 1  # every row keeps at least one token to feed
        cached = self._prefix
        if cached is not None and cached.version == version:
            n = common_prefix_len([cached.ids] + ids, limit)
            if n >= MIN_PREFIX:
                if n < len(cached.ids):
                    cached.crop(n)  # a batch shared more than the preamble; keep the part all share
                return cached
        n = common_prefix_len(ids, limit)
        if n < MIN_PREFIX:
            return None
        self._prefix = _PrefixCache.build(self.model, ids[0][:n], version)
        return self._prefix

    # the whole loop -----------------------------------------------------------------------
    def generate_for(self, tasks) -> tuple[list[list[Generation]], float]:
        """The generations for ``tasks`` and the generation seconds per completion."""
        t0 = time.perf_counter()
        gens = self.generate([self.prompt(t) for t in tasks]) if tasks else []
        return gens, (time.perf_counter() - t0) / max(1, sum(len(g) for g in gens))

    def solve(self, tasks) -> list[list[Sample]]:
        """``num_samples`` graded samples per task, in order."""
        gens, gen_s = self.generate_for(tasks)
        return self.grade_generations(tasks, gens, gen_s)


MIN_PREFIX = 16  # tokens; below this the copy costs about what it saves


def common_prefix_len(seqs: list[list[int]], limit: int) -> int:
    """How many leading tokens every sequence shares, at most ``limit``."""
    first = seqs[0]
    n = min(limit, len(first))
    for s in seqs[1:]:
        i = 0
        m = min(n, len(s))
        while i < m and s[i] == first[i]:
            i += 1
        n = i
    return n


def _weights_version(model) -> tuple:
    """Changes whenever a parameter is modified in place under autograd's version counter
    (``p.add_`` under no_grad, as ES does; foreach optimizer steps) or replaced. Fused
    optimizer kernels do not bump the counter: see ``CodeExpert.forget_prefix``."""
    return tuple((id(p), p._version) for p in model.parameters())


@dataclasses.dataclass
class _PrefixCache:
    ids: list[int]
    layers: list[tuple[torch.Tensor, torch.Tensor]]  # (keys, values), batch 1
    version: tuple

    @classmethod
    @torch.no_grad()
    def build(cls, model, ids: list[int], version: tuple) -> "_PrefixCache":
        x = torch.tensor([ids], device=model.device)
        cache = new_cache_of(model(input_ids=x, use_cache=True))
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        return cls(list(ids), layers, version)

    def crop(self, n: int) -> None:
        self.ids = self.ids[:n]
        self.layers = [(k[..., :n, :], v[..., :n, :]) for k, v in self.layers]
