"""Sparse upcycling (Komatsuzaki et al. 2022): turn a dense Hugging Face causal LM into an MoE.

`upcycle(model, num_experts, top_k)` replaces every SwiGLU MLP (Llama, Mistral, Qwen2 and their
kin: `gate_proj`, `up_proj`, `down_proj`, `hidden_act="silu"`) by an `MoELayer` whose experts all
start as copies of that MLP, so with renormalised top-k weights the upcycled model computes the
dense model's function exactly until training moves the experts apart.

The model keeps its class, so `generate` and TRL work unchanged. Its config gains the fields TRL
looks for in an MoE model (`output_router_logits`, `router_aux_loss_coef`, `num_experts`,
`num_experts_per_tok`), and its forward and its backbone's forward accept `output_router_logits`
and return `router_logits`, with `aux_loss` (the load-balancing loss over all layers, computed as
transformers' Mixtral does) added to `loss` when labels are given. TRL's trainers then add the
auxiliary loss themselves. The forwards are patched on the instance, as TRL patches its fused LM
head; `save_pretrained` still writes the dense class name, so to reload, build the dense model,
upcycle it with the same arguments and load the state dict.

`add_slot(model)` gives every upcycled layer's router one more choice, a slot that computes
nothing (the zero-computation experts of MoE++, Jin et al. 2024): its logit joins the experts' in
one softmax, and the slot's probability per token is kept (`MoEMLP.slot_probs`). The FFN's top-k
is taken over the experts only, so the layer's output is what it was without the slot. The
router package reads the slot as "answer this question with code" (latentcode/router).

`upcycle_to_mixtral(model, num_experts, top_k)` does the same for Llama and Mistral models into
transformers' own `MixtralForCausalLM`, which saves and reloads as an MoE; the patched path above
remains for the rest (attention biases, other norms) and for this package's other routers.
"""

from __future__ import annotations

import functools
import types

import torch
from torch import nn

from latentcode.moe.layer import MoEConfig, MoELayer
from latentcode.moe.gating import load_balancing_loss


def slot_probability(x: torch.Tensor, router_logits: torch.Tensor, weight: torch.Tensor,
                     bias: torch.Tensor) -> torch.Tensor:
    """The probability of a slot whose logit is ``x @ weight + bias`` in one softmax with the
    experts' ``router_logits``: x (N, D), router_logits (N, E), weight (D,), bias () -> (N,).
    e^s / (e^s + sum_e e^l_e) = sigmoid(s - logsumexp(l)), in float32."""
    slot = x.float() @ weight.float() + bias.float()
    return torch.sigmoid(slot - torch.logsumexp(router_logits.float(), dim=-1))


class MoEMLP(nn.Module):
    """Drop-in for a decoder layer's `mlp`: (B, T, D) -> (B, T, D), keeping its router logits
    (and, with a slot, the slot's probability per token)."""

    def __init__(self, config: MoEConfig):
        super().__init__()
        self.moe = MoELayer(config)
        self.router_logits: torch.Tensor | None = None  # (N, E) of the latest forward
        self.slot: nn.Linear | None = None  # add_slot: one more router logit, computing nothing
        self.slot_probs: torch.Tensor | None = None  # (N,) of the latest forward, with a slot

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        out = self.moe(hidden_states)
        self.router_logits = out.router_logits
        if self.slot is not None:
            x = hidden_states.reshape(-1, hidden_states.shape[-1])
            self.slot_probs = slot_probability(x, out.router_logits, self.slot.weight[0], self.slot.bias[0])
        return out.hidden_states

    @classmethod
    def from_dense(cls, mlp: nn.Module, config: MoEConfig) -> MoEMLP:
        """Every expert a copy of `mlp`'s gate_proj, up_proj (F, D) and down_proj (D, F)."""
        moe_mlp = cls(config).to(device=mlp.down_proj.weight.device, dtype=mlp.down_proj.weight.dtype)
        experts = moe_mlp.moe.experts
        with torch.no_grad():
            gate_up = torch.cat([mlp.gate_proj.weight.t(), mlp.up_proj.weight.t()], dim=1)  # (D, 2F)
            experts.w_gate_up.copy_(gate_up.expand_as(experts.w_gate_up))
            experts.w_down.copy_(mlp.down_proj.weight.t().expand_as(experts.w_down))  # (E, F, D)
        return moe_mlp


