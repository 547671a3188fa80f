"""The table of commands: every kind of run folder and the command that makes it.

The command line dispatches on it (``latentcode train <kind>``), resume and warm starts check
a run folder's kind against it, summaries read a trainer's unit from it; a new trainer is one
more row. It imports nothing, so `latentcode --help` stays fast.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Command:
    """One row of the command table: a kind of run folder and the command that makes it."""
    kind: str  # what config.json records under "kind"
    command: str  # what the user types
    module: str  # where its ``main(argv)`` is (imported when the command runs)
    summary: str  # one line for ``latentcode train --help``
    unit: str = "steps"  # what a training step is called in summaries
    resumes: bool = True  # ``--resume RUN`` continues a folder of this kind
    warm_starts: bool = False  # its checkpoints can start another trainer (``--init-from``)
    # defaults for the random `tiny` model (--model tiny: tests and smoke runs), which would
    # otherwise write 256-token programs for 256 questions; a flag or YAML key still wins
    tiny: dict = dataclasses.field(default_factory=dict)
    # old setting names whose meaning moved: {old: new}; the old name is refused, naming the new
    renamed: dict = dataclasses.field(default_factory=dict)


COMMANDS = {c.kind: c for c in (
    Command("bench", "latentcode bench", "latentcode.evaluate",
            "run a suite with the code expert (or direct answers) and log every program"),
    Command("grpo", "latentcode train grpo", "latentcode.training.grpo",
            "policy gradient through TRL's GRPOTrainer", warm_starts=True,
            tiny={"num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 16,
                  "train_size": 8, "eval_size": 4}),
    Command("es", "latentcode train es", "latentcode.training.es",
            "evolution strategies: antithetic weight perturbations", warm_starts=True,
            tiny={"population": 4, "tasks_per_step": 2, "max_new_tokens": 16, "train_size": 8, "eval_size": 4},
            # ES's batch_size was its tasks per step; batch_size is now the decoder's rows, everywhere
            renamed={"batch_size": "tasks_per_step"}),
    Command("em", "latentcode train em", "latentcode.training.em",
            "EM over latent programs with an Occam prior: keep the right ones, fine-tune on them",
            unit="iterations", warm_starts=True,
            tiny={"questions": 4, "num_samples": 2, "max_new_tokens": 16, "train_size": 8, "eval_size": 4}),
    Command("router", "latentcode train router", "latentcode.router.train",
            "per question, the code expert or the direct answer: fitted on both paths' outcomes "
            "(`latentcode bench --mode both`)", resumes=False),
)}
TRAINERS = [k for k in COMMANDS if COMMANDS[k].command.startswith("latentcode train ")]
TINY_DEFAULTS = {k: c.tiny for k, c in COMMANDS.items() if c.tiny}


def resume_command(kind: str | None, path) -> str | None:
    """The command that continues a run folder of ``kind`` (None: that kind does not resume)."""
    command = COMMANDS.get(kind) if isinstance(kind, str) else None
    return f"{command.command} --resume {path}" if command is not None and command.resumes else None
