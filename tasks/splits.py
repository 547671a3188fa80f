"""Train / held-out splits that measure generalisation, not memorisation.

A task is held out when its family is held out, or when any of its ``meta["numbers"]``
falls in ``held_out_range``: so ``held_out_range=(1000, None)`` keeps every number of
1000 and above out of training. Tasks without numbers (most string questions) stay in
train unless their family is held out.
"""
from __future__ import annotations

from tasks.base import Task


def split(tasks: list[Task], *, held_out_families=(), held_out_range=None
          ) -> tuple[list[Task], list[Task]]:
    """(train, heldout). ``held_out_range``: (lo, hi), lo <= x < hi, either end None for open."""
    families = {t.family for t in tasks}
    unknown = sorted(set(held_out_families) - families)
    if unknown:
        raise ValueError(f"held-out families {unknown} are not among these tasks' families "
                         f"({', '.join(sorted(families))}); check the spelling")
    in_range = _range_test(held_out_range)
    train, heldout = [], []
    for t in tasks:
        held = t.family in held_out_families or any(map(in_range, t.meta.get("numbers") or ()))
        (heldout if held else train).append(t)
    return train, heldout


def _range_test(held_out_range):
    if held_out_range is None:
        return lambda x: False
    lo, hi = held_out_range
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"held_out_range ({lo}, {hi}) is empty: it means lo <= x < hi, "
                         "so lo must be below hi (use None for an open end)")
    return lambda x: (lo is None or x >= lo) and (hi is None or x < hi)
