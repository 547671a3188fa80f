"""The batched decoder against transformers' generate, on a tiny random model."""
from __future__ import annotations

import pytest
import torch

from latentcode.expert.decode import GrowingLayer, _pick, decode_queue, new_cache_of
from latentcode.expert.code_expert import CodeExpert, ExpertConfig
from latentcode.expert.prompts import PromptConfig
from latentcode.models import load_model
from tasks.base import Task


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_model("tiny", device="cpu")


def left_padded(tok, texts):
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, ids))
    x = torch.tensor([[tok.pad_token_id] * (width - len(i)) + i for i in ids])
    m = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids])
    return x, m


TEXTS = ["What is the average of [3, 0, 1, 300, 2]?", "Sort 5 1 4.",
         "Olivia has $23. She bought five bagels for $3 each. How much is left?"]


def until_eos(row, stops):
    for i, t in enumerate(row):
        if t in stops:
            return row[:i]
    return row


def decode(model, tok, texts, **kw):
    """All of ``texts`` decoded together (one batch, no queue)."""
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    return decode_queue(model, ids, batch_size=len(ids), pad_token_id=tok.pad_token_id, **kw)


def test_greedy_matches_generate_on_a_left_padded_batch(tiny):
    model, tok = tiny
    x, m = left_padded(tok, TEXTS)
    ours, ended = decode(model, tok, TEXTS, max_new_tokens=12, eos_token_ids={tok.eos_token_id})
    ref = model.generate(input_ids=x, attention_mask=m, max_new_tokens=12, do_sample=False,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    ref = [until_eos(r, {tok.eos_token_id, tok.pad_token_id}) for r in ref[:, x.shape[1]:].tolist()]
    assert ours == ref
    assert ended == [len(r) < 12 for r in ref]


def test_a_finished_row_leaves_the_batch_without_changing_the_others(tiny):
    model, tok = tiny
    full, _ = decode(model, tok, TEXTS, max_new_tokens=10, eos_token_ids=set())
    seen = []

    def finished(row, toks):
        seen.append(row)
        return row == 1 and len(toks) == 3

    part, ended = decode(model, tok, TEXTS, max_new_tokens=10, eos_token_ids=set(), finished=finished)
    assert part[1] == full[1][:3] and ended == [False, True, False]
    assert part[0] == full[0] and part[2] == full[2]
    assert seen.count(1) == 3  # never asked about again once it left


def test_the_shared_prefix_is_computed_once_and_changes_nothing(tiny):
    model, tok = tiny
    tasks = [Task(f"t{i}", q, "0", "arith", {}) for i, q in enumerate(TEXTS)]
    cfg = dict(max_new_tokens=8, batch_size=2)
    cached = CodeExpert(model, tok, ExpertConfig(**cfg), prompt=PromptConfig(few_shot=3))
    plain = CodeExpert(model, tok, ExpertConfig(prefix_cache=False, **cfg), prompt=PromptConfig(few_shot=3))
    a = cached.generate([cached.prompt(t) for t in tasks])
    b = plain.generate([plain.prompt(t) for t in tasks])
    assert [g[0].text for g in a] == [g[0].text for g in b]
    prefix = cached._prefix
    assert prefix is not None and len(prefix.ids) > 100  # the system prompt and 3 examples
    cached.generate([cached.prompt(t) for t in tasks])
    assert cached._prefix is prefix  # reused, not rebuilt
    assert plain._prefix is None


def test_the_prefix_is_rebuilt_when_the_weights_change_in_place(tiny):
    model, tok = load_model("tiny", device="cpu")
    tasks = [Task(f"t{i}", q, "0", "arith", {}) for i, q in enumerate(TEXTS)]
    expert = CodeExpert(model, tok, ExpertConfig(max_new_tokens=8), prompt=PromptConfig(few_shot=2))
    expert.generate([expert.prompt(t) for t in tasks])
    before = expert._prefix
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    after_cached = expert.generate([expert.prompt(t) for t in tasks])
    assert expert._prefix is not before
    plain = CodeExpert(model, tok, ExpertConfig(max_new_tokens=8, prefix_cache=False), prompt=PromptConfig(few_shot=2))
    assert [g[0].text for g in after_cached] == \
        [g[0].text for g in plain.generate([plain.prompt(t) for t in tasks])]


def test_sampling_is_seeded_and_top_p_keeps_the_nucleus():
    logits = torch.tensor([[4.0, 3.9, 0.0, -1.0, -9.0]] * 2000)
    g = torch.Generator().manual_seed(1)
    picks = _pick(logits, 1.0, 0.9, g)
    # softmax: 0.50, 0.46, 0.01, ...: the nucleus for 0.9 is the first two tokens
    assert set(picks.tolist()) == {0, 1}
    assert 0.45 < (picks == 0).float().mean() < 0.6
    again = _pick(logits, 1.0, 0.9, torch.Generator().manual_seed(1))
    assert torch.equal(picks, again)
    assert set(_pick(logits, 1.0, 1.0, g).tolist()) >= {0, 1, 2}
    assert _pick(logits[:1], 0.0, 0.5, None).item() == 0  # temperature 0: argmax


def test_growing_layer_holds_what_concatenation_holds():
    layer = GrowingLayer()
    parts = [torch.randn(3, 2, n, 4) for n in (5, 1, 70, 1, 1)]
    for p in parts:
        k, v = layer.update(p, -p)
    want = torch.cat(parts, -2)
    assert torch.equal(k, want) and torch.equal(v, -want) and layer.get_seq_length() == 78
    layer.batch_select_indices(torch.tensor([2, 0]))
    k, _ = layer.update(torch.zeros(2, 2, 1, 4), torch.zeros(2, 2, 1, 4))
    assert torch.equal(k[:, :, :78], want[[2, 0]]) and k.shape[-2] == 79


# continuous batching -------------------------------------------------------------------------

QUEUE = TEXTS + ["Count the vowels in banana.", "2 + 2 * 3 = ?", "Reverse the list [1, 2, 3, 4, 5, 6, 7]."]


def alone(model, tok, ids: list[int], n: int) -> list[int]:
    ref = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id)
    return until_eos(ref[0, len(ids):].tolist(), {tok.eos_token_id})


