"""GRPO's completion log-probabilities with the shared prompt start run once
(latentcode/training/prefix_logps.py) against TRL's own forward over every row: the same
values, entropies and gradients in float32, on TRL's layout (left-padded prompts, then
right-padded completions), with and without LoRA."""
from __future__ import annotations

import contextlib
import types

import pytest
import torch
from trl import GRPOTrainer
from trl.trainer.utils import add_fused_lm_head

from latentcode.models import build_tiny_model
from latentcode.training.prefix_logps import per_token_logps, shared_prompt_start

pytestmark = pytest.mark.usefixtures("one_thread")
TRL_FORWARD = GRPOTrainer._get_per_token_logps_and_entropies.__wrapped__  # TRL's, unprofiled
TRL_SELF = types.SimpleNamespace(accelerator=types.SimpleNamespace(autocast=contextlib.nullcontext))


def trl_batch(shared: list[int], own: list[list[int]], completions: list[list[int]], pad: int):
    """TRL's tensors: [left-padded prompt | right-padded completion]."""
    prompts = [shared + o for o in own]
    pw, cw = max(map(len, prompts)), max(map(len, completions))
    ids = [[pad] * (pw - len(p)) + p + c + [pad] * (cw - len(c)) for p, c in zip(prompts, completions)]
    mask = [[0] * (pw - len(p)) + [1] * (len(p) + len(c)) + [0] * (cw - len(c))
            for p, c in zip(prompts, completions)]
    return torch.tensor(ids), torch.tensor(mask), cw


def model_under_test(lora: bool):
    model, tok = build_tiny_model(seed=3)
    add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
        for name, p in model.named_parameters():
            if "lora_B" in name:  # LoRA starts at zero; move it so its gradient paths all matter
                torch.nn.init.normal_(p, std=0.1)
    model.train()
    return model, tok


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("own_lengths", [(1, 1, 1, 1), (5, 1, 3, 7)], ids=["one-prompt", "ragged"])
def test_logps_entropies_and_gradients_match_trl_s_forward(lora, own_lengths):
    model, tok = model_under_test(lora)
    g = torch.Generator().manual_seed(0)
    shared = torch.randint(3, 300, (40,), generator=g).tolist()
    own = [torch.randint(3, 300, (n,), generator=g).tolist() for n in own_lengths]
    completions = [torch.randint(3, 300, (n,), generator=g).tolist() for n in (9, 4, 12, 1)]
    ids, mask, c = trl_batch(shared, own, completions, tok.pad_token_id)
    assert len(shared_prompt_start(ids, mask, c)) >= 40  # every prompt starts with `shared`
    comp_mask = mask[:, -c:].float()

    def run(fn):
        model.zero_grad(set_to_none=True)
        logps, ent = fn()
        (logps * comp_mask).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return logps.detach(), ent.detach(), grads

    ref = run(lambda: TRL_FORWARD(TRL_SELF, model, ids, mask, c, batch_size=3, compute_entropy=True)[:2])
    ours = run(lambda: per_token_logps(model, ids, mask, c, batch_size=3, compute_entropy=True))
    keep = comp_mask.bool()
    torch.testing.assert_close(ours[0][keep], ref[0][keep], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours[1][keep], ref[1][keep], rtol=1e-4, atol=1e-5)
    assert ours[2].keys() == ref[2].keys() and ref[2]
    for name in ref[2]:
        torch.testing.assert_close(ours[2][name], ref[2][name], rtol=1e-3, atol=1e-5, msg=name)


def test_rows_that_share_too_little_go_to_trl_s_forward():
    model, tok = model_under_test(False)
    ids, mask, c = trl_batch([5, 6], [[7, 8, 9], [10, 11]], [[12, 13], [14]], tok.pad_token_id)
    assert per_token_logps(model, ids, mask, c) is None


def test_the_override_keeps_trl_s_signature():
    """A TRL release that renames or reorders the method's leading parameters, or adds one
    without a default, must fail here, not in a training run."""
    import inspect
    from latentcode.training.grpo import CodeGRPOTrainer
    params = inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies).parameters
    assert list(params)[:8] == ["self", "model", "input_ids", "attention_mask", "logits_to_keep",
                                "batch_size", "compute_entropy", "compute_aux_loss"]
    assert all(p.default is None for name, p in list(params.items())[8:])  # the **extra we pass on
    ours = inspect.signature(CodeGRPOTrainer._get_per_token_logps_and_entropies).parameters
    assert list(ours)[:8] == list(params)[:8]


def test_the_trainer_uses_it_and_agrees_with_trl_on_a_real_batch(coder, tmp_path):
    from test_grpo import _trainer
    trainer, prompts, tok = _trainer(coder, tmp_path)
    model = trainer.model
    prompt = prompts[0]
    completions = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18], [19]]
    ids, mask, c = trl_batch(prompt[:-2], [prompt[-2:]] * 4, completions, tok.pad_token_id)
    calls = []
    import latentcode.training.grpo as grpo_module
    real = grpo_module.per_token_logps
    grpo_module.per_token_logps = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        ours = trainer._get_per_token_logps_and_entropies(model, ids, mask, c, compute_entropy=True)
    finally:
        grpo_module.per_token_logps = real
    ref = GRPOTrainer._get_per_token_logps_and_entropies(trainer, model, ids, mask, c, compute_entropy=True)
    assert calls == [1] and ours[2] is None
    keep = mask[:, -c:].bool()
    bf16 = trainer.args.bf16  # autocast rounds the two forwards differently
    tol = dict(rtol=5e-2, atol=5e-2) if bf16 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours[0][keep], ref[0][keep], **tol)
    trainer.args.share_prompt_prefix = False
    off = trainer._get_per_token_logps_and_entropies(model, ids, mask, c)
    torch.testing.assert_close(off[0], ref[0])  # off: exactly TRL's forward
