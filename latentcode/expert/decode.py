"""Batched sampling that stops paying for a row once the row is finished (``decode_queue``).

``model.generate`` keeps every row in the batch until the longest one ends: a row that
closed its code block after 60 tokens still costs a full forward step for each of the 260
steps a rambling neighbour takes. Here a finished row leaves the batch (its keys and values
are dropped from the cache) and the next waiting prompt takes its place, so the batch stays
full until the queue is empty.

The keys and values live in buffers that grow in place: the default
cache concatenates every layer's whole cache on every step, which on CPU cost as much as
the matrix multiplies (53 of 142 ms per step, 16 rows, 400 tokens of context).

Newcomers' columns are aligned to the batch's by masked padding, so every row keeps its own
positions (counted from its attention mask, as ``generate`` counts them); a prefill serves
several newcomers at once.

The prompt start all prompts share (system prompt, few-shot examples) is prefilled once. With
the project's attention (``latentcode.attention``) its keys and values are also kept once and
every row attends to that one copy (cascade attention: a 64-row step reads a 370-token
prefix once, not 64 times); with any other attention each row gets a copy.

Greedy decoding can check drafts (prompt lookup: what followed the row's last tokens earlier
in its prompt or reply), keeping the ones the model itself would have produced, so a step
can emit several tokens. It drafts only while the step stays small (rows x (1 + drafts) <=
``step_tokens``): a small batch costs about the same per step whatever its width, a large
one does not.

Greedy decoding gives the tokens ``generate`` gives (tested); sampling uses transformers'
own temperature and nucleus (top-p) warpers, from a ``torch.Generator`` seeded by the caller.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch
from transformers.cache_utils import Cache, DynamicLayer

from latentcode.attention import ATTENTION
from transformers.generation.logits_process import (LogitsProcessorList, TemperatureLogitsWarper,
                                                    TopPLogitsWarper)


class GrowingLayer(DynamicLayer):
    """One layer's keys and values in a zero-filled buffer that grows by ``GROW`` columns
    when full, written in place. ``keys`` and ``values`` are views of the filled columns;
    each carries its whole buffer as ``.buffer`` (see ``latentcode.attention``: a bf16
    matmul over a strided view runs ~7x slower on CPU than over the contiguous buffer, whose
    unfilled columns the attention masks)."""
    GROW = 64
    shared: tuple[torch.Tensor, torch.Tensor] | None = None  # the prefix every row attends to
    shared_len = 0

    def share(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Attend every row to ``keys``/``values`` (batch 1: (1, kv_heads, P, head_dim)),
        kept once, as the first ``P`` columns of each row; the buffers hold what follows.
        Only ``latentcode.attention`` reads them (tagged ``.shared`` on the keys it gets)."""
        self.shared, self.shared_len = (keys, values), keys.shape[-2]

    def lazy_initialization(self, key_states, value_states):
        super().lazy_initialization(key_states, value_states)
        self._k = self._v = None
        self._len = 0

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]  # key_states: (rows, kv_heads, new, head_dim)
        need = self._len + new
        if self._k is None or need > self._k.shape[-2]:
            k, v = self._buffers(key_states, value_states, need)
            if self._len:
                k[..., :self._len, :] = self._k[..., :self._len, :]
                v[..., :self._len, :] = self._v[..., :self._len, :]
            self._k, self._v = k, v
        self._k[..., self._len:need, :] = key_states
        self._v[..., self._len:need, :] = value_states
        self._len = need
        self._expose()
        return self.keys, self.values

    def _buffers(self, k: torch.Tensor, v: torch.Tensor, need: int):
        cap = -(-(need + 1) // self.GROW) * self.GROW
        return (k.new_zeros(k.shape[:-2] + (cap, k.shape[-1])),
                v.new_zeros(v.shape[:-2] + (cap, v.shape[-1])))

    def _expose(self) -> None:
        self.keys, self.values = self._k[..., :self._len, :], self._v[..., :self._len, :]
        self.keys.buffer, self.values.buffer = self._k, self._v
        self.keys.shared = self.values.shared = self.shared

    def get_seq_length(self) -> int:
        # what masks and positions count: the shared prefix's columns, then the row's own
        return self.shared_len + (self._len if self.is_initialized else 0)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized and self._len:
            self._k, self._v = self._k[indices], self._v[indices]
            self._expose()

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("GrowingLayer does not crop")

    # continuous batching: rows join, columns of padding come and go ---------------------------
    def _rebuffer(self, k: torch.Tensor, v: torch.Tensor) -> None:
        n = k.shape[-2]
        self._k, self._v = self._buffers(k, v, n)
        self._k[..., :n, :], self._v[..., :n, :] = k, v
        self._len = n
        self._expose()

    def pad_columns(self, at: int, n: int) -> None:
        """Insert ``n`` columns (zeros, masked by the caller) before column ``at`` (counted
        after the shared prefix)."""
        k, v = self.keys, self.values
        zk = k.new_zeros(k.shape[:-2] + (n, k.shape[-1]))
        self._rebuffer(torch.cat([k[..., :at, :], zk, k[..., at:, :]], -2),
                       torch.cat([v[..., :at, :], zk.clone(), v[..., at:, :]], -2))

    def gather_columns(self, index: torch.Tensor) -> None:
        """Keep, for each row, the columns ``index[row]`` (in that order; counted after the
        shared prefix, which stays)."""
        k, v = self.keys, self.values
        idx = index[:, None, :, None].expand(k.shape[0], k.shape[1], index.shape[1], k.shape[-1])
        self._rebuffer(k.gather(2, idx), v.gather(2, idx))

    def add_rows(self, other: "GrowingLayer") -> None:
        """Append ``other``'s rows (the same number of columns) to this batch."""
        self._rebuffer(torch.cat([self.keys, other.keys], 0), torch.cat([self.values, other.values], 0))


def growing_cache(prefix: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                  rows: int = 1, share: bool = False) -> Cache:
    """An empty cache, or one holding ``prefix`` (batch-1 keys and values per layer): copied
    into each of ``rows`` sequences, or with ``share`` kept once and attended by every row
    (needs the model's attention to be ``latentcode.attention``'s)."""
    cache = Cache(layer_class_to_replicate=GrowingLayer)
    for i, (k, v) in enumerate(prefix or []):
        if share:
            layer = GrowingLayer()
            layer.share(k, v)
            cache.layers.append(layer)
        else:
            cache.update(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1), i)
    return cache