@pytest.mark.parametrize("batch_size, lookahead", [(1, 0), (2, 0), (4, 0), (2, 4), (4, 8)])
def test_queued_greedy_matches_generate_prompt_by_prompt(tiny, batch_size, lookahead):
    model, tok = tiny
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in QUEUE]
    stop_at = {1: 3, 4: 5}  # rows that finish early free their places for the queue
    ours, ended = decode_queue(model, ids, batch_size=batch_size, max_new_tokens=24,
                               eos_token_ids={tok.eos_token_id}, pad_token_id=tok.pad_token_id,
                               finished=lambda row, t: len(t) == stop_at.get(row, -1),
                               lookahead=lookahead)
    for i, x in enumerate(ids):
        want = alone(model, tok, x, 24)[:stop_at.get(i, 24)]
        assert ours[i] == want, i
        assert ended[i] == (i in stop_at or len(want) < 24)


def test_lookahead_emits_several_tokens_a_step_on_repetitive_text(tiny):
    """A reply that repeats its prompt is drafted from it: fewer forward passes, same tokens."""
    model, tok = tiny
    # fit the tiny model to continue a repeating pattern
    text = "1 2 3 4 5 6 7 8 " * 12
    ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
    fitted = load_model("tiny", device="cpu")[0]
    opt = torch.optim.Adam(fitted.parameters(), lr=1e-2)
    for _ in range(40):
        fitted(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    fitted.eval()
    prompt = [tok(text[:48], add_special_tokens=False)["input_ids"]]
    calls = []
    forward = fitted.forward

    def counting(*a, **kw):
        calls.append(kw["input_ids"].shape)
        return forward(*a, **kw)

    fitted.forward = counting
    plain, _ = decode_queue(fitted, prompt, batch_size=1, max_new_tokens=32, eos_token_ids=set(),
                            pad_token_id=tok.pad_token_id)
    n_plain = len(calls)
    calls.clear()
    drafted, _ = decode_queue(fitted, prompt, batch_size=1, max_new_tokens=32, eos_token_ids=set(),
                              pad_token_id=tok.pad_token_id, lookahead=8)
    fitted.forward = forward
    assert drafted == plain and len(plain[0]) == 32
    assert len(calls) < 0.6 * n_plain, (len(calls), n_plain)  # 17 of 32 when written


def test_queued_rows_share_the_prefix_and_keep_the_batch_full(tiny):
    model, tok = tiny
    pre = tok("You are a careful Python programmer. " * 4, add_special_tokens=False)["input_ids"]
    ids = [pre + tok(t, add_special_tokens=False)["input_ids"] for t in QUEUE]
    layers = [(k, v) for k, v in ((layer.keys, layer.values) for layer in
              new_cache_of(model(input_ids=torch.tensor([pre]), use_cache=True)).layers)]
    widths = []
    forward = model.forward

    def counting(*a, **kw):
        if kw["input_ids"].shape[1] == 1:  # a decode step, not a newcomers' prefill
            widths.append(kw["input_ids"].shape[0])
        return forward(*a, **kw)

    lengths = {0: 2, 1: 7, 2: 3, 3: 9, 4: 4, 5: 6}
    model.forward = counting
    try:
        ours, _ = decode_queue(model, ids, batch_size=2, max_new_tokens=9, eos_token_ids=set(),
                               pad_token_id=tok.pad_token_id, prefix=layers, prefix_len=len(pre),
                               finished=lambda row, t: len(t) == lengths[row], admit_every=1)
    finally:
        model.forward = forward
    assert [len(o) for o in ours] == [lengths[i] for i in range(len(QUEUE))]
    for i, x in enumerate(ids):
        assert ours[i] == alone(model, tok, x, lengths[i])[:lengths[i]] or \
            len(alone(model, tok, x, lengths[i])) < lengths[i], i
    # each prompt's first token comes from its prefill, the other 25 from decode steps; a
    # finished row is replaced at once, so the batch runs full until the queue is empty
    assert sum(widths) == sum(lengths.values()) - len(QUEUE)
    assert widths == sorted(widths, reverse=True) and widths.count(1) <= lengths[3] - 1


def test_queued_sampling_is_seeded(tiny):
    model, tok = tiny
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in QUEUE]
    run = lambda seed: decode_queue(model, ids, batch_size=3, max_new_tokens=8, eos_token_ids=set(),
                                    pad_token_id=tok.pad_token_id, temperature=1.0, top_p=0.9,
                                    generator=torch.Generator().manual_seed(seed))[0]
    assert run(1) == run(1) and run(1) != run(2)


