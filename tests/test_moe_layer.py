"""The MoE layer: outputs and gradients against a plain per-expert reference, dropping, metrics,
Soft MoE's refusal of causal use, and the reused buffers never overwriting live data."""

import pytest
import torch
import torch.nn.functional as F

from latentcode.moe.layer import MoEConfig, MoELayer, SwiGLUExperts
from latentcode.moe.kernels import SwiGLUExpertsFunction

ROUTERS = [
    ("top_k", {"top_k": 2}),
    ("top_k", {"top_k": 3, "noisy": True}),
    ("top_k", {"top_k": 2, "capacity_factor": 0.5}),
    ("switch", {"top_k": 1}),
    ("switch", {"top_k": 1, "capacity_factor": 0.5}),
    ("expert_choice", {"top_k": 2, "causal": False}),
]


def reference(layer: MoELayer, x: torch.Tensor) -> torch.Tensor:
    """Plain autograd over each expert's tokens, the routing taken from the layer's own router."""
    tokens = x.reshape(-1, x.shape[-1])
    routing = layer.router(tokens)
    experts, d_ff = layer.experts, layer.config.d_ff
    out, start = torch.zeros_like(tokens), 0
    for e, count in enumerate(routing.tokens_per_expert.tolist()):
        idx, gate = routing.token_index[start : start + count], routing.combine_weights[start : start + count]
        h = tokens[idx] @ experts.w_gate_up[e]
        y = (F.silu(h[:, :d_ff]) * h[:, d_ff:]) @ experts.w_down[e]
        out = out.index_add(0, idx, y * gate[:, None])
        start += count
    return out.view_as(x)


def make_layer(router="top_k", dtype=torch.float64, seed=0, **kwargs):
    torch.manual_seed(seed)
    config = MoEConfig(d_model=16, d_ff=24, num_experts=4, router=router, **kwargs)
    return MoELayer(config).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("router, kwargs", ROUTERS)
def test_layer_matches_per_expert_reference_outputs_and_gradients(router, kwargs, dtype):
    layer = make_layer(router, dtype, **kwargs).eval()  # eval: noisy routing is deterministic
    x = torch.randn(2, 7, 16, dtype=dtype, requires_grad=True)
    grad = torch.randn(2, 7, 16, dtype=dtype)
    noise = getattr(layer.router, "noise_weight", None)  # unused in eval
    wanted = [x] + [p for p in layer.parameters() if p is not noise]
    ours = layer(x).hidden_states
    theirs = reference(layer, x)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(ours, theirs, atol=tol, rtol=tol)
    g_ours = torch.autograd.grad(ours, wanted, grad)
    g_theirs = torch.autograd.grad(theirs, wanted, grad)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_experts_pass_gradcheck_in_float64():
    torch.manual_seed(0)
    experts = SwiGLUExperts(3, 5, 4).double()
    x = torch.randn(7, 5, dtype=torch.double, requires_grad=True)
    counts = [2, 0, 5]  # an expert with no tokens must get a zero gradient, not garbage

    def run(x, w_gate_up, w_down):
        return SwiGLUExpertsFunction.apply(x, w_gate_up, w_down, counts, experts.pool)

    assert torch.autograd.gradcheck(run, (x, experts.w_gate_up, experts.w_down))
    run(x, experts.w_gate_up, experts.w_down).sum().backward()
    assert experts.w_gate_up.grad[1].abs().max() == 0 and experts.w_down.grad[1].abs().max() == 0


def test_grouped_mm_path_in_float32_agrees_with_float64_loop():
    layer64 = make_layer(dtype=torch.float64)
    layer32 = make_layer(dtype=torch.float32)
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    out32, out64 = layer32(x.float()).hidden_states, layer64(x).hidden_states
    torch.testing.assert_close(out32.double(), out64, atol=1e-5, rtol=1e-5)


def test_stride_zero_gradient_from_sum_backward_is_handled():
    layer = make_layer(dtype=torch.float32)
    x = torch.randn(2, 4, 16, requires_grad=True)
    layer(x).hidden_states.sum().backward()  # hands the experts an expanded (stride-0) gradient
    assert torch.isfinite(layer.experts.w_gate_up.grad).all() and layer.experts.w_gate_up.grad.abs().sum() > 0


def test_dropped_tokens_get_zero_from_the_layer_and_are_counted():
    layer = make_layer("switch", top_k=1, capacity_factor=0.25)
    x = torch.randn(1, 16, 16, dtype=torch.float64)
    out = layer(x)
    routing = layer.router(x.reshape(-1, 16))
    kept = set(routing.token_index.tolist())
    dropped = [n for n in range(16) if n not in kept]
    assert dropped, "capacity 0.25 must drop tokens"
    assert out.hidden_states[0, dropped].abs().max() == 0
    assert out.metrics.dropped_fraction.item() == pytest.approx(len(dropped) / 16)
    assert out.metrics.tokens_per_expert.max().item() <= 1  # ceil(0.25 * 16 / 4)


