"""Run by tests/test_grpo_distributed.py under `accelerate launch` (2 CPU processes, gloo):
GRPO through ``build_trainer`` as `latentcode train grpo` runs it, instrumented from outside to
record, per rank, what that rank generated and scored and the weights it ends with."""
import hashlib
import json
import os
import sys

import torch

from latentcode.training.grpo import CodeGRPOTrainer, HeldoutEval, build_trainer, parse_setup
from latentcode.training.rewards import CodeRewards

generated, scored = [], []
generate = CodeGRPOTrainer._generate_single_turn
evaluate = CodeRewards.evaluate


def counting_generate(self, prompt_ids, *args, **kwargs):
    ids, extra = generate(self, prompt_ids, *args, **kwargs)
    generated.extend(self.processing_class.decode(c, skip_special_tokens=True) for c in ids)
    return ids, extra


def counting_evaluate(self, tasks, texts, *args, **kwargs):
    scored.append((id(self), list(texts)))
    return evaluate(self, tasks, texts, *args, **kwargs)


CodeGRPOTrainer._generate_single_turn = counting_generate
CodeRewards.evaluate = counting_evaluate
trainer, run, _ = build_trainer(parse_setup(sys.argv[1:]))
heldout = {id(cb.heldout.rewards) for cb in trainer.callback_handler.callbacks if isinstance(cb, HeldoutEval)}
trainer.train()
scored = [t for owner, texts in scored if owner not in heldout for t in texts]  # training rewards only
rank = int(os.environ["RANK"])
weights = hashlib.sha256()
for name, p in sorted(trainer.model.named_parameters()):
    if p.requires_grad:
        weights.update(name.encode() + p.detach().to(torch.float32).contiguous().numpy().tobytes())
(run / f"rank{rank}.json").write_text(json.dumps({"generated": generated, "scored": scored,
                                                   "weights": weights.hexdigest()}))