def _check_dense_mlp(mlp: nn.Module, hidden_act: str | None, where: str) -> None:
    names = ("gate_proj", "up_proj", "down_proj")
    missing = [name for name in names if not isinstance(getattr(mlp, name, None), nn.Linear)]
    if missing:
        raise ValueError(
            f"upcycle needs SwiGLU MLPs with gate_proj, up_proj and down_proj (Llama, Mistral, Qwen2); "
            f"{where} ({type(mlp).__name__}) lacks {', '.join(missing)}"
        )
    if any(getattr(mlp, name).bias is not None for name in names):
        raise ValueError(f"upcycle's experts have no biases, but {where} has MLP biases; set mlp_bias=False")
    if hidden_act != "silu":
        raise ValueError(f"upcycle's experts are SwiGLU (hidden_act='silu'); the model uses hidden_act={hidden_act!r}")


def _layer_mask(attention_mask: torch.Tensor | None, router_logits: tuple[torch.Tensor, ...]):
    """The attention mask for the pooled router logits of all layers, or None when it does not
    line up with them (decoding with a cache sees only the new tokens)."""
    if attention_mask is None or attention_mask.numel() != router_logits[0].shape[0]:
        return None
    return attention_mask.reshape(-1).repeat(len(router_logits))


def upcycle(
    model: nn.Module,
    num_experts: int,
    top_k: int = 2,
    *,
    router: str = "top_k",
    capacity_factor: float | None = None,
    noisy: bool = False,
    router_aux_loss_coef: float = 0.01,
    reuse_buffers: bool = True,
) -> nn.Module:
    """Replace each decoder layer's MLP of a dense causal LM by an upcycled MoE layer, in place.

    Returns the same model. See the module docstring for what changes on the model and config.
    """
    config = model.config.get_text_config()
    backbone = model.base_model
    layers = getattr(backbone, "layers", None)
    if layers is None:
        raise ValueError(
            f"upcycle expects decoder layers at model.base_model.layers; {type(backbone).__name__} has none"
        )
    moe_mlps = []
    for i, layer in enumerate(layers):
        _check_dense_mlp(layer.mlp, getattr(config, "hidden_act", None), f"layer {i}")
        moe_config = MoEConfig(
            d_model=config.hidden_size,
            d_ff=layer.mlp.down_proj.in_features,
            num_experts=num_experts,
            top_k=top_k,
            router=router,
            capacity_factor=capacity_factor,
            noisy=noisy,
            causal=True,
            load_balancing_coef=router_aux_loss_coef,
            reuse_buffers=reuse_buffers,
        )
        layer.mlp = MoEMLP.from_dense(layer.mlp, moe_config)
        moe_mlps.append(layer.mlp)

    config.output_router_logits = False  # TRL switches it on when it adds the aux loss
    config.router_aux_loss_coef = router_aux_loss_coef
    config.num_experts = config.num_local_experts = num_experts
    config.num_experts_per_tok = top_k
    _patch_forwards(model, backbone, tuple(moe_mlps), config)
    return model


def add_slot(model: nn.Module) -> tuple[MoEMLP, ...]:
    """Give every `MoEMLP` of an upcycled model one more router logit (a float32 `nn.Linear`
    (D -> 1) reading the router's input, zero at start) and return those layers. The FFN's
    routing and output do not change: the slot takes part in the softmax that reports its
    probability (`MoEMLP.slot_probs`), not in the experts' top-k."""
    mlps = tuple(m for m in model.modules() if isinstance(m, MoEMLP))
    if not mlps:
        raise ValueError("add_slot needs an upcycled model (MoEMLP layers): call upcycle(model, ...) first")
    for m in mlps:
        if m.slot is None:
            d_model = m.moe.config.d_model
            m.slot = nn.Linear(d_model, 1).to(device=m.moe.experts.w_down.device, dtype=torch.float32)
            nn.init.zeros_(m.slot.weight)
            nn.init.zeros_(m.slot.bias)
    return mlps


def _patch_forwards(model: nn.Module, backbone: nn.Module, moe_mlps: tuple[MoEMLP, ...], config) -> None:
    from transformers.modeling_outputs import MoeCausalLMOutputWithPast, MoeModelOutputWithPast

    def wants_logits(kwargs) -> bool:
        flag = kwargs.pop("output_router_logits", None)
        return config.output_router_logits if flag is None else flag

    backbone_forward = backbone.forward

    @functools.wraps(type(backbone).forward)
    def moe_backbone_forward(self, *args, **kwargs):
        want = wants_logits(kwargs)
        outputs = backbone_forward(*args, **kwargs)
        if not want:
            return outputs
        return MoeModelOutputWithPast(**outputs, router_logits=tuple(m.router_logits for m in moe_mlps))

    model_forward = model.forward

    @functools.wraps(type(model).forward)
    def moe_model_forward(self, *args, **kwargs):
        want = wants_logits(kwargs)
        outputs = model_forward(*args, **kwargs)
        if not want:
            return outputs
        router_logits = tuple(m.router_logits for m in moe_mlps)
        mask = _layer_mask(kwargs.get("attention_mask"), router_logits)
        aux_loss = load_balancing_loss(torch.cat(router_logits), config.num_experts_per_tok, mask)
        loss = outputs.loss
        if loss is not None:
            loss = loss + config.router_aux_loss_coef * aux_loss.to(loss.device)
        fields = {k: v for k, v in outputs.items() if k != "loss"}
        return MoeCausalLMOutputWithPast(loss=loss, aux_loss=aux_loss, router_logits=router_logits, **fields)

    backbone.forward = types.MethodType(moe_backbone_forward, backbone)
    model.forward = types.MethodType(moe_model_forward, model)


