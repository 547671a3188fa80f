"""The code expert: question -> program -> sandbox -> answer.

    expert = CodeExpert(model, tokenizer, ExpertConfig(mode="code", num_samples=4))
    samples = expert.solve(tasks)           # one list of Sample per task

``mode="code"`` asks for a Python program (PAL style: the program computes, the
interpreter answers); ``mode="direct"`` asks the same model to answer in text, so the two
are compared on the same questions. Generation is batched (left padding, KV cache); the
prompt start all questions share (system prompt, few-shot examples) is prefilled once and
reused; a row leaves the batch as soon as its code block closes (small models keep talking
after the code, and those tokens cost time and change nothing). See ``latentcode.expert.decode``.
"""
from __future__ import annotations

import dataclasses
import re
import time

import torch

import sandbox
from latentcode.expert.decode import decode, growing_cache
from latentcode.expert.grading import grade_completions
from latentcode.expert.samples import Generation, Sample, direct_answer  # noqa: F401 (re-exported)

SYSTEM_CODE = ("You are a careful Python programmer. Solve the problem by writing one short "
               "Python program in a ```python code block. The program must compute the answer "
               "from the numbers in the question and print only the final answer on its last line.")
SYSTEM_FUNCTION = ("You are a careful Python programmer. Write the complete Python function "
                   "asked for in a ```python code block. Do not write tests or example calls.")
SYSTEM_DIRECT = ("Solve the problem. Think briefly, then give the final answer on the last line "
                 "as 'Answer: <answer>'.")

# PAL-style examples: the program names the quantities and computes the answer.
FEW_SHOT = [
    ("Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "money_initial = 23\nbagels = 5\nbagel_cost = 3\nmoney_spent = bagels * bagel_cost\n"
     "money_left = money_initial - money_spent\nprint(money_left)"),
    ("What is the median of [7, 1, 4, 9, 2]?",
     "import statistics\nvalues = [7, 1, 4, 9, 2]\nprint(statistics.median(values))"),
    ("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. "
     "How many golf balls did he have at the end of wednesday?",
     "golf_balls_initial = 58\nlost_tuesday = 23\nlost_wednesday = 2\n"
     "golf_balls_left = golf_balls_initial - lost_tuesday - lost_wednesday\nprint(golf_balls_left)"),
]
FEW_SHOT_DIRECT = [
    (FEW_SHOT[0][0], "She spent 5 * 3 = 15 dollars, so 23 - 15 = 8 are left.\nAnswer: 8"),
    (FEW_SHOT[1][0], "Sorted: [1, 2, 4, 7, 9]; the middle value is 4.\nAnswer: 4"),
    (FEW_SHOT[2][0], "58 - 23 = 35, then 35 - 2 = 33.\nAnswer: 33"),
]
# SmolLM2-135M ignores an instruction that is only in the system prompt (3 of 8 list
# questions got a program); restated after the question in the user turn, 8 of 8 did.
ASK_CODE = "Write a Python program that computes the answer and prints it."
ASK_FUNCTION = "Write the complete function in a ```python code block."
ASK_DIRECT = "Give the final answer on the last line as 'Answer: <answer>'."


@dataclasses.dataclass
class ExpertConfig:
    mode: str = "code"  # "code": write a program; "direct": answer in text
    num_samples: int = 1  # completions per question (maj@k, pass@k)
    max_new_tokens: int = 320  # per completion
    temperature: float | None = None  # None: 0 (greedy) for one sample, 0.7 for several
    top_p: float = 0.95
    batch_size: int = 16  # completions generated together
    few_shot: int = 0  # PAL-style worked examples in the prompt (0-3)
    system_prompt: str | None = None  # replaces the default system prompt
    timeout_s: float = 2.0  # sandbox limits per program
    memory_mb: int = 256
    seed: int = 0
    prefix_cache: bool = True  # prefill the prompts' shared start once and reuse it

    def __post_init__(self):
        if self.mode not in ("code", "direct"):
            raise ValueError(f"mode must be 'code' or 'direct', not {self.mode!r}")
        if not 0 <= self.few_shot <= len(FEW_SHOT):
            raise ValueError(f"few_shot ({self.few_shot}) must be between 0 and {len(FEW_SHOT)}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples ({self.num_samples}) must be at least 1")
        if self.temperature is None:
            self.temperature = 0.0 if self.num_samples == 1 else 0.7
        if self.num_samples > 1 and self.temperature == 0:
            raise ValueError("temperature 0 makes every sample identical; set temperature "
                             "(e.g. 0.7) or num_samples 1")
        if self.batch_size < self.num_samples:
            self.batch_size = self.num_samples


def _may_end(last_token_text: str) -> bool:
    """A block closes only on a token with a backtick, an answer line only on a newline: the
    whole row is decoded only then, not on every step."""
    return "`" in last_token_text or "\n" in last_token_text


def _has_closed_block(text: str) -> bool:
    return text.count("```") >= 2


_ANSWER_DONE = re.compile(r"answer\s*:[ \t]*\S[^\n]*\n", re.I)


def _has_answer_line(text: str) -> bool:
    return _ANSWER_DONE.search(text) is not None