@pytest.mark.parametrize("batch_size, lookahead, admit_every", [(2, 0, 1), (3, 0, None), (6, 0, None),
                                                                  (2, 4, 1), (4, 8, None)])
def test_a_prefix_kept_once_gives_the_tokens_of_a_prefix_copied_into_every_row(
        tiny, batch_size, lookahead, admit_every):
    """Cascade attention (issue 29): every row attends to one copy of the shared prefix's keys
    and values. In float32 its greedy tokens are those of the copied prefix and of each prompt
    decoded alone, through admissions, padding, compaction and drafted steps."""
    model, tok = tiny
    pre = tok("You are a careful Python programmer. Print the answer. " * 3,
              add_special_tokens=False)["input_ids"]
    ids = [pre + tok(t, add_special_tokens=False)["input_ids"] for t in QUEUE]
    layers = [(layer.keys, layer.values) for layer in
              new_cache_of(model(input_ids=torch.tensor([pre]), use_cache=True)).layers]
    lengths = {0: 30, 1: 5, 2: 40, 3: 9, 4: 44, 5: 16}  # early leavers force padding and compaction
    compactions = []
    gather = GrowingLayer.gather_columns

    def counted(layer, index):
        compactions.append(index.shape)
        return gather(layer, index)

    def run(share):
        return decode_queue(model, ids, batch_size=batch_size, max_new_tokens=44, eos_token_ids=set(),
                            pad_token_id=tok.pad_token_id, prefix=layers, prefix_len=len(pre),
                            finished=lambda row, t: len(t) == lengths[row], admit_every=admit_every,
                            lookahead=lookahead, share_prefix=share)[0]

    GrowingLayer.gather_columns = counted
    try:
        shared = run(True)
    finally:
        GrowingLayer.gather_columns = gather
    copied = run(False)
    assert shared == copied
    for i, x in enumerate(ids):
        assert shared[i] == alone(model, tok, x, lengths[i])[:lengths[i]], i
    assert compactions  # the shared run dropped columns (its own, never the prefix's)


def test_a_shared_prefix_is_not_copied_into_the_rows(tiny):
    from latentcode.expert.decode import _prefill
    model, tok = tiny
    pre = tok("You are a careful Python programmer. " * 6, add_special_tokens=False)["input_ids"]
    ids = [pre + tok(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    layers = [(layer.keys, layer.values) for layer in
              new_cache_of(model(input_ids=torch.tensor([pre]), use_cache=True)).layers]
    batch = _prefill(model, ids, list(range(len(ids))), layers, len(pre), tok.pad_token_id, "cpu",
                     share=True)
    own = max(len(x) - len(pre) for x in ids)
    for layer, (k, _) in zip(batch.cache.layers, layers):
        assert layer.keys.shape[2] == own  # the rows hold only their own columns
        assert layer.shared[0] is k  # and all attend to the one prefix
        assert layer.get_seq_length() == len(pre) + own
    assert batch.mask.shape == (len(ids), len(pre) + own)
