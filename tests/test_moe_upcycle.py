"""Sparse upcycling of tiny Hugging Face models: same function at start, generate, aux_loss for TRL,
and a real TRL SFT step on the result."""

import copy

import pytest
import torch

from latentcode.moe.upcycle import MoEMLP, upcycle

VOCAB = 64


def tiny_llama(**overrides):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=VOCAB,
        pad_token_id=0,
        eos_token_id=2,
        bos_token_id=None,
        **overrides,
    )
    return LlamaForCausalLM(config).eval()


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[EOS]"] + [f"w{i}" for i in range(VOCAB - 3)]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")


def test_upcycled_model_computes_the_dense_function_at_start():
    dense = tiny_llama()
    model = upcycle(copy.deepcopy(dense), num_experts=4, top_k=2)
    ids = torch.randint(3, VOCAB, (2, 9))
    assert all(isinstance(layer.mlp, MoEMLP) for layer in model.model.layers)
    torch.testing.assert_close(model(ids).logits, dense(ids).logits, atol=1e-5, rtol=1e-5)
    prompt = ids[:, :3]
    same = dict(max_new_tokens=6, do_sample=False, attention_mask=torch.ones_like(prompt))
    assert model.generate(prompt, **same).tolist() == dense.generate(prompt, **same).tolist()


def test_experts_start_as_copies_of_the_dense_mlp():
    dense = tiny_llama()
    mlp = dense.model.layers[1].mlp
    moe = upcycle(copy.deepcopy(dense), num_experts=3, top_k=2).model.layers[1].mlp.moe
    for e in range(3):
        torch.testing.assert_close(moe.experts.w_gate_up[e, :, :64], mlp.gate_proj.weight.t())
        torch.testing.assert_close(moe.experts.w_gate_up[e, :, 64:], mlp.up_proj.weight.t())
        torch.testing.assert_close(moe.experts.w_down[e], mlp.down_proj.weight.t())


def test_config_and_outputs_carry_what_trl_looks_for():
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    model = upcycle(tiny_llama(), num_experts=4, top_k=2, router_aux_loss_coef=0.05)
    config = model.config
    assert (config.output_router_logits, config.router_aux_loss_coef) == (False, 0.05)
    assert (config.num_experts, config.num_experts_per_tok) == (4, 2)
    ids = torch.randint(3, VOCAB, (2, 7))
    assert "aux_loss" not in model(ids)  # off unless asked for, as in Mixtral
    plain = model(ids, labels=ids)
    out = model(ids, labels=ids, output_router_logits=True)
    assert len(out.router_logits) == 2 and out.router_logits[0].shape == (14, 4)
    torch.testing.assert_close(out.aux_loss, load_balancing_loss_func(out.router_logits, 4, 2))
    torch.testing.assert_close(out.loss, plain.loss + 0.05 * out.aux_loss)
    backbone = model.model(ids, output_router_logits=True)
    assert len(backbone.router_logits) == 2


def test_padding_is_left_out_of_the_aux_loss():
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    model = upcycle(tiny_llama(), num_experts=4, top_k=2)
    ids = torch.randint(3, VOCAB, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[0, 4:] = 0
    out = model(ids, attention_mask=mask, output_router_logits=True)
    torch.testing.assert_close(out.aux_loss, load_balancing_loss_func(out.router_logits, 4, 2, mask))


def test_qwen2_upcycles_too():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=VOCAB,
    )
    dense = Qwen2ForCausalLM(config).eval()
    model = upcycle(copy.deepcopy(dense), num_experts=2, top_k=1)
    ids = torch.randint(3, VOCAB, (1, 6))
    torch.testing.assert_close(model(ids).logits, dense(ids).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "overrides, kwargs, message",
    [
        ({"hidden_act": "gelu"}, {}, r"SwiGLU \(hidden_act='silu'\).*'gelu'"),
        ({"mlp_bias": True}, {}, r"has MLP biases; set mlp_bias=False"),
        ({}, {"num_experts": 2, "top_k": 3}, r"top_k \(3\) must be <= num_experts \(2\)"),
        ({}, {"num_experts": 4, "router": "soft"}, r"cannot be used in a causal decoder"),
    ],
)
def test_upcycle_refuses_what_it_cannot_do(overrides, kwargs, message):
    with pytest.raises(ValueError, match=message):
        upcycle(tiny_llama(**overrides), **({"num_experts": 4} | kwargs))


