"""The code expert and what it needs to answer a question by running a program.

``samples`` (Generation, Sample), ``decode`` (the batched decoder), ``extract`` (the program
in a reply), ``code_expert`` (prompts, generation, CodeExpert), ``grading`` (run and grade a
batch), ``hardcode`` (does the output depend on the question?), ``mdl`` (program length).
Imports tasks and sandbox below it, never the trainers (docs/architecture.md).
"""