# the shortest shared prefix kept once by default: measured side by side (docs/benchmarks.md,
# "Speed on any CPU"), the 54-token zero-shot prefix gained nothing over copying (0.89-1.04x),
# the 374-token 3-shot one up to 1.65x
SHARE_FROM = 128


def shares_prefixes(model) -> bool:
    """Whether ``model`` attends through ``latentcode.attention``, the one attention that
    reads a shared prefix (others get it copied into every row)."""
    return getattr(_base(model).config, "_attn_implementation", None) == ATTENTION


def forward_kv(model, cache: Cache, **kwargs):
    """``model(**kwargs)`` with ``cache`` as its key/value cache, under the argument name this
    transformers version reads (``cache`` since 5.x; ``past_key_values`` before, now deprecated)."""
    return model(**kwargs, **{_cache_argument(type(_base(model))): cache}, use_cache=True)


def _base(model):
    """The transformers model under a PEFT wrapper (which passes calls on to it), or ``model``."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@functools.cache
def _cache_argument(cls) -> str:
    return "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"


def new_cache_of(output) -> Cache:
    """The cache a forward pass returned, whatever this transformers version calls it."""
    return output.cache if hasattr(output, "cache") else output.past_key_values


def _warpers(temperature: float, top_p: float) -> LogitsProcessorList | None:
    """transformers' temperature and top-p warpers (None: greedy)."""
    if temperature <= 0:
        return None
    warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)])
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    return warpers


def _pick(logits: torch.Tensor, temperature: float, top_p: float,
          generator: torch.Generator | None) -> torch.Tensor:
    warpers = _warpers(temperature, top_p)
    if warpers is None:
        return logits.float().argmax(-1)  # the same token; a bf16 argmax is 3x slower on CPU
    scores = warpers(None, logits.float())  # these warpers do not read the input ids
    return torch.multinomial(scores.softmax(-1), 1, generator=generator).squeeze(-1)