def _sft_trainer(model, output_dir, coef):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    texts = [" ".join(f"w{(7 * i + j) % (VOCAB - 3)}" for j in range(12)) for i in range(8)]
    args = SFTConfig(
        output_dir=str(output_dir),
        max_steps=1,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        router_aux_loss_coef=coef,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
    )
    dataset = Dataset.from_dict({"text": texts})
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tiny_tokenizer())


def test_trl_sft_trains_the_upcycled_model_and_adds_the_aux_loss(tmp_path):
    model = upcycle(tiny_llama(), num_experts=4, top_k=2, router_aux_loss_coef=0.1)
    model.train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = _sft_trainer(model, tmp_path, coef=None)  # None: TRL takes the coefficient from the config
    assert trainer.aux_loss_enabled and trainer.router_aux_loss_coef == 0.1
    trainer.train()
    logged = trainer.state.log_history[0]
    assert logged["aux_loss"] > 0
    unchanged = [name for name, p in model.named_parameters() if torch.equal(p, before[name])]
    assert unchanged == []
    assert any("router" in name for name in before) and any("experts" in name for name in before)


def test_trl_loss_is_the_task_loss_plus_the_weighted_aux_loss(tmp_path):
    model = upcycle(tiny_llama(), num_experts=4, top_k=2, router_aux_loss_coef=0.1)
    with_aux = _sft_trainer(model, tmp_path / "a", coef=0.5)
    batch = next(iter(with_aux.get_train_dataloader()))
    loss_with = with_aux.compute_loss(model, dict(batch))
    aux = model(**{k: v for k, v in batch.items() if k != "labels"}, output_router_logits=True).aux_loss
    without = _sft_trainer(model, tmp_path / "b", coef=0.0)
    assert not without.aux_loss_enabled
    loss_without = without.compute_loss(model, dict(batch))
    torch.testing.assert_close(loss_with - loss_without, 0.5 * aux, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("tie", [False, True])
def test_upcycling_into_mixtral_keeps_the_dense_function_and_round_trips(tmp_path, tie):
    from transformers import AutoModelForCausalLM, MixtralForCausalLM
    from latentcode.moe.upcycle import upcycle_to_mixtral
    dense = tiny_llama(tie_word_embeddings=tie)
    moe = upcycle_to_mixtral(dense, num_experts=4, top_k=2).eval()
    assert isinstance(moe, MixtralForCausalLM)
    ids = torch.randint(3, VOCAB, (2, 7), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = dense(ids).logits, moe(ids).logits
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    router = moe.model.layers[0].mlp.gate.weight
    assert router.abs().sum() > 0  # routers are random: ties are broken, experts can part
    moe.save_pretrained(tmp_path)
    back = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(back) is MixtralForCausalLM and back.config.num_local_experts == 4
    with torch.no_grad():
        assert torch.allclose(back(ids).logits, got, atol=1e-6)
    out = moe(ids, labels=ids, output_router_logits=True)
    assert out.aux_loss is not None and torch.isfinite(out.loss)  # what TRL adds to the loss


def test_upcycling_into_mixtral_refuses_what_it_cannot_map():
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from latentcode.moe.upcycle import upcycle_to_mixtral
    qwen = Qwen2ForCausalLM(Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB))
    with pytest.raises(ValueError, match="use upcycle"):
        upcycle_to_mixtral(qwen, num_experts=2)
    with pytest.raises(ValueError, match="top_k"):
        upcycle_to_mixtral(tiny_llama(), num_experts=2, top_k=3)
