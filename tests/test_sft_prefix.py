"""EM's M-step loss with the start all rows share run once (prefix_logps.sft_trainer_class)
against TRL's SFTTrainer over whole rows: the same loss, metrics and gradients in float32."""
from __future__ import annotations

import copy

import pytest
import torch
from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from latentcode.models import build_tiny_model
from latentcode.training import prefix_logps
from latentcode.training.prefix_logps import sft_trainer_class

pytestmark = pytest.mark.usefixtures("one_thread")
SYSTEM = "You are a careful Python programmer. Answer with one program in a code block. " * 2


def trainer(cls, model, tok, tmp_path, data):
    args = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, report_to=[], use_cpu=True,
                     completion_only_loss=True, max_length=None, save_strategy="no", logging_strategy="no",
                     gradient_checkpointing=None, disable_tqdm=True)
    return cls(model=model, args=args, train_dataset=Dataset.from_list(data), processing_class=tok)


def test_the_shared_start_is_run_once_with_trl_s_loss_and_gradients(tmp_path):
    base, tok = build_tiny_model(seed=2)
    data = [{"prompt": SYSTEM + q, "completion": c} for q, c in [
        ("What is 1 + 2?", "```python\nprint(1 + 2)\n```"), ("Mean of [3, 4]?", "```python\nprint(3.5)\n```"),
        ("Sort 5 1 4.", "```python\nprint(sorted([5, 1, 4]))\n```"), ("Is 7 prime?", "yes")]]
    results = []
    for cls in (SFTTrainer, sft_trainer_class()):
        model = copy.deepcopy(base)
        t = trainer(cls, model, tok, tmp_path / cls.__name__, data)
        batch = next(iter(t.get_train_dataloader()))
        calls = []
        real = prefix_logps.shared_start_of_labelled_rows
        prefix_logps.shared_start_of_labelled_rows = lambda *a: calls.append(real(*a)) or calls[-1]
        try:
            model.train()
            loss = t.compute_loss(model, dict(batch))
        finally:
            prefix_logps.shared_start_of_labelled_rows = real
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        metrics = {k: v[-1] for k, v in t._metrics["train"].items() if k in ("entropy", "mean_token_accuracy")}
        results.append((loss.detach(), grads, metrics, calls))
    (ref_loss, ref_grads, ref_metrics, _), (loss, grads, metrics, calls) = results
    assert calls and calls[0] >= 16  # the shared system prompt ran once
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    assert metrics.keys() == ref_metrics.keys() and ref_metrics
    for k in metrics:
        assert metrics[k] == pytest.approx(ref_metrics[k], rel=1e-4, abs=1e-6)
    assert grads.keys() == ref_grads.keys()
    for n in grads:
        torch.testing.assert_close(grads[n], ref_grads[n], rtol=1e-3, atol=1e-6, msg=n)


def test_rows_with_little_in_common_take_the_ordinary_forward():
    ids = torch.tensor([[1, 2, 3, 4, 5], [1, 9, 9, 9, 9]])
    labels = torch.tensor([[-100, -100, -100, 4, 5], [-100, -100, 9, 9, -100]])
    assert prefix_logps.shared_start_of_labelled_rows(ids, labels) == 1
    unlabelled = torch.full_like(labels, -100)
    assert prefix_logps.shared_start_of_labelled_rows(ids, unlabelled) == 0
