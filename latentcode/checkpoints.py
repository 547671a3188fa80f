"""Checkpoints of trained weights, their resume checks, and reading them back into a model
(a warm start for another trainer, ``latentcode bench --weights``). The trainers that run
their own loop (ES, EM) write them: a checkpoint is a folder ``checkpoints/<name>-<N>/`` with
the trainable weights (``trainable.safetensors``), the loop's state (``state.json``) and, if
the loop has one, the optimizer's state (``optimizer.pt``). It is written beside its final
place and renamed into it, so a kill mid-save leaves the previous checkpoint the last one.
GRPO's checkpoints are TRL's ``checkpoints/checkpoint-<N>/``: PEFT's adapter file
(``adapter_model.safetensors``) or the model's own (``model.safetensors``); they are read here
too."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from latentcode.commands import COMMANDS
from latentcode.config import changed, other_kind, upgrade
from latentcode.models import ModelArgs
from latentcode.runs import Run


def dump_rank_weights(run_path: Path, named, rank: int) -> None:
    """``--dump-weights``: this process's trainable parameters to ``final-rank<rank>.safetensors``
    in the run folder, so a distributed run's ranks can be checked to agree."""
    from safetensors.torch import save_file
    save_file({n: p.detach().cpu().contiguous() for n, p in named}, str(Path(run_path) / f"final-rank{rank}.safetensors"))


def save_trainable(path: Path, named, state: dict, optimizer=None) -> None:
    """Write the parameters ``named`` ((name, tensor) pairs), ``state`` and the optimizer's
    state to the checkpoint folder ``path``, replacing it."""
    from safetensors.torch import save_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-"))
    save_file({n: p.detach().cpu().contiguous() for n, p in named}, str(tmp / "trainable.safetensors"))
    if optimizer is not None:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(state))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def last_checkpoint(run_path: Path) -> Path | None:
    """The run's checkpoint with the highest N whose state is readable, or None."""
    found = []
    for p in (run_path / "checkpoints").glob("[!.]*-*"):  # not a save in progress
        try:
            n = int(p.name.rsplit("-", 1)[1])
            json.loads((p / "state.json").read_text())
        except (OSError, ValueError):
            continue  # a checkpoint cut mid-write, a temporary folder, or not ours
        found.append((n, p))
    return max(found)[1] if found else None


@torch.no_grad()
def load_trainable(ckpt: Path, named, optimizer=None) -> dict:
    """Copy the checkpoint's weights into ``named`` (and its optimizer state into
    ``optimizer``); returns its state."""
    from safetensors.torch import load_file
    saved = load_file(str(ckpt / "trainable.safetensors"))
    mismatch = {n for n, _ in named} ^ set(saved)
    if mismatch:
        raise ValueError(f"{ckpt} does not match the model's trainable parameters "
                         f"({sorted(mismatch)[:3]}...): resume with the same model and lora settings")
    for n, p in named:
        p.copy_(saved[n])
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    return json.loads((ckpt / "state.json").read_text())


def check_resumable(saved: dict, setup, kind: str, resume: str, may_change: set[str],
                    untagged: bool = False) -> None:
    """Refuse to resume a run folder of another kind (``untagged``: a folder from before runs
    recorded their kind counts as this one) or made with other settings than ``setup``
    (except the fields in ``may_change``)."""
    found = saved.get("kind", kind if untagged and kind in saved else None)
    if found != kind or kind not in saved:
        raise ValueError(other_kind(found, kind, resume))
    diffs = changed({k: v for k, v in upgrade(type(setup), saved).items() if isinstance(v, dict)}, setup, may_change)
    if diffs:
        raise ValueError(f"resume: the run was made with other settings ({'; '.join(diffs)}); "
                         "leave those flags out to continue it as it was, or start a new run")



def split_checkpoint(path: str | Path) -> tuple[Path, Path | None]:
    """(run folder, checkpoint) of ``RUN/checkpoints/<name>-<N>``; (``path``, None) of a run
    folder, whose last checkpoint is meant."""
    path = Path(path)
    if path.parent.name == "checkpoints":
        return path.parent.parent, path
    return path, None


WARM_START_KINDS = tuple(k for k, c in COMMANDS.items() if c.warm_starts)
_LORA_FIELDS = ("lora_r", "lora_alpha", "lora_target_modules")


def _trl_checkpoint(path: Path) -> bool:
    return (path / "adapter_model.safetensors").is_file() or (path / "model.safetensors").is_file()


def _load_trl(ckpt: Path, model, lora: bool) -> None:
    """Copy a TRL checkpoint's weights into ``model``: its adapters into a PeftModel's, or
    every weight (a tied output matrix is saved once, under the input embedding's name)."""
    from safetensors.torch import load_file
    if lora:
        from peft import set_peft_model_state_dict
        file = ckpt / "adapter_model.safetensors"
        if not file.is_file():
            raise FileNotFoundError(f"{ckpt} holds no adapter_model.safetensors: not a LoRA run's checkpoint")
        result = set_peft_model_state_dict(model, load_file(str(file)))
        unexpected = list(getattr(result, "unexpected_keys", []))
        missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
        if unexpected or missing:
            raise ValueError(f"{ckpt} does not match the model's adapters ({(unexpected or missing)[:3]}...)")
        return
    file = ckpt / "model.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"{ckpt} holds no model.safetensors (a sharded or adapter-only "
                                "checkpoint is not read here)")
    result = model.load_state_dict(load_file(str(file)), strict=False)
    tied = {k for k in result.missing_keys if k.endswith("lm_head.weight")}
    if result.unexpected_keys or set(result.missing_keys) - tied:
        raise ValueError(f"{ckpt} does not match the model's parameters "
                         f"({(result.unexpected_keys or result.missing_keys)[:3]}...)")