# ------------------------------------------------------------------------------------
# into transformers' own MoE class
# ------------------------------------------------------------------------------------

_MIXTRAL_READY = ("llama", "mistral")  # attention without biases, SwiGLU MLP without biases


def upcycle_to_mixtral(model: nn.Module, num_experts: int, top_k: int = 2, *,
                       router_aux_loss_coef: float = 0.01, seed: int = 0) -> nn.Module:
    """A new ``MixtralForCausalLM`` holding ``model``'s weights, every expert a copy of its
    layer's dense MLP (``gate_up_proj`` = [gate_proj; up_proj], ``down_proj``), the routers
    drawn from N(0, initializer_range) with ``seed``.

    Mixtral renormalises the top-k weights to sum to one, so while the experts are equal the
    model computes the dense model's function exactly, whatever the router picks. Unlike
    ``upcycle`` (which patches the instance), the result is transformers' own MoE class:
    ``save_pretrained`` writes a Mixtral, ``from_pretrained`` reads it back, TRL adds its
    auxiliary loss, and the expert kernels transformers selects (grouped matmuls on GPUs)
    apply. Llama and Mistral map directly (SmolLM2 is a Llama); architectures with attention
    biases (Qwen2), other norms or activations (Gemma, Phi) still need ``upcycle``.
    """
    from transformers import MixtralForCausalLM
    cfg = model.config
    kind = getattr(cfg, "model_type", None)
    if kind not in _MIXTRAL_READY or getattr(cfg, "attention_bias", False) \
            or getattr(cfg, "mlp_bias", False) or cfg.hidden_act != "silu":
        raise ValueError(f"upcycle_to_mixtral maps {', '.join(_MIXTRAL_READY)} models without "
                         f"attention or MLP biases (got {kind!r}); use upcycle(model, ...) instead")
    if not 1 <= top_k <= num_experts:
        raise ValueError(f"top_k ({top_k}) must be between 1 and num_experts ({num_experts})")
    mixtral = _mixtral_config(cfg, num_experts, top_k, router_aux_loss_coef)
    dense = model.state_dict()
    weight = dense["model.embed_tokens.weight"]
    out = MixtralForCausalLM(mixtral).to(dtype=weight.dtype, device=weight.device)
    state = {k: v for k, v in dense.items() if ".mlp." not in k}
    generator = torch.Generator().manual_seed(seed)
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}.mlp."
        gate_up = torch.cat([dense[p + "gate_proj.weight"], dense[p + "up_proj.weight"]])  # (2F, D)
        state[p + "experts.gate_up_proj"] = gate_up.expand(num_experts, *gate_up.shape).clone()
        down = dense[p + "down_proj.weight"]  # (D, F)
        state[p + "experts.down_proj"] = down.expand(num_experts, *down.shape).clone()
        router = torch.randn(num_experts, cfg.hidden_size, generator=generator) * cfg.initializer_range
        state[p + "gate.weight"] = router.to(dtype=weight.dtype, device=weight.device)  # (E, D)
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    missing, unexpected = out.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (cfg.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise ValueError(f"weight mapping to Mixtral is incomplete: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    return out.train(model.training)


def _mixtral_config(cfg, num_experts: int, top_k: int, router_aux_loss_coef: float):
    """The dense model's config as a Mixtral's, with ``num_experts`` experts, ``top_k`` per token."""
    from transformers import MixtralConfig
    return MixtralConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size, num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads, num_key_value_heads=cfg.num_key_value_heads,
        head_dim=getattr(cfg, "head_dim", None), hidden_act=cfg.hidden_act,
        max_position_embeddings=cfg.max_position_embeddings,
        initializer_range=cfg.initializer_range, rms_norm_eps=cfg.rms_norm_eps,
        pad_token_id=cfg.pad_token_id, bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id,
        tie_word_embeddings=cfg.tie_word_embeddings, sliding_window=getattr(cfg, "sliding_window", None),
        attention_dropout=getattr(cfg, "attention_dropout", 0.0),
        rope_parameters=getattr(cfg, "rope_parameters", None),
        num_local_experts=num_experts, num_experts_per_tok=top_k,
        router_aux_loss_coef=router_aux_loss_coef, output_router_logits=False)
