"""Model loading: the tiny local model, devices and dtypes, clear errors."""
from __future__ import annotations

import pytest
import torch

from latentcode.models import ModelNotAvailable, load_model, resolve_dtype


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny", device="cpu")


def test_tiny_model_is_ready_for_batched_generation(tiny):
    model, tok = tiny
    assert tok.padding_side == "left" and tok.pad_token is not None
    assert tok.chat_template and not model.training


def test_left_padded_batch_generates_what_each_prompt_generates_alone(tiny):
    model, tok = tiny
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                       add_generation_prompt=True)
               for q in ("hi", "What is the average of [3, 0, 1, 300, 2]?")]
    with torch.no_grad():
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        for i, p in enumerate(prompts):
            one = tok(p, return_tensors="pt", add_special_tokens=False)
            alone = model.generate(**one, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
            assert batch[i, -8:].tolist() == alone[0, -8:].tolist()


def test_dtype_names_and_errors():
    assert resolve_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    assert resolve_dtype(None, torch.device("cpu")) is torch.float32
    with pytest.raises(ValueError, match="dtype 'int3'"):
        resolve_dtype("int3", torch.device("cpu"))


def test_missing_local_model_says_what_to_pass(tmp_path):
    with pytest.raises(ModelNotAvailable, match="smollm2-135m, tiny"):
        load_model(str(tmp_path / "nowhere"))