class WarmStart:
    """The weights of an EM, ES or GRPO run's last checkpoint, to start another run from them.

    Two calls, because a trainer such as TRL's adds its LoRA adapters itself:
    ``into_base(model)`` before (a full-weight run's weights are copied in; a LoRA run's
    adapters are merged in, in the model's dtype, when the new run trains every weight) and
    ``into_adapters(peft_model)`` after (a LoRA run's adapters become the new run's starting
    adapters, so bf16 base weights never absorb a small update they cannot represent)."""

    def __init__(self, run_path: str | Path, model_args: ModelArgs, flag: str = "init_from"):
        """``run_path``: a run folder (its last checkpoint) or one of its checkpoints
        (``RUN/checkpoints/iter-3``); ``flag``: the setting that named it, for the errors."""
        run_path, chosen = split_checkpoint(run_path)
        run = Run.open(run_path)
        try:
            saved = run.config
        except ValueError as e:
            raise ValueError(f"{flag}: {e}") from None
        kind = saved.get("kind")
        if kind not in WARM_START_KINDS:
            raise ValueError(f"{flag}: {run_path} is not an EM, ES or GRPO run folder (its config.json says "
                             f"kind {kind!r})")
        section = saved.get("model")
        if not isinstance(section, dict):
            raise ValueError(f"{flag}: {run_path}/config.json has no model section")
        try:
            self.trained = ModelArgs(**section)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{flag}: {run_path}/config.json's model section is not readable ({e})") from None
        if self.trained.model_name_or_path != model_args.model_name_or_path:
            raise ValueError(f"{flag}: {run_path} trained {self.trained.model_name_or_path!r}, not "
                             f"{model_args.model_name_or_path!r}; pass --model {self.trained.model_name_or_path}")
        if self.trained.use_peft and model_args.use_peft:
            for name in _LORA_FIELDS:
                old, new = getattr(self.trained, name), getattr(model_args, name)
                if old != new:
                    flag = "--" + name.replace("_", "-")
                    raise ValueError(f"{flag}: {run_path}'s LoRA has {name} {old!r}, this run {new!r}; "
                                     f"pass {flag} {old if not isinstance(old, list) else ','.join(old)}")
        self.trl = kind == "grpo"
        if chosen is not None:
            self.checkpoint = chosen
        elif self.trl:
            from transformers.trainer_utils import get_last_checkpoint
            found = get_last_checkpoint(str(run.path / "checkpoints")) if (run.path / "checkpoints").is_dir() else None
            self.checkpoint = Path(found) if found else None
        else:
            self.checkpoint = last_checkpoint(run.path)
        if self.checkpoint is None:
            raise FileNotFoundError(f"{flag}: {run_path}/checkpoints holds no finished checkpoint")
        finished = _trl_checkpoint(self.checkpoint) if self.trl else (self.checkpoint / "trainable.safetensors").is_file()
        if not finished:
            raise FileNotFoundError(f"{flag}: {self.checkpoint} is not a finished checkpoint (no "
                                    + ("adapter_model.safetensors or model.safetensors)" if self.trl
                                       else "trainable.safetensors)"))
        self.use_peft = model_args.use_peft

    def _load(self, model) -> None:
        """The checkpoint's weights into ``model``: the PeftModel of a LoRA run's adapters, or
        the bare model of a full-weight run."""
        if self.trl:
            _load_trl(self.checkpoint, model, self.trained.use_peft)
        elif self.trained.use_peft:
            load_trainable(self.checkpoint, [(n, p) for n, p in model.named_parameters() if p.requires_grad])
        else:
            load_trainable(self.checkpoint, list(model.named_parameters()))

    def into_base(self, model):
        """The model to hand the trainer: with the run's full weights, or its adapters merged
        in when the new run has no adapters of its own; unchanged otherwise."""
        if not self.trained.use_peft:
            self._load(model)
            return model
        if self.use_peft:
            return model  # into_adapters, once the trainer has made them
        from peft import get_peft_model
        wrapped = get_peft_model(model, self.trained.peft_config())
        self._load(wrapped)
        return wrapped.merge_and_unload()

    def apply(self, model):
        """``model`` computing as the trained run did: a full-weight run's weights copied in, a
        LoRA run's adapters put on top, unmerged (merged into bf16 weights, much of a small
        update would round away). For evaluation: ``latentcode bench --weights``."""
        if not self.trained.use_peft:
            self._load(model)
            return model
        from peft import get_peft_model
        wrapped = get_peft_model(model, self.trained.peft_config())
        self._load(wrapped)
        return wrapped.eval()

    def into_adapters(self, model) -> None:
        """Copy a LoRA run's adapters into ``model``'s (a PeftModel with the same LoRA)."""
        if self.trained.use_peft and self.use_peft:
            self._load(model)
