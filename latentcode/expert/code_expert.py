"""The code expert: question -> program -> sandbox -> answer.

    expert = CodeExpert(model, tokenizer, ExpertConfig(num_samples=4), prompt=PromptConfig(few_shot=2))
    samples = expert.solve(tasks)           # one list of Sample per task

It asks for a Python program (PAL style: the program computes, the interpreter answers),
stops a reply when its code block closes, runs every program of a batch in one sandbox
batch and grades the output (``latentcode.expert.grading``). ``DirectExpert`` asks the same
model for a text answer, so the two paths are compared on the same questions.
"""
from __future__ import annotations

from latentcode.expert.base import Expert, ExpertConfig  # noqa: F401 (re-exported)
from latentcode.expert.grading import grade_code
from latentcode.expert.prompts import PromptConfig, code_messages
from latentcode.expert.samples import Generation, Sample, direct_answer  # noqa: F401 (re-exported)
from sandbox.config import SandboxConfig, make_pool


def _has_closed_block(text: str) -> bool:
    return text.count("```") >= 2


class CodeExpert(Expert):
    def __init__(self, model, tokenizer, config: ExpertConfig | None = None, *,
                 prompt: PromptConfig | None = None, sandbox_config: SandboxConfig | None = None):
        super().__init__(model, tokenizer, config, prompt=prompt)
        self.sandbox = sandbox_config or SandboxConfig()
        self.pool = make_pool(self.sandbox)  # its own servers (or Ray actors), started on first use

    def messages(self, task) -> list[dict]:
        return code_messages(task, self.prompt_config)

    def answered(self, text: str) -> bool:
        return _has_closed_block(text)

    def grade_generations(self, tasks, gens: list[list[Generation]], gen_s: float = 0.0
                          ) -> list[list[Sample]]:
        """Extract, execute (one sandbox batch) and grade completions already generated."""
        return grade_code(tasks, gens, tokenizer=self.tokenizer, sandbox_config=self.sandbox,
                          gen_s=gen_s, pool=self.pool)