class CodeExpert:
    def __init__(self, model, tokenizer, config: ExpertConfig | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.config = config or ExpertConfig()
        self.pool = sandbox.Pool()  # its own servers, started on first use
        self._prefix: _PrefixCache | None = None
        self._generator = torch.Generator(device=model.device).manual_seed(self.config.seed)

    # prompts ------------------------------------------------------------------------------
    def messages(self, task) -> list[dict]:
        cfg = self.config
        is_function = task.kind == "code"
        if cfg.mode == "direct":
            system, shots = SYSTEM_DIRECT, FEW_SHOT_DIRECT
        else:
            system, shots = (SYSTEM_FUNCTION, []) if is_function else (SYSTEM_CODE, FEW_SHOT)
        ask = ASK_DIRECT if cfg.mode == "direct" else (ASK_FUNCTION if is_function else ASK_CODE)
        msgs = [{"role": "system", "content": cfg.system_prompt or system}]
        for question, answer in shots[:cfg.few_shot]:
            reply = answer if cfg.mode == "direct" else f"```python\n{answer}\n```"
            msgs += [{"role": "user", "content": f"{question}\n{ask}"},
                     {"role": "assistant", "content": reply}]
        msgs.append({"role": "user", "content": f"{task.prompt}\n{ask}"})
        return msgs

    def prompt(self, task) -> str:
        return self.tokenizer.apply_chat_template(self.messages(task), tokenize=False,
                                                  add_generation_prompt=True)

    # generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompts: list[str]) -> list[list[Generation]]:
        """``num_samples`` generations for each prompt, batched."""
        cfg = self.config
        per_call = max(1, cfg.batch_size // cfg.num_samples)
        out: list[list[Generation]] = []
        for start in range(0, len(prompts), per_call):
            out += self._generate_batch(prompts[start:start + per_call])
        return out

    def _generate_batch(self, prompts: list[str]) -> list[list[Generation]]:
        cfg, tok = self.config, self.tokenizer
        k = cfg.num_samples
        ids = tok(prompts, add_special_tokens=False)["input_ids"]
        ids = [x for x in ids for _ in range(k)]
        tokens, ended = self.decode_ids(ids, temperature=cfg.temperature, top_p=cfg.top_p,
                                        max_new_tokens=cfg.max_new_tokens, generator=self._generator)
        rows = [Generation(tok.decode(t, skip_special_tokens=True), len(t), e)
                for t, e in zip(tokens, ended)]
        return [rows[i * k:(i + 1) * k] for i in range(len(prompts))]

    def decode_ids(self, ids: list[list[int]], *, temperature: float, top_p: float,
                   max_new_tokens: int, generator: torch.Generator | None = None,
                   eos_token_ids: set[int] | None = None, keep_eos: bool = False
                   ) -> tuple[list[list[int]], list[bool]]:
        """New tokens for each prompt (token ids, one row per completion), and whether each
        row ended (end-of-sequence, or its code block / answer line closed) before
        ``max_new_tokens``. A sampled end-of-sequence token is left out unless ``keep_eos``.
        ``generator`` None samples from torch's global generator (what a trainer checkpoints
        and restores); ``eos_token_ids`` defaults to the tokenizer's."""
        cfg, tok = self.config, self.tokenizer
        prefix = self._shared_prefix(ids) if cfg.prefix_cache else None
        n_pre = len(prefix.ids) if prefix is not None else 0
        # Left-pad what follows the shared prefix: [prefix][pads][question]. Positions come
        # from the attention mask's running count, so every question continues at n_pre.
        rest = [x[n_pre:] for x in ids]
        width = max(map(len, rest))
        input_ids = torch.tensor([[tok.pad_token_id] * (width - len(x)) + x for x in rest])
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in rest])
        if prefix is not None:
            input_ids = torch.cat([torch.tensor([prefix.ids]).expand(len(ids), -1), input_ids], 1)
            mask = torch.cat([torch.ones(len(ids), n_pre, dtype=mask.dtype), mask], 1)
        device = self.model.device
        answered = _has_closed_block if cfg.mode == "code" else _has_answer_line
        return decode(
            self.model, input_ids.to(device), mask.to(device), max_new_tokens=max_new_tokens,
            eos_token_ids=eos_token_ids or {tok.eos_token_id}, temperature=temperature, top_p=top_p,
            past=prefix.expand(len(ids)) if prefix is not None else None,
            finished=lambda row, t: _may_end(tok.decode(t[-1:]))
            and answered(tok.decode(t, skip_special_tokens=True)),
            generator=generator, keep_eos=keep_eos)

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
            n = _common_prefix_len([cached.ids] + ids, limit)
            if n >= _MIN_PREFIX:
                if n < len(cached.ids):
                    cached.crop(n)  # a batch shared more than the preamble; keep the part all share
                return cached
        n = _common_prefix_len(ids, limit)
        if n < _MIN_PREFIX:
            return None
        self._prefix = _PrefixCache.build(self.model, ids[0][:n], version)
        return self._prefix

    # the whole loop -----------------------------------------------------------------------
    def solve(self, tasks) -> list[list[Sample]]:
        t0 = time.perf_counter()
        gens = self.generate([self.prompt(t) for t in tasks])
        gen_s = (time.perf_counter() - t0) / max(1, sum(len(g) for g in gens))
        return self.grade_generations(tasks, gens, gen_s)

    def grade_generations(self, tasks, gens: list[list[Generation]], gen_s: float = 0.0):
        """Extract, execute (one sandbox batch) and grade completions already generated."""
        cfg = self.config
        return grade_completions(tasks, gens, mode=cfg.mode, tokenizer=self.tokenizer,
                                 timeout_s=cfg.timeout_s, memory_mb=cfg.memory_mb, gen_s=gen_s,
                                 pool=self.pool)


_MIN_PREFIX = 16  # tokens; below this the copy costs about what it saves


def _common_prefix_len(seqs: list[list[int]], limit: int) -> int:
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
        cache = model(input_ids=x, use_cache=True).past_key_values
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        return cls(list(ids), layers, version)

    def crop(self, n: int) -> None:
        self.ids = self.ids[:n]
        self.layers = [(k[..., :n, :], v[..., :n, :]) for k, v in self.layers]

    def expand(self, rows: int):
        """A fresh cache for ``rows`` sequences (generation appends to it)."""
        return growing_cache(self.layers, rows)