def test_metrics_count_tokens_and_measure_router_entropy():
    layer = make_layer(top_k=2)
    x = torch.randn(2, 8, 16, dtype=torch.float64)
    out = layer(x)
    assert out.metrics.tokens_per_expert.sum().item() == 2 * 8 * 2
    assert out.metrics.dropped_fraction.item() == 0.0
    probs = torch.softmax(out.router_logits, -1)
    expected = -(probs * probs.log()).sum(-1).mean()
    torch.testing.assert_close(out.metrics.router_entropy.double(), expected)
    assert 0 < out.metrics.router_entropy.item() <= torch.log(torch.tensor(4.0)).item() + 1e-6


def test_aux_loss_weighs_the_named_losses_and_trains_the_router():
    layer = make_layer(top_k=2, load_balancing_coef=0.5, z_loss_coef=0.25)
    out = layer(torch.randn(2, 8, 16, dtype=torch.float64))
    expected = 0.5 * out.losses.load_balancing + 0.25 * out.losses.z_loss
    torch.testing.assert_close(layer.aux_loss(out), expected)
    layer.aux_loss(out).backward()
    assert layer.router.weight.grad.abs().sum() > 0


def test_soft_moe_refuses_causal_use_and_is_not_causal():
    with pytest.raises(ValueError, match="soft.*causal decoder"):
        MoEConfig(d_model=16, d_ff=24, num_experts=4, router="soft")
    layer = make_layer("soft", causal=False, slots_per_expert=2)
    x = torch.randn(1, 6, 16, dtype=torch.float64)
    changed_future = x.clone()
    changed_future[0, -1] += 1.0
    first = layer(x).hidden_states[0, 0]
    # The first position's output moves when only the last token changes: it reads the future.
    assert (layer(changed_future).hidden_states[0, 0] - first).abs().max() > 1e-6
    out = layer(x)
    assert out.hidden_states.shape == x.shape
    assert out.metrics.tokens_per_expert.tolist() == [2, 2, 2, 2]  # batch 1 * 2 slots per expert


def test_top_k_layer_is_causal():
    layer = make_layer(top_k=2)
    x = torch.randn(1, 6, 16, dtype=torch.float64)
    changed_future = x.clone()
    changed_future[0, -1] += 1.0
    torch.testing.assert_close(layer(changed_future).hidden_states[0, :-1], layer(x).hidden_states[0, :-1])


def _grads(layer, x, grad):
    out = layer(x).hidden_states
    out.backward(grad)
    return layer.experts.w_gate_up.grad, layer.experts.w_down.grad


@pytest.mark.parametrize("reuse", [True, False])
def test_reused_buffers_give_fresh_correct_gradients_every_step(reuse):
    layer = make_layer(dtype=torch.float32, reuse_buffers=reuse)
    plain = make_layer(dtype=torch.float32, reuse_buffers=False)
    for step in range(3):
        x = torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(step))
        grad = torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(100 + step))
        layer.zero_grad(set_to_none=True)
        plain.zero_grad(set_to_none=True)
        for ours, theirs in zip(_grads(layer, x, grad), _grads(plain, x, grad)):
            torch.testing.assert_close(ours, theirs)


def test_gradients_accumulate_without_zero_grad_and_kept_grads_are_not_overwritten():
    layer = make_layer(dtype=torch.float32)
    x = torch.randn(2, 8, 16)
    grad = torch.randn(2, 8, 16)
    first = [g.clone() for g in _grads(layer, x, grad)]
    second = _grads(layer, x, grad)  # accumulates into .grad, which holds the pooled buffer
    for a, b in zip(first, second):
        torch.testing.assert_close(b, 2 * a)
    kept = layer.experts.w_down.grad  # a user keeps the gradient tensor across zero_grad
    kept_values = kept.clone()
    layer.zero_grad(set_to_none=True)
    _grads(layer, 3 * x, grad)
    torch.testing.assert_close(kept, kept_values)
    assert kept.data_ptr() != layer.experts.w_down.grad.data_ptr()


def test_retained_graph_survives_another_forward_before_its_second_backward():
    layer = make_layer(dtype=torch.float32)
    x = torch.randn(2, 8, 16, requires_grad=True)
    out = layer(x).hidden_states
    (first,) = torch.autograd.grad(out.sum() * 1.0, x, retain_graph=True)
    layer(torch.randn(2, 8, 16)).hidden_states.sum().backward()  # wants the same buffers
    (again,) = torch.autograd.grad(out.sum() * 1.0, x)
    torch.testing.assert_close(again, first)


def test_kept_output_is_not_overwritten_by_the_next_forward():
    layer = make_layer(dtype=torch.float32)
    x = torch.randn(2, 8, 16)
    with torch.no_grad():
        out = layer(x).hidden_states
        values = out.clone()
        layer(torch.randn(2, 8, 16))
    torch.testing.assert_close(out, values)


def test_pool_reuses_gradient_memory_after_zero_grad():
    # The speed on CPU rests on this: after zero_grad the next backward writes into the same
    # memory, and autograd adopts it as .grad without copying.
    layer = make_layer(dtype=torch.float32)
    x, grad = torch.randn(2, 8, 16), torch.randn(2, 8, 16)
    first = _grads(layer, x, grad)[0].data_ptr()
    layer.zero_grad(set_to_none=True)
    assert _grads(layer, x, grad)[0].data_ptr() == first
    assert layer.experts.pool.buffers["grad_w_gate_up"].data_ptr() == first
