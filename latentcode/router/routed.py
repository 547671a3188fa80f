"""A trained router, loaded to answer questions: ``latentcode bench --mode routed --router RUN``.

    router = TrainedRouter(run_folder, model_args, cost_weight=0.5)    # or code_share=0.3
    model = router.prepare(model)                       # upcycled, with its slots, for the code slot
    p, seconds = router.probabilities(model, tok, tasks, prompt_config)
    routes = router.routes(p)                           # True: the code expert answers

The threshold is 0.5 on the gate fitted at that cost weight (it was fitted to pick the better
path at that cost), or, for a target code share, the p(code) above which that share of the
router's training questions fell.
"""
from __future__ import annotations

import torch

from latentcode.config import from_dict
from latentcode.router.gates import SlotGate, make_gate
from latentcode.router.features import QuestionStates, default_layers, read_questions, slot_probabilities
from latentcode.router.train import RouterSetup, gate_name, prepare_model
from latentcode.runs import Run


class TrainedRouter:
    def __init__(self, run_path, model_args, *, cost_weight: float | None = None,
                 code_share: float | None = None):
        run = Run.open(run_path)
        try:
            saved = run.config
        except ValueError as e:
            raise ValueError(f"router: {e}") from None
        if saved.get("kind") != "router":
            raise ValueError(f"router: {run.path} is not a `latentcode train router` run folder")
        if not (run.path / "gates.safetensors").is_file():
            raise FileNotFoundError(f"router: {run.path} has no gates.safetensors (the training did not finish)")
        self.setup = from_dict(RouterSetup, {k: v for k, v in saved.items() if k in ("router", "run", "model", "cost")})
        self.config = self.setup.router
        trained = self.setup.model.model_name_or_path
        if trained != model_args.model_name_or_path:
            raise ValueError(f"router: {run.path} read {trained!r}'s hidden states, not "
                             f"{model_args.model_name_or_path!r}; pass --model {trained}")
        weights = self.config.cost_weights
        c = weights[0] if cost_weight is None else cost_weight
        if not any(abs(c - w) < 1e-12 for w in weights):
            raise ValueError(f"cost_weight: {run.path} has gates for {', '.join(f'{w:g}' for w in weights)}, "
                             f"not {c:g}; pass one of them")
        self.name = gate_name(c)
        if code_share is not None and not 0 <= code_share <= 1:
            raise ValueError(f"code_share ({code_share}) must be between 0 and 1")
        self.threshold = 0.5
        if code_share is not None:
            import json
            ranked = json.loads((run.path / "report.json").read_text())["train"][self.name]["p_sorted"]
            k = round(code_share * len(ranked))
            # all or none whatever a new question scores; else the k-th highest training score
            self.threshold = float("inf") if k == 0 else float("-inf") if k == len(ranked) else ranked[k - 1]
        from safetensors.torch import load_file
        self.tensors = load_file(str(run.path / "gates.safetensors"))
        self.path = run.path

    def prepare(self, model):
        """The model the gate reads (and the paths answer with): for the code slot, upcycled
        with the saved routers and the gate's slots in them."""
        model, self.mlps = prepare_model(model, self.config, self.setup.run.seed)
        with torch.no_grad():
            for i, m in enumerate(self.mlps):
                m.moe.router.weight.copy_(self.tensors[f"moe.{i}.router.weight"])
        if self.mlps:
            gate = SlotGate(len(self.mlps), self.mlps[0].moe.config.d_model)
            gate.load_state_dict(self._gate_tensors())
            gate.into(self.mlps)
        return model

    def _gate_tensors(self) -> dict[str, torch.Tensor]:
        """This cost weight's gate's tensors, by parameter name. A key belongs to the longest gate
        name it starts with: gate names hold dots, so "c0." also begins "c0.5.weight"."""
        names = sorted((gate_name(w) for w in self.config.cost_weights), key=len, reverse=True)
        out = {}
        for key, value in self.tensors.items():
            owner = next((n for n in names if key.startswith(n + ".")), None)
            if owner == self.name:
                out[key[len(owner) + 1:]] = value
        return out

    def _gate(self, states: QuestionStates):
        """The probe of this cost weight."""
        gate = make_gate("probe", states)
        gate.load_state_dict(self._gate_tensors())
        return gate

    @torch.no_grad()
    def probabilities(self, model, tok, tasks, prompt_config) -> tuple[list[float], float]:
        """p(code) per task from one forward over its direct-path prompt, and the seconds spent."""
        from latentcode.expert.direct_expert import DirectExpert
        expert = DirectExpert(model, tok, prompt=prompt_config)
        prompts = [expert.prompt(t) for t in tasks]
        if self.config.form == "slot":  # the slots are in the routers: read them in the forward pass
            return slot_probabilities(model, tok, prompts, [t.prompt for t in tasks],
                                      batch_size=self.config.batch_size)
        states = read_questions(model, tok, prompts, [t.prompt for t in tasks],
                                layers=self.config.probe_layers or default_layers(model),
                                batch_size=self.config.batch_size)
        return self._gate(states)(states).tolist(), states.seconds

    def routes(self, p: list[float]) -> list[bool]:
        return [x >= self.threshold for x in p]
