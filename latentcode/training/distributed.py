"""What the trainers share when `accelerate launch` or `torchrun` starts several processes.

The main process makes (or checks) the run folder and tells the others its path; if it cannot,
it tells them its error instead, so every rank stops with the same one-line message rather than
waiting forever for a path. ``gather`` brings every rank's Python objects to every rank (gloo on
CPUs, nccl on GPUs: whatever the process group was set up with). With one process all of this
is a plain function call.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from latentcode.runs import Run


def process_state(cpu: bool):
    """accelerate's PartialState, set up from the launcher's environment (RANK, WORLD_SIZE...):
    ``cpu`` picks gloo on the CPU; otherwise each process takes its own GPU."""
    from accelerate import PartialState
    return PartialState(cpu=cpu)


def open_shared_run(state, open_here: Callable[[], tuple[Run, object]]) -> tuple[Run, object]:
    """``open_here()`` -> (run, extra) on the main process; every rank gets the same run folder
    and extra (a checkpoint path, a step), or the main process's ValueError / OSError."""
    if state.num_processes == 1:
        return open_here()
    found: list = [None, None, None]
    if state.is_main_process:
        try:
            run, extra = open_here()
            found = [str(run.path), extra, None]
        except (ValueError, OSError) as e:
            found = [None, None, (isinstance(e, ValueError), str(e))]
    import torch.distributed as dist
    dist.broadcast_object_list(found, src=0)
    path, extra, error = found
    if error is not None:
        bad_value, message = error
        raise (ValueError if bad_value else OSError)(message)
    return Run(Path(path)), extra


def gather(state, obj) -> list:
    """``obj`` of every rank, in rank order, on every rank."""
    if state.num_processes == 1:
        return [obj]
    import torch.distributed as dist
    out: list = [None] * state.num_processes
    dist.all_gather_object(out, obj)
    return out
