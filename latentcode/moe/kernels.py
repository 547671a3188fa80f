"""The fast paths under the MoE layer: grouped expert matmuls and token permutation, each an
autograd function with a hand-written backward, and the buffers they reuse across steps.

Shape legend as in `gating.py`: N tokens, D d_model, F d_ff, E experts, K top_k, A kept
(token, expert) assignments sorted by expert.

Why hand-written backwards rather than plain autograd:
- Indexing a stacked (E, ...) weight per expert (`w[e]`) makes autograd build a full-size zero
  gradient for every expert, E times the work. We never index weights under autograd.
- On CPU, time beyond the FLOPs goes mostly to page faults: every fresh large tensor is a fresh
  mmap, faulted in 4 KiB at a time (a fresh (E, D, 2F) gradient is 270 MB at E=64 in the
  benchmark). Here every large tensor, expert weight gradients included, comes from a `BufferPool`
  that reuses a buffer only when nothing else references its storage, so reuse never overwrites
  live data: a retained graph, a kept output or a kept `.grad` simply gets a fresh buffer.
  Autograd adopts a returned weight gradient as `.grad` without copying it.
- Permutations are gathers in both directions (no atomic scatter-add), done in cache-sized row
  blocks so that gather, dot product and scale cost one trip to memory instead of three.

`torch._grouped_mm` runs the per-expert matmuls in one call where the build has it. On this
torch's CPU build it rejects float64, leaves rows past the last offset uninitialised and fails on a
stride-0 incoming gradient; we call it only on float32/bf16/fp16 with offsets covering every row,
and make gradients contiguous. On CPU it is itself a loop of matmuls without an out= variant, so
where we write into a pooled buffer we loop over the expert slices ourselves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ROWS_PER_BLOCK = 1024  # rows per cache-resident block in the permutation kernels


def _storage_is_free(buf: torch.Tensor) -> bool:
    """True when only `buf` itself (and the probe's temporary storage object) hold its memory."""
    use_count = getattr(torch._C, "_storage_Use_Count", None)
    return use_count is not None and use_count(buf.untyped_storage()._cdata) <= 2


class BufferPool:
    """Named CPU buffers kept across steps.

    `get` returns the named buffer shaped as asked, a new one when the old one is still referenced
    elsewhere (kept for the next step), or None where reuse is off or pointless: off CPU, the
    caching allocator already reuses memory, so callers allocate as usual (and can use one
    grouped_mm call instead of writing into a buffer).
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape, like: torch.Tensor) -> torch.Tensor | None:
        if not self.enabled or like.device.type != "cpu":
            return None
        shape = torch.Size(shape)
        buf = self.buffers.get(name)
        if (
            buf is None
            or buf.numel() < shape.numel()
            or buf.dtype != like.dtype
            or buf.device != like.device
            or not _storage_is_free(buf)
        ):
            buf = self.buffers[name] = like.new_empty(shape.numel())
        return buf[: shape.numel()].view(shape)

    def clear(self) -> None:
        self.buffers.clear()


def grouped_mm_supported(x: torch.Tensor) -> bool:
    return hasattr(torch, "_grouped_mm") and x.dtype in (torch.float32, torch.bfloat16, torch.float16)


def grouped_mm(x: torch.Tensor, w: torch.Tensor, counts: list[int], out: torch.Tensor | None = None) -> torch.Tensor:
    """Row block e of x (A, I) times w[e] (E, I, O) -> (A, O); counts are the block sizes.

    One grouped_mm call where supported, unless writing into a given `out` on CPU, where
    grouped_mm is itself a loop of matmuls and has no out= variant.
    """
    if grouped_mm_supported(x) and (out is None or x.device.type != "cpu"):
        offsets = torch.tensor(counts, device=x.device).cumsum(0).to(torch.int32)
        result = torch._grouped_mm(x, w, offs=offsets)
        return result if out is None else out.copy_(result)
    out = x.new_empty(x.shape[0], w.shape[-1]) if out is None else out
    for x_e, w_e, out_e in zip(x.split(counts), w.unbind(0), out.split(counts)):
        torch.mm(x_e, w_e, out=out_e)
    return out


def weight_grad(x: torch.Tensor, dy: torch.Tensor, counts: list[int], out: torch.Tensor | None) -> torch.Tensor:
    """out[e] = x_e^T dy_e (E, I, O) for each row block e; an expert with no rows gets zeros."""
    out = x.new_empty(len(counts), x.shape[1], dy.shape[1]) if out is None else out
    for x_e, dy_e, out_e in zip(x.split(counts), dy.split(counts), out.unbind(0)):
        torch.mm(x_e.t(), dy_e, out=out_e)
    return out


class SwiGLUExpertsFunction(torch.autograd.Function):
    """y = down_e(silu(x W_gate,e) * x W_up,e) for each expert's row block of x (A, D)."""

    @staticmethod
    def forward(ctx, x, w_gate_up, w_down, counts, pool):
        num_rows, d_ff = x.shape[0], w_down.shape[1]
        h = grouped_mm(x, w_gate_up, counts, pool.get("h", (num_rows, 2 * d_ff), x))  # (A, 2F)
        gate, up = h[:, :d_ff], h[:, d_ff:]
        a = pool.get("a", (num_rows, d_ff), x)
        a = F.silu(gate) if a is None else torch.ops.aten.silu.out(gate, out=a)
        a.mul_(up)  # (A, F)
        y = grouped_mm(a, w_down, counts, pool.get("y", (num_rows, w_down.shape[2]), x))  # (A, D)
        ctx.save_for_backward(x, h, a, w_gate_up, w_down)
        ctx.counts, ctx.pool = counts, pool
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        x, h, a, w_gate_up, w_down = ctx.saved_tensors
        counts, pool, d_ff = ctx.counts, ctx.pool, w_down.shape[1]
        dy = dy.contiguous()  # y.sum().backward() hands us a stride-0 gradient
        dw_gate_up = dw_down = dx = None
        if ctx.needs_input_grad[2]:
            dw_down = weight_grad(a, dy, counts, pool.get("grad_w_down", w_down.shape, w_down)).detach()
        da = grouped_mm(dy, w_down.transpose(1, 2), counts, pool.get("da", a.shape, a))  # (A, F)
        dh = pool.get("dh", h.shape, h)
        dh = torch.empty_like(h) if dh is None else dh  # (A, 2F)
        gate, up = h[:, :d_ff], h[:, d_ff:]
        d_gate, d_up = dh[:, :d_ff], dh[:, d_ff:]
        torch.mul(da, up, out=d_gate)
        torch.ops.aten.silu_backward.grad_input(d_gate, gate, grad_input=d_gate)
        torch.ops.aten.silu.out(gate, out=d_up).mul_(da)
        if ctx.needs_input_grad[1]:
            dw_gate_up = weight_grad(x, dh, counts, pool.get("grad_w_gate_up", w_gate_up.shape, w_gate_up)).detach()
        if ctx.needs_input_grad[0]:
            dx = grouped_mm(dh, w_gate_up.transpose(1, 2), counts, pool.get("dx", x.shape, x))  # (A, D)
        return dx, dw_gate_up, dw_down, None, None


def sum_slots(y, slot_index, weights=None, out=None):
    """out[n] = sum_k weights[s] * y[s] for s = slot_index[n, k]; s = A (a dropped choice) reads 0.

    y (A, D), slot_index (N, K), weights (A,) or None -> (N, D)."""
    if slot_index.numel() != y.shape[0]:  # some choices were dropped: row A is the zero they read
        y = F.pad(y, (0, 0, 0, 1))
        weights = None if weights is None else F.pad(weights, (0, 1))
    num_tokens, top_k = slot_index.shape
    slot_weights = None if weights is None else weights[slot_index]  # (N, K)
    out = y.new_empty(num_tokens, y.shape[1]) if out is None else out  # (N, D)
    rows = y.new_empty(min(num_tokens, ROWS_PER_BLOCK), y.shape[1])
    for start in range(0, num_tokens, ROWS_PER_BLOCK):
        block = slice(start, start + ROWS_PER_BLOCK)
        out_b = torch.index_select(y, 0, slot_index[block, 0], out=out[block])
        if slot_weights is not None:
            out_b.mul_(slot_weights[block, :1])
        for k in range(1, top_k):
            rows_b = torch.index_select(y, 0, slot_index[block, k], out=rows[: out_b.shape[0]])
            if slot_weights is None:
                out_b.add_(rows_b)
            else:
                out_b.addcmul_(rows_b, slot_weights[block, k : k + 1])
    return out


class TokensToSlots(torch.autograd.Function):
    """x (N, D) -> x[token_index] (A, D), rows grouped by expert. The backward is a gather too:
    a token's gradient is the sum over its K slots, found through slot_index (N, K)."""

    @staticmethod
    def forward(ctx, x, token_index, slot_index, pool):
        ctx.save_for_backward(slot_index)
        ctx.pool = pool
        return torch.index_select(x, 0, token_index, out=pool.get("x_sorted", (token_index.numel(), x.shape[1]), x))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (slot_index,) = ctx.saved_tensors
        out = ctx.pool.get("grad_tokens", (slot_index.shape[0], grad.shape[1]), grad)
        return sum_slots(grad.contiguous(), slot_index, out=out), None, None, None


class CombineSlots(torch.autograd.Function):
    """y (A, D), combine_weights (A,) -> (N, D): each token's gate-weighted sum of its slots."""

    @staticmethod
    def forward(ctx, y, combine_weights, token_index, slot_index, pool):
        ctx.save_for_backward(y, combine_weights, token_index)
        ctx.pool = pool
        out = pool.get("combined", (slot_index.shape[0], y.shape[1]), y)
        return sum_slots(y, slot_index, combine_weights, out=out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        """d y[a] = w[a] * grad[token[a]] and d w[a] = <grad[token[a]], y[a]>, block by block."""
        y, combine_weights, token_index = ctx.saved_tensors
        grad = grad.contiguous()
        grad_y = ctx.pool.get("grad_sorted", y.shape, y)
        grad_y = torch.empty_like(y) if grad_y is None else grad_y  # (A, D)
        grad_weights = combine_weights.new_empty(y.shape[0]) if ctx.needs_input_grad[1] else None  # (A,)
        for start in range(0, y.shape[0], ROWS_PER_BLOCK):
            block = slice(start, start + ROWS_PER_BLOCK)
            grad_b = torch.index_select(grad, 0, token_index[block], out=grad_y[block])
            if grad_weights is not None:
                torch.linalg.vecdot(grad_b, y[block], out=grad_weights[block])
            grad_b.mul_(combine_weights[block, None])
        return grad_y, grad_weights, None, None, None
