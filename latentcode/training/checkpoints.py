"""Checkpoints and resume checks of the trainers that run their own loop (ES, EM; GRPO's are
TRL's): a checkpoint is a folder ``checkpoints/<name>-<N>/`` with the trainable weights
(``trainable.safetensors``), the loop's state (``state.json``) and, if the loop has one, the
optimizer's state (``optimizer.pt``). It is written beside its final place and renamed into
it, so a kill mid-save leaves the previous checkpoint the last one."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from latentcode.config import changed


def save_trainable(path: Path, named, state: dict, optimizer=None) -> None:
    """Write the parameters ``named`` ((name, tensor) pairs), ``state`` and the optimizer's
    state to the checkpoint folder ``path``, replacing it."""
    from safetensors.torch import save_file  # here, not at the top: start-up cost
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
    from safetensors.torch import load_file  # here, not at the top: start-up cost
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
    if saved.get("kind", kind if untagged else None) != kind or kind not in saved:
        raise ValueError(f"resume: {resume} is not an {kind.upper()} run folder; start a new run")
    diffs = changed({k: v for k, v in saved.items() if isinstance(v, dict)}, setup, may_change)
    if diffs:
        raise ValueError(f"resume: the run was made with other settings ({'; '.join(diffs)}); "
                         "use the same values or start a new run")
