"""Mixture-of-Experts layers, routers and their training tools: torch and transformers only.

Nothing here imports the code expert, the trainers or the sandbox (docs/architecture.md):
``layer`` (MoELayer, MoEConfig), ``routers`` (top-k, Switch, expert choice, Soft MoE),
``kernels`` (dispatch), ``upcycle`` (dense FFN -> MoE), ``lora`` (LoRA experts), ``blocks``
(mixture of blocks), ``em`` (a classical mixture of experts fitted by EM).
"""
