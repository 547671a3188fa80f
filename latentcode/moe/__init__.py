"""Mixture-of-Experts layers, token gating and their training tools: torch and transformers only.

Nothing here imports the code expert, the trainers or the sandbox (docs/architecture.md):
``layer`` (MoELayer, MoEConfig), ``gating`` (the token routers: top-k, Switch, expert choice,
Soft MoE; the per-question router is the ``latentcode.router`` package),
``kernels`` (dispatch), ``upcycle`` (dense FFN -> MoE), ``lora`` (LoRA experts), ``blocks``
(mixture of blocks), ``classical`` (the classical mixture of experts of Jacobs et al., fitted
by EM; the EM trainer over programs is ``latentcode.training.em``).
"""
