"""Routers and auxiliary losses: choices, capacity, weights, and the losses' values."""

import math

import pytest
import torch

from latentcode.moe.layer import MoEConfig
from latentcode.moe.gating import (
    ExpertChoiceRouter,
    SwitchRouter,
    TopKRouter,
    capacity,
    load_balancing_loss,
    router_losses,
    router_z_loss,
)


def _router_with_logits(router, logits):
    """Make router(x) produce exactly `logits` (N, E): x is the identity, weight the logits^T."""
    with torch.no_grad():
        router.weight.copy_(logits.t())
    return torch.eye(logits.shape[0], dtype=logits.dtype)


def test_top_k_groups_assignments_by_expert_and_normalises_weights():
    torch.manual_seed(0)
    router = TopKRouter(8, num_experts=4, top_k=2)
    routing = router(torch.randn(10, 8))
    experts_in_order = routing.router_probs.topk(2).indices.t().reshape(-1)  # choice-major
    assert routing.tokens_per_expert.tolist() == torch.bincount(experts_in_order, minlength=4).tolist()
    # Each expert's slice holds exactly the tokens that chose it.
    start = 0
    for e, count in enumerate(routing.tokens_per_expert.tolist()):
        tokens = set(routing.token_index[start : start + count].tolist())
        assert tokens == {n for n in range(10) if e in routing.expert_index[n].tolist()}
        start += count
    per_token = torch.zeros(10).index_add_(0, routing.token_index, routing.combine_weights.detach())
    torch.testing.assert_close(per_token, torch.ones(10))


def test_slot_index_points_back_at_each_choice():
    torch.manual_seed(0)
    routing = TopKRouter(8, num_experts=4, top_k=2)(torch.randn(6, 8))
    for n in range(6):
        for k in range(2):
            assert routing.token_index[routing.slot_index[n, k]] == n


def test_capacity_drops_overflow_keeping_first_choices_and_earlier_tokens():
    # Token 0 prefers expert 1 then 0; tokens 1-3 prefer 0 then 1. Capacity is 2 per expert.
    # First choices go before second choices (GShard), earlier tokens before later ones: expert 0
    # keeps the first choices of tokens 1 and 2, not token 0's second choice.
    logits = torch.tensor([[2.0, 3.0, 0.0, 0.0]] + [[3.0, 2.0, 0.0, 0.0]] * 3)
    router = TopKRouter(4, num_experts=4, top_k=2, capacity_factor=1.0)
    assert capacity(4, 4, 2, 1.0) == 2
    routing = router(_router_with_logits(router, logits))
    assert routing.tokens_per_expert.tolist() == [2, 2, 0, 0]
    assert routing.token_index.tolist() == [1, 2, 0, 1]
    dropped = routing.token_index.numel()
    assert routing.slot_index[3].tolist() == [dropped, dropped]  # token 3 lost both choices
    assert routing.slot_index[0, 1] == dropped  # token 0 lost its second choice


def test_switch_gate_is_the_unnormalised_probability_so_the_router_learns():
    torch.manual_seed(0)
    router = SwitchRouter(8, num_experts=4, capacity_factor=4.0)
    x = torch.randn(5, 8)
    routing = router(x)
    top1 = routing.router_probs.max(-1).values
    torch.testing.assert_close(routing.combine_weights, top1[routing.token_index])
    routing.combine_weights.sum().backward()
    assert router.weight.grad.abs().sum() > 0


def test_noisy_top_k_adds_learned_noise_only_in_training():
    torch.manual_seed(0)
    router = TopKRouter(8, num_experts=4, top_k=2, noisy=True)
    x = torch.randn(64, 8)
    router.eval()
    clean = router(x).router_logits
    torch.testing.assert_close(clean, x @ router.weight.t())
    router.train()
    noisy = router(x).router_logits
    assert (noisy - clean).abs().mean() > 0.1  # softplus(0) = 0.69 standard deviation at init
    noisy.sum().backward()
    assert router.noise_weight.grad is not None and router.noise_weight.grad.abs().sum() > 0


def test_expert_choice_gives_every_expert_the_same_number_of_its_top_tokens():
    torch.manual_seed(0)
    router = ExpertChoiceRouter(8, num_experts=4, top_k=2)
    routing = router(torch.randn(12, 8))
    assert routing.tokens_per_expert.tolist() == [6, 6, 6, 6]  # 12 tokens * 2 / 4 experts
    for e in range(4):
        picked = routing.token_index[6 * e : 6 * (e + 1)]
        assert set(picked.tolist()) == set(routing.router_probs[:, e].topk(6).indices.tolist())


def test_load_balancing_loss_matches_transformers_mixtral():
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    torch.manual_seed(0)
    layers = tuple(torch.randn(20, 6) for _ in range(3))
    mask = torch.ones(4, 5)
    mask[1, 3:] = 0
    ours = load_balancing_loss(torch.cat(layers), top_k=2, attention_mask=mask.reshape(-1).repeat(3))
    theirs = load_balancing_loss_func(layers, num_experts=6, top_k=2, attention_mask=mask)
    torch.testing.assert_close(ours, theirs)


def test_load_balancing_loss_is_top_k_when_balanced_and_larger_when_not():
    balanced = torch.log(torch.eye(4) * 0.9 + 0.025).repeat(8, 1)  # each expert first for 8 tokens
    assert load_balancing_loss(balanced, top_k=1).item() == pytest.approx(1.0, abs=0.15)
    collapsed = torch.tensor([[5.0, 0.0, 0.0, 0.0]]).repeat(32, 1)
    assert load_balancing_loss(collapsed, top_k=1).item() > 3.5


def test_z_loss_is_mean_squared_logsumexp_and_losses_come_by_name():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    expected = (math.log(2.0) ** 2 + math.log(4.0) ** 2) / 2
    assert router_z_loss(logits).item() == pytest.approx(expected)
    losses = router_losses(logits, top_k=1)
    assert losses.z_loss.item() == pytest.approx(expected)
    assert losses.weighted(0.0, 2.0).item() == pytest.approx(2 * expected)
    assert losses.weighted(1.0, 0.0).item() == pytest.approx(losses.load_balancing.item())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_k": 3, "num_experts": 2}, r"top_k \(3\) must be <= num_experts \(2\)"),
        ({"router": "hash"}, r"router \('hash'\) must be one of"),
        ({"router": "switch", "top_k": 2}, r"set top_k=1 \(got 2\)"),
        ({"capacity_factor": 0.0}, r"capacity_factor \(0.0\) must be > 0"),
        ({"num_experts": 0}, r"num_experts \(0\) must be >= 1"),
        ({"router": "soft"}, r"cannot be used in a causal decoder.*causal=False"),
        ({"router": "expert_choice"}, r"cannot be used in a causal decoder"),
    ],
)
def test_bad_config_names_the_field_and_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MoEConfig(**kwargs)