class _Lookup:
    """Prompt-lookup drafts for one row: the tokens that followed the latest earlier occurrence
    of the row's last 3 (else 2, else 1) tokens, in its prompt or its own reply. Tables are
    updated as tokens arrive, so a draft costs a few dictionary reads."""

    N = 3

    def __init__(self, tokens: list[int]):
        self.seq: list[int] = []
        self.table: dict[tuple, int] = {}  # n-gram -> where its latest continuation starts
        self.extend(tokens)

    def extend(self, tokens: list[int]) -> None:
        seq = self.seq
        for t in tokens:
            j = len(seq)
            for n in range(1, self.N + 1):
                if j >= n:
                    self.table[tuple(seq[j - n:j])] = j
            seq.append(t)

    def draft(self, k: int) -> list[int]:
        seq = self.seq
        for n in range(self.N, 0, -1):
            start = self.table.get(tuple(seq[-n:])) if len(seq) >= n else None
            if start is not None:
                return seq[start:start + k]
        return []


class _Batch:
    """The rows being decoded: their cache, attention mask (rows, columns: a shared prefix's
    first, then the rows' own), next input (rows,) and position (rows,)."""

    def __init__(self, cache: Cache, mask: torch.Tensor, rows: list[int], nxt: torch.Tensor,
                 pos: torch.Tensor, shared_len: int = 0):
        self.cache, self.mask, self.rows, self.nxt, self.pos = cache, mask, rows, nxt, pos
        self.shared_len = shared_len  # columns kept once for all rows (0: none, or copied)

    def width(self) -> int:
        return self.mask.shape[1]

    def pad(self, at: int, n: int) -> None:
        if n <= 0:
            return
        for layer in self.cache.layers:
            layer.pad_columns(at - self.shared_len, n)
        self.mask = torch.cat([self.mask[:, :at], self.mask.new_zeros(len(self.rows), n), self.mask[:, at:]], 1)

    def add(self, other: "_Batch") -> None:
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.add_rows(theirs)
        self.mask = torch.cat([self.mask, other.mask], 0)
        self.rows += other.rows
        self.nxt = torch.cat([self.nxt, other.nxt])
        self.pos = torch.cat([self.pos, other.pos])

    def keep(self, idx: list[int]) -> None:
        if len(idx) == len(self.rows):
            return
        t = torch.tensor(idx, dtype=torch.long, device=self.mask.device)
        self.cache.batch_select_indices(t)
        self.mask, self.nxt, self.pos = self.mask[t], self.nxt[t], self.pos[t]
        self.rows = [self.rows[i] for i in idx]

    def compact(self, slack: int = 32) -> None:
        """Drop the columns no row attends to (left padding of rows that left, drafts that
        were rejected) once they are more than ``slack`` and a quarter of the width. Column
        order does not matter to attention (positions are stored in the keys), so each row
        keeps its own columns, in order, right-aligned."""
        p = self.shared_len  # a shared prefix's columns stay where they are
        own = self.mask[:, p:]
        valid = own.bool()
        width = own.shape[1]
        keep = int(valid.sum(1).max())
        if width - keep < max(slack, keep // 4):
            return
        cols = torch.arange(width, device=valid.device)
        index = torch.argsort(valid.long() * width + cols, dim=1)[:, width - keep:]  # (rows, keep)
        for layer in self.cache.layers:
            layer.gather_columns(index)
        self.mask = torch.cat([self.mask[:, :p], own.gather(1, index)], 1)


@torch.no_grad()
def decode_queue(model, prompts: list[list[int]], *, batch_size: int, max_new_tokens: int,
                 eos_token_ids: set[int], pad_token_id: int, temperature: float = 0.0,
                 top_p: float = 1.0, prefix: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                 prefix_len: int = 0, finished: Callable[[int, list[int]], bool] | None = None,
                 generator: torch.Generator | None = None, keep_eos: bool = False,
                 admit_every: int | None = None, lookahead: int = 0, step_tokens: int = 48,
                 on_done: Callable[[int], None] | None = None,
                 on_row: Callable[[int, list[int], bool], None] | None = None,
                 share_prefix: bool | None = None) -> tuple[list[list[int]], list[bool]]:
    """New tokens for every prompt, at most ``batch_size`` rows at a time; per prompt in
    order, its tokens and whether it ended (end-of-sequence or ``finished``) before
    ``max_new_tokens``. A finished row's place goes to the next waiting prompt; newcomers are
    admitted together once ``admit_every`` places are free (default: a quarter of the batch).

    ``prefix``: keys and values (batch 1, per layer) of the ``prefix_len`` tokens every prompt
    starts with, kept once for all rows (``share_prefix``; default: where the attention reads
    it and the prefix has ``SHARE_FROM`` tokens or more) or copied into each. ``lookahead`` (greedy only): drafted tokens checked per row per
    step while rows x (1 + drafts) <= ``step_tokens`` (``_draft_step``). ``on_done(i)`` and
    ``on_row(i, tokens, ended)`` are called as prompt ``i``'s row stops. The module's
    docstring says why each of these pays."""
    rows = _Rows(len(prompts), max_new_tokens, eos_token_ids, finished, keep_eos, on_done, on_row)
    queue = list(range(len(prompts)))[::-1]  # popped from the end: prompts start in order
    admit_every = max(1, admit_every or batch_size // 4)
    share = bool(prefix) and (shares_prefixes(model) and prefix_len >= SHARE_FROM
                              if share_prefix is None else share_prefix)
    sample = functools.partial(_pick, temperature=temperature, top_p=top_p, generator=generator)
    lookups: dict[int, _Lookup] = {}
    batch: _Batch | None = None
    while queue or batch is not None:
        free = batch_size - (len(batch.rows) if batch else 0)
        if queue and (batch is None or free >= min(admit_every, len(queue))):
            take = [queue.pop() for _ in range(min(free, len(queue)))]
            new = _prefill(model, [prompts[i] for i in take], take, prefix, prefix_len,
                           pad_token_id, model.device, share)
            new.nxt = sample(new.nxt)  # (rows,) each newcomer's first token
            new.keep(rows.record(take, [[t] for t in new.nxt.tolist()]))
            batch = _joined(batch, new, prefix_len)
            if batch is None:
                continue
        # drafts only while a step stays cheap: rows x (1 + drafts) <= step_tokens
        k = min(lookahead, step_tokens // len(batch.rows) - 1) if temperature <= 0 and lookahead else 0
        if k > 0:
            _draft_step(model, batch, k, prompts, rows.out, lookups, pad_token_id, rows.record)
        else:
            _plain_step(model, batch, sample, rows.record)
        if not batch.rows:
            batch = None
        else:
            batch.compact()
    return rows.out, rows.ended


class _Rows:
    """Every prompt's tokens so far and whether its row ended; the rules that end a row."""

    def __init__(self, n: int, max_new_tokens: int, eos_token_ids: set[int], finished, keep_eos: bool,
                 on_done, on_row):
        self.out: list[list[int]] = [[] for _ in range(n)]
        self.ended = [False] * n
        self.max_new_tokens, self.eos, self.finished, self.keep_eos = max_new_tokens, eos_token_ids, finished, keep_eos
        self.on_done, self.on_row = on_done, on_row

    def record(self, rows: list[int], emitted: list[list[int]]) -> list[int]:
        """Append each row's new tokens; the indices (into ``rows``) of the rows still going."""
        going = []
        for i, (row, toks) in enumerate(zip(rows, emitted)):
            if self._extend(row, toks):
                going.append(i)
                continue
            if self.on_done is not None:
                self.on_done(row)
            if self.on_row is not None:
                self.on_row(row, self.out[row], self.ended[row])
        return going

    def _extend(self, row: int, toks: list[int]) -> bool:
        """Whether ``row`` goes on after ``toks``."""
        out = self.out[row]
        for tok in toks:
            if tok in self.eos:
                self.ended[row] = True
                if self.keep_eos:
                    out.append(tok)
                return False
            out.append(tok)
            if self.finished is not None and self.finished(row, out):
                self.ended[row] = True
                return False
            if len(out) >= self.max_new_tokens:
                return False
        return True


def _joined(batch: "_Batch | None", new: _Batch, prefix_len: int) -> "_Batch | None":
    """The running batch with the newcomers still going added, their columns aligned by
    masked padding right after the shared prefix (each row keeps its own positions)."""
    if not new.rows:
        return batch
    if batch is None:
        return new
    batch.pad(prefix_len, new.width() - batch.width())
    new.pad(prefix_len, batch.width() - new.width())
    batch.add(new)
    return batch


def _plain_step(model, batch: _Batch, sample, record) -> None:
    """One token for every row: its next input (rows, 1) against its cache."""
    mask = torch.cat([batch.mask, batch.mask.new_ones(len(batch.rows), 1)], 1)  # (rows, width + 1)
    pos = batch.pos + 1  # (rows,)
    logits = forward_kv(model, batch.cache, input_ids=batch.nxt[:, None], attention_mask=mask,
                        position_ids=pos[:, None], logits_to_keep=1).logits[:, -1]  # (rows, vocab)
    batch.mask, batch.pos = mask, pos
    batch.nxt = sample(logits)
    batch.keep(record(batch.rows, [[t] for t in batch.nxt.tolist()]))


def _draft_step(model, batch: _Batch, k: int, prompts, out, lookups: dict, pad_token_id: int,
                record) -> None:
    """One greedy step that feeds each row its next token and up to ``k`` drafted ones; keeps
    the drafts the model agrees with, and masks the columns of the ones it does not."""
    rows = batch.rows
    drafts = []
    for row in rows:
        lk = lookups.get(row)
        if lk is None:
            lk = lookups[row] = _Lookup(prompts[row])
        lk.extend(out[row][len(lk.seq) - len(prompts[row]):])
        drafts.append(lk.draft(k))
    width = 1 + k
    nxt = batch.nxt.tolist()
    # (rows, 1 + k): the next token, then the drafts, padded where a row drafted fewer
    feed = torch.tensor([[t] + d + [pad_token_id] * (k - len(d)) for t, d in zip(nxt, drafts)],
                        device=batch.mask.device)
    cols = torch.tensor([[1] * (1 + len(d)) + [0] * (k - len(d)) for d in drafts],
                        dtype=batch.mask.dtype, device=batch.mask.device)  # (rows, 1 + k)
    mask = torch.cat([batch.mask, cols], 1)  # (rows, width + 1 + k)
    pos = batch.pos[:, None] + 1 + torch.arange(width, device=batch.pos.device)  # (rows, 1 + k)
    logits = forward_kv(model, batch.cache, input_ids=feed, attention_mask=mask, position_ids=pos,
                        logits_to_keep=width).logits  # (rows, 1 + k, vocab)
    guess = logits.float().argmax(-1).tolist()  # per row, what the model says after each fed token
    emitted, accepted = [], []
    for d, g in zip(drafts, guess):
        a = 0
        while a < len(d) and d[a] == g[a]:
            a += 1
        accepted.append(a)
        emitted.append(g[:a + 1])
    acc = torch.tensor(accepted, device=batch.pos.device)
    # a fed column stays visible if its token is now part of the row: the next token and the
    # accepted drafts; the rejected drafts' columns are masked (compact() drops them later)
    seen = torch.arange(width, device=mask.device)[None, :] <= acc[:, None]
    mask[:, -width:] = mask[:, -width:] * seen.to(mask.dtype)
    batch.mask = mask
    batch.pos = batch.pos + 1 + acc
    batch.nxt = torch.tensor([e[-1] for e in emitted], device=batch.nxt.device)
    batch.keep(record(rows, emitted))


def _prefill(model, prompts: list[list[int]], rows: list[int], prefix, prefix_len: int,
             pad_token_id: int, device, share: bool = False) -> _Batch:
    """Run the newcomers' prompts (after the shared prefix) as one left-padded batch; the
    returned batch's ``nxt`` holds their last logits (rows, vocab), to be sampled by the
    caller."""
    rest = [p[prefix_len:] for p in prompts]
    width = max(map(len, rest))
    # (rows, width): each prompt after the prefix, left-padded
    ids = torch.tensor([[pad_token_id] * (width - len(x)) + x for x in rest], device=device)
    # (rows, prefix_len + width): the prefix's columns, then padding, then the row's own
    mask = torch.tensor([[1] * prefix_len + [0] * (width - len(x)) + [1] * len(x) for x in rest],
                        device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # a row's positions count its own tokens only
    cache = growing_cache(prefix, len(prompts), share) if prefix else growing_cache()
    logits = forward_kv(model, cache, input_ids=ids, attention_mask=mask,
                        position_ids=positions[:, prefix_len:], logits_to_keep=1).logits[:, -1]
    return _Batch(cache, mask, list(rows), logits, positions[:, -1], prefix_len if share else 0)
