"""Training on the program's output: rewards, the task split and held-out evaluation, GRPO
(TRL) and evolution strategies. Imports the expert, tasks and sandbox below it
(docs/architecture.md).
"""
