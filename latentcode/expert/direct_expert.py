"""The direct path: the same model answers in text, no program.

    expert = DirectExpert(model, tokenizer, ExpertConfig(num_samples=4))
    samples = expert.solve(tasks)           # one list of Sample per task, status "direct"

A reply ends at its first complete 'Answer: X' line; its answer is graded the way a
program's final printed line is (``tasks.check``). Code benchmarks are graded by running
code and have no direct path.
"""
from __future__ import annotations

import re

from latentcode.expert.base import Expert
from latentcode.expert.grading import grade_direct_replies
from latentcode.expert.prompts import direct_messages
from latentcode.expert.samples import Generation, Sample

_ANSWER_DONE = re.compile(r"answer\s*:[ \t]*\S[^\n]*\n", re.I)


def _has_answer_line(text: str) -> bool:
    return _ANSWER_DONE.search(text) is not None


class DirectExpert(Expert):
    def messages(self, task) -> list[dict]:
        return direct_messages(task, self.prompt_config)

    def answered(self, text: str) -> bool:
        return _has_answer_line(text)

    def grade_generations(self, tasks, gens: list[list[Generation]], gen_s: float = 0.0
                          ) -> list[list[Sample]]:
        return grade_direct_replies(tasks, gens, gen_s=gen_s)
