"""Training on the program's output: the rewards, the trainer harness and three trainers.

- ``rewards``: the reward specification (``CodeRewards``, docs/training.md);
- ``heldout``, ``programs``, ``distributed``, ``summary``, ``quiet``, ``prefix_logps``:
  held-out evaluation and the run folder's logs, sampling and keeping programs, several
  processes, the printed summary, silenced library warnings, GRPO's log-probabilities with
  the shared prompt start run once;
- ``harness``: what every trainer shares (run folder, resume, rewards, held-out evaluation,
  checkpoints, ``main``); a trainer file holds only its algorithm; ``trl_callbacks``: the
  same logs from inside TRL's loop (GRPO's);
- ``grpo`` (TRL's GRPOTrainer), ``es`` + ``es_algorithm`` (evolution strategies), ``em``
  (EM over latent programs).

Imports the expert, tasks and sandbox below it (docs/architecture.md); no trainer imports
another.
"""
