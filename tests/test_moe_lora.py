"""Mixture of LoRA adapters over a frozen base layer."""

import pytest
import torch
from torch import nn

from latentcode.moe.lora import (
    MixtureOfLoRA,
    MixtureOfLoRAConfig,
    apply_mixture_of_lora,
    lora_parameters,
    mixture_of_lora_balance_loss,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_starts_as_the_base_layer_and_keeps_it_frozen():
    torch.manual_seed(0)
    base = nn.Linear(8, 6)
    layer = MixtureOfLoRA(base, MixtureOfLoRAConfig(num_adapters=4, rank=2, top_k=2))
    x = torch.randn(5, 8)
    torch.testing.assert_close(layer(x), base(x))
    assert not base.weight.requires_grad and not base.bias.requires_grad


def test_matches_a_per_token_sum_over_the_chosen_adapters():
    torch.manual_seed(0)
    config = MixtureOfLoRAConfig(num_adapters=4, rank=3, top_k=2, alpha=6.0)
    layer = MixtureOfLoRA(nn.Linear(8, 6), config)
    with torch.no_grad():
        layer.lora_b.normal_()
    x = torch.randn(7, 8)
    a = layer.lora_a.view(8, 4, 3)
    b = layer.lora_b.view(4, 3, 6)
    expected = []
    for token in x:
        probs = torch.softmax(layer.router(token), -1)
        weights, chosen = probs.topk(2)
        weights = weights / weights.sum()  # top_k > 1 renormalises
        delta = sum(w * (token @ a[:, e]) @ b[e] for w, e in zip(weights, chosen.tolist()))
        expected.append(layer.base(token) + (6.0 / 3) * delta)
    torch.testing.assert_close(layer(x), torch.stack(expected), atol=1e-5, rtol=1e-5)
    assert len({tuple(sorted(c)) for c in layer.adapter_choices(x).tolist()}) > 1  # choices vary by token


def test_training_moves_adapters_and_router_only_and_fits_two_kinds_of_token():
    # Tokens of two clusters need different corrections of the frozen base: the router can send
    # each cluster to its own adapter.
    torch.manual_seed(0)
    base = nn.Linear(8, 8)
    layer = MixtureOfLoRA(base, MixtureOfLoRAConfig(num_adapters=4, rank=2, top_k=1))
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(2, 8, generator=g) * 3
    fixes = torch.randn(2, 8, 8, generator=g) * 0.3
    cluster = torch.randint(2, (256,), generator=g)
    x = centres[cluster] + torch.randn(256, 8, generator=g) * 0.3
    with torch.no_grad():
        target = base(x) + torch.einsum("ni,nio->no", x, fixes[cluster])
    base_weight = base.weight.detach().clone()
    optimizer = torch.optim.Adam(lora_parameters([layer]), lr=1e-2)
    start = nn.functional.mse_loss(layer(x), target).item()
    for _ in range(300):
        loss = nn.functional.mse_loss(layer(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * start
    assert torch.equal(base.weight, base_weight) and base.weight.grad is None
    choices = layer.adapter_choices(x)[:, 0]
    assert set(choices[cluster == 0].tolist()).isdisjoint(set(choices[cluster == 1].tolist()))


def test_apply_wraps_the_named_linears_of_a_model_and_freezes_the_rest():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    sizes = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    config = LlamaConfig(vocab_size=64, **sizes)
    model = LlamaForCausalLM(config)
    ids = torch.randint(64, (2, 5))
    before = model(ids).logits
    wrappers = apply_mixture_of_lora(model, MixtureOfLoRAConfig(num_adapters=3, rank=2, top_k=1))
    assert len(wrappers) == 4  # q_proj and v_proj in 2 layers
    torch.testing.assert_close(model(ids).logits, before)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in lora_parameters(wrappers)}
    loss = model(ids, labels=ids).loss + 0.01 * mixture_of_lora_balance_loss(wrappers)
    loss.backward()
    assert all(w.router.weight.grad is not None for w in wrappers)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_adapters": 2, "top_k": 3}, r"top_k \(3\) must be <= num_adapters \(2\)"),
        ({"rank": 0}, r"rank \(0\) must be >= 1"),
    ],
)
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixtureOfLoRAConfig(**kwargs)


def test_apply_without_matching_modules_says_which_names_to_set():
    with pytest.raises(ValueError, match="no nn.Linear named.*set target_modules"):
        apply_mixture_of_lora(nn.Sequential(nn.Linear(4, 4)), MixtureOfLoRAConfig())
