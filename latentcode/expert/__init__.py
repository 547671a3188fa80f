"""The two ways the model answers, and what they need.

``base`` (Expert: batched generation), ``sampling`` (ExpertConfig: the ``expert`` section), ``code_expert``
(CodeExpert: a program, run in the sandbox), ``direct_expert`` (DirectExpert: a text answer),
``prompts`` (PromptConfig and what each path asks), ``samples`` (Generation, Sample),
``decode`` (the batched decoder), ``extract`` (the program in a reply), ``grading`` (run and
grade a batch), ``hardcode`` (does the output depend on the question?), ``mdl`` (program
length). Imports tasks and sandbox below it, never the trainers (docs/architecture.md);
inside, the floors pyparse/samples/sampling/prompts/decode < extract/hardcode < mdl <
grading/base < code_expert/direct_expert (tests/test_architecture.py).
"""
