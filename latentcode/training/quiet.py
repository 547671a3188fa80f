"""Library warnings that say nothing to a user of this project, silenced where they arise.

TRL (``unwrap_model_for_generation``, ``disable_gradient_checkpointing``) and PEFT
(``PeftModel.__init__``) read ``model.is_gradient_checkpointing``, which transformers 5
deprecates with a FutureWarning on every generation batch and every loss; the attribute is
theirs to change. Only that message is silenced, and only while a trainer is built or runs
(``@trl_deprecations()`` on the trainers' entry points).
"""
from __future__ import annotations

import contextlib
import warnings


@contextlib.contextmanager
def trl_deprecations():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield
