"""With identical weights our top-k layer computes transformers' Mixtral sparse block, to 1e-6 in
float64, outputs and gradients."""

import pytest
import torch

from latentcode.moe.layer import MoEConfig, MoELayer


def mixtral_pair(num_experts=4, top_k=2, implementation="eager"):
    from transformers import MixtralConfig
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

    torch.manual_seed(0)
    ours = MoELayer(MoEConfig(d_model=16, d_ff=32, num_experts=num_experts, top_k=top_k)).double()
    config = MixtralConfig(
        hidden_size=16,
        intermediate_size=32,
        num_local_experts=num_experts,
        num_experts_per_tok=top_k,
        experts_implementation=implementation,
    )
    theirs = MixtralSparseMoeBlock(config).double()
    with torch.no_grad():  # Mixtral stores the transposes: (E, 2F, D) and (E, D, F)
        theirs.gate.weight.copy_(ours.router.weight)
        theirs.experts.gate_up_proj.copy_(ours.experts.w_gate_up.transpose(1, 2))
        theirs.experts.down_proj.copy_(ours.experts.w_down.transpose(1, 2))
    return ours, theirs


@pytest.mark.parametrize("num_experts, top_k", [(4, 2), (8, 2), (4, 1), (6, 3)])
def test_outputs_and_gradients_match_mixtral_in_float64(num_experts, top_k):
    ours, theirs = mixtral_pair(num_experts, top_k)
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    grad = torch.randn(3, 5, 16, dtype=torch.float64)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_theirs = ours(x_ours).hidden_states, theirs(x_theirs)
    torch.testing.assert_close(out_ours, out_theirs, atol=1e-6, rtol=0)
    out_ours.backward(grad)
    out_theirs.backward(grad)
    pairs = [
        (x_ours.grad, x_theirs.grad),
        (ours.router.weight.grad, theirs.gate.weight.grad),
        (ours.experts.w_gate_up.grad, theirs.experts.gate_up_proj.grad.transpose(1, 2)),
        (ours.experts.w_down.grad, theirs.experts.down_proj.grad.transpose(1, 2)),
    ]
    for a, b in pairs:
        assert b.abs().max() > 0
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_float32_matches_mixtral_grouped_mm():
    ours, theirs = mixtral_pair(implementation="grouped_mm")
    ours, theirs = ours.float(), theirs.float()
    x = torch.randn(2, 6, 16)
    torch.testing.assert_close(ours(x).hidden_states, theirs(x), atol=1e-5, rtol=1e-5)
