"""bf16 where the hardware has it: the dtype chosen per device, and what autocast changes in
the numbers training reads (log-probabilities and their gradients)."""
from __future__ import annotations

import pytest
import torch

from latentcode import models
from latentcode.models import fast_dtype, load_model, resolve_dtype

pytestmark = pytest.mark.usefixtures("one_thread")


def test_cpu_dtype_follows_native_bf16(monkeypatch):
    monkeypatch.delenv("LATENTCODE_BF16", raising=False)
    for native in (True, False):
        monkeypatch.setattr(models, "cpu_has_native_bf16", lambda native=native: native)
        want = torch.bfloat16 if native else torch.float32
        assert fast_dtype(torch.device("cpu")) == want == resolve_dtype(None, torch.device("cpu"))
    assert resolve_dtype("float32", torch.device("cpu")) == torch.float32  # --dtype wins
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16


def test_bf16_can_be_switched_off_for_the_float32_path(monkeypatch):
    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("LATENTCODE_BF16", "0")
    assert fast_dtype(torch.device("cpu")) == torch.float32 and not models.bf16_is_fast("cpu")
    monkeypatch.setenv("LATENTCODE_BF16", "1")
    assert fast_dtype(torch.device("cpu")) == torch.bfloat16


def test_native_bf16_is_read_from_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(models, "_bf16_matmul_is_fast", lambda: True)
    assert models.cpu_has_native_bf16()
    # the flags say yes but torch's kernels here emulate bf16 (capped below the hardware)
    monkeypatch.setattr(models, "_bf16_matmul_is_fast", lambda: False)
    assert not models.cpu_has_native_bf16()
    monkeypatch.setattr(models, "_bf16_matmul_is_fast", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not models.cpu_has_native_bf16()


def _completion_logps(model, ids, n_prompt):
    logits = model(input_ids=ids).logits[:, n_prompt - 1:-1].float()
    return logits.log_softmax(-1).gather(-1, ids[:, n_prompt:, None]).squeeze(-1)


def test_bf16_autocast_keeps_log_probs_and_gradients_within_tolerance():
    """What a GRPO step is made of (the completion tokens' log-probabilities; the policy
    gradient is their gradient weighted by advantages): under bf16 autocast, with float32
    weights, each log-probability is within 0.05 nats of float32 and the gradient of their
    advantage-weighted sum points the same way (cosine > 0.99, norm within 5%)."""
    torch.manual_seed(0)
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    model.train()
    ids = torch.randint(0, len(tok), (4, 48))
    adv = torch.tensor([1.0, -0.5, 0.25, -0.75])

    def step(autocast: bool):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logps = _completion_logps(model, ids, 16)
        (-(adv[:, None] * logps).mean()).backward()
        grad = torch.cat([p.grad.flatten() for p in model.parameters()])
        return logps.detach(), grad

    lp32, g32 = step(False)
    lp16, g16 = step(True)
    assert (lp16 - lp32).abs().max() < 0.05
    assert torch.nn.functional.cosine_similarity(g16, g32, dim=0) > 0.99
    assert abs(g16.norm() / g32.norm() - 1) < 0.05
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_training_log_probs_are_taken_in_float32_under_autocast():
    """With the head's logits returned in float32, TRL's log-softmax runs in float32: the
    per-token log-probabilities are not rounded to bf16's grid."""
    from trl.trainer.utils import selective_log_softmax

    from latentcode.models import float32_logits
    torch.manual_seed(0)
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    ids = torch.randint(0, len(tok), (2, 24))
    with torch.no_grad():
        ref = selective_log_softmax(model(input_ids=ids).logits[:, :-1], ids[:, 1:])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=ids).logits
            assert logits.dtype == torch.bfloat16
            rounded = selective_log_softmax(logits[:, :-1], ids[:, 1:])
            handle = float32_logits(model)
            logits = model(input_ids=ids).logits
            handle.remove()
            assert logits.dtype == torch.float32
            ours = selective_log_softmax(logits[:, :-1], ids[:, 1:])
    assert (ours - ref).abs().max() < 0.05
    assert (ours - ref).abs().mean() < (rounded - ref).abs().mean()
