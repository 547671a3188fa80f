"""latentcode: a small LM writes Python programs that a sandbox runs; trained on the programs'
output by GRPO, evolution strategies and EM over latent programs.

Layers (docs/architecture.md; tests/test_architecture.py checks them): ``commands`` (the
table of commands), then ``config`` / ``runs`` / ``moe`` / ``metrics`` / ``attention``, then
``models``, then ``expert`` and ``checkpoints``, then ``training`` / ``router`` / ``viewer``,
then ``evaluate`` (``latentcode bench``) and ``cli``. A module imports only layers below its
own, and inside a package only lower floors.

Imports: the heavy libraries (torch, transformers, TRL, PEFT, datasets, tqdm, safetensors,
matplotlib) are imported inside the function that needs them wherever a module is on the
path of ``latentcode --help`` or of a command that may not need them, so that the command
line starts fast; everywhere else, at the top. This is said here once, not at each import.
"""
