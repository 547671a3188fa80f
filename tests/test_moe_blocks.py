"""Mixture of blocks: the gate's choice is what runs, halting is a distribution, and on a task where
depth matters it beats a fixed-depth stack of the same blocks."""

import pytest
import torch

from latentcode.moe.blocks import (
    FixedDepthStack,
    MixtureOfBlocks,
    MixtureOfBlocksConfig,
    halting_decisions,
    halting_distribution,
    pointer_chasing,
)


def small_config(**overrides):
    return MixtureOfBlocksConfig(**({"vocab_size": 10, "num_classes": 8, "max_seq_len": 9, "max_steps": 4} | overrides))


def test_each_sequence_runs_the_block_its_gate_chose():
    torch.manual_seed(0)
    model = MixtureOfBlocks(small_config(num_blocks=3)).eval()
    with torch.no_grad():
        model.gate.weight.normal_(std=3.0)  # make the choices differ across sequences
    tokens = torch.randint(10, (16, 9))
    h = model.embed(tokens)
    h_next, choice = model._step(h)
    assert len(set(choice.tolist())) > 1
    for b in range(16):
        expected = h[b : b + 1] + model.blocks[int(choice[b])](h[b : b + 1])
        torch.testing.assert_close(h_next[b : b + 1], expected, atol=1e-5, rtol=1e-5)


def test_gate_and_halting_units_get_gradients():
    torch.manual_seed(0)
    model = MixtureOfBlocks(small_config())
    tokens, targets = pointer_chasing(32, num_nodes=8, hops=2, seed=0)
    model.loss(tokens, targets).backward()
    assert model.gate.weight.grad.abs().sum() > 0  # through the straight-through gate scale
    assert model.halt.weight.grad.abs().sum() > 0  # through the expected loss and ponder cost


def test_halting_distribution_sums_to_one_and_exits_at_first_confident_step():
    halts = torch.tensor([[0.2, 0.7, 0.5, 1.0], [0.9, 0.1, 0.1, 1.0]])
    probs = halting_distribution(halts)
    torch.testing.assert_close(probs.sum(1), torch.ones(2))
    torch.testing.assert_close(probs[0], torch.tensor([0.2, 0.8 * 0.7, 0.8 * 0.3 * 0.5, 0.8 * 0.3 * 0.5]))
    assert halting_decisions(probs).tolist() == [1, 0]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_blocks": 0}, r"num_blocks \(0\) must be >= 1"),
        ({"num_heads": 3}, r"num_heads \(3\) must divide d_model \(32\)"),
    ],
)
def test_bad_config_is_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        MixtureOfBlocksConfig(**overrides)


def _train(model, data, steps=600, batch=64, lr=4e-3):
    tokens, targets = data
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(len(tokens), (batch,), generator=generator)
        loss = model.loss(tokens[idx], targets[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.mark.slow
def test_mixture_of_blocks_beats_a_fixed_stack_of_the_same_blocks_when_depth_matters():
    # Five hops of pointer chasing over a random function on 8 nodes. A stack of two attention
    # blocks can follow three hops at most (with pointer doubling); a pool of the same two blocks
    # applied up to six times can follow all five.
    config = MixtureOfBlocksConfig(vocab_size=8, num_classes=8, max_seq_len=9, max_steps=6, ponder_cost=0.01)
    train = pointer_chasing(20000, num_nodes=8, hops=5, seed=1)
    test = pointer_chasing(2000, num_nodes=8, hops=5, seed=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # d_model 32: threads only add synchronisation
    try:
        torch.manual_seed(0)
        mixture = _train(MixtureOfBlocks(config), train)
        torch.manual_seed(0)
        stack = _train(FixedDepthStack(config), train)
    finally:
        torch.set_num_threads(threads)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert abs(count(mixture) - count(stack)) / count(stack) < 0.01  # gate + halting unit: 99 of ~18k
    mixture_pred, mixture_steps = mixture.predict(test[0])
    stack_pred, _ = stack.predict(test[0])
    mixture_acc = (mixture_pred == test[1]).float().mean().item()
    stack_acc = (stack_pred == test[1]).float().mean().item()
    print(f"mixture of blocks {mixture_acc:.3f} ({mixture_steps.float().mean():.2f} steps), stack {stack_acc:.3f}")
    assert mixture_acc > stack_acc + 0.08, (mixture_acc, stack_acc)
    assert mixture_steps.float().mean() > 2  # it used more depth than the stack has
