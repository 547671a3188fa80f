"""Sampling from merged LoRA weights (latentcode/training/lora_merge.py): the same tokens as
the adapters give in float32, and every base weight restored bit for bit afterwards."""
from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model

from latentcode.expert.decode import decode_queue
from latentcode.models import build_tiny_model
from latentcode.training.lora_merge import lora_layers, lora_merged

pytestmark = pytest.mark.usefixtures("one_thread")


def lora_model(dtype=torch.float32):
    model, tok = build_tiny_model(seed=1)
    model = get_peft_model(model.to(dtype), LoraConfig(r=4, target_modules=["q_proj", "v_proj", "o_proj"],
                                                       lora_dropout=0.0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:  # LoRA starts at zero: give the adapters something to say
                p.normal_(std=0.3)
    return model.eval(), tok


def greedy(model, tok):
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in ("print(1 + 2)", "Sort 5 1 4.", "x = ")]
    return decode_queue(model, ids, batch_size=3, max_new_tokens=12, eos_token_ids=set(),
                        pad_token_id=tok.pad_token_id)[0]


def test_merged_weights_give_the_adapters_tokens_and_are_restored_exactly():
    model, tok = lora_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    want = greedy(model, tok)
    with model.disable_adapter():
        plain = greedy(model, tok)
    assert plain != want  # the adapters change the replies, so the comparison below means something
    with lora_merged(model) as merged:
        assert merged is model and lora_layers(model)  # still a LoRA model, its adapters off
        assert greedy(model, tok) == want
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    assert greedy(model, tok) == want  # the adapters are on again


def test_bf16_base_weights_do_not_drift_over_many_merges():
    model, _ = lora_model(torch.bfloat16)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(20):
        with lora_merged(model):
            pass
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_a_model_without_adapters_is_left_alone():
    model, tok = build_tiny_model(seed=1)
    with lora_merged(model) as same:
        assert same is model and not lora_layers(model)


def test_an_error_inside_the_block_still_restores_the_weights():
    model, _ = lora_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.raises(KeyboardInterrupt):
        with lora_merged(model):
            raise KeyboardInterrupt
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_grpo_samples_through_the_merge_and_leaves_the_weights_as_they_were(coder, tmp_path):
    from test_grpo import _trainer
    import latentcode.training.grpo as grpo_module
    trainer, prompts, _ = _trainer(coder, tmp_path, lora=True, max_completion_length=8)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    entered = []
    real = grpo_module.lora_merged

    def watched(model):
        entered.append(len(lora_layers(model)))
        return real(model)

    grpo_module.lora_merged = watched
    try:
        ids, _ = trainer._generate_single_turn([p for p in prompts[:2] for _ in range(2)], None, {}, 2)
    finally:
        grpo_module.lora_merged = real
    assert len(ids) == 4 and entered and entered[0] > 0  # it merged real LoRA layers
    assert all(torch.equal(p, before[n]) for n, p in trainer.model.named_parameters())
