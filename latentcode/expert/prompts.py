"""What the experts say to the model: system prompts, worked examples, the request.

    PromptConfig(few_shot=2)                  # two PAL-style worked examples before the question
    code_messages(task, PromptConfig())       # chat messages asking for a program
    direct_messages(task, PromptConfig())     # the same question, answered in text

A code benchmark (``task.kind == "code"``) asks for a function and shows no examples; every
other task asks for a program that prints its answer.
"""
from __future__ import annotations

import dataclasses

from latentcode.config import setting

SYSTEM_CODE = ("You are a careful Python programmer. Solve the problem by writing one short "
               "Python program in a ```python code block. The program must compute the answer "
               "from the numbers in the question and print only the final answer on its last line.")
SYSTEM_FUNCTION = ("You are a careful Python programmer. Write the complete Python function "
                   "asked for in a ```python code block. Do not write tests or example calls.")
SYSTEM_DIRECT = ("Solve the problem. Think briefly, then give the final answer on the last line "
                 "as 'Answer: <answer>'.")

# PAL-style examples: the program names the quantities and computes the answer.
FEW_SHOT = [
    ("Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "money_initial = 23\nbagels = 5\nbagel_cost = 3\nmoney_spent = bagels * bagel_cost\n"
     "money_left = money_initial - money_spent\nprint(money_left)"),
    ("What is the median of [7, 1, 4, 9, 2]?",
     "import statistics\nvalues = [7, 1, 4, 9, 2]\nprint(statistics.median(values))"),
    ("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. "
     "How many golf balls did he have at the end of wednesday?",
     "golf_balls_initial = 58\nlost_tuesday = 23\nlost_wednesday = 2\n"
     "golf_balls_left = golf_balls_initial - lost_tuesday - lost_wednesday\nprint(golf_balls_left)"),
]
FEW_SHOT_DIRECT = [
    (FEW_SHOT[0][0], "She spent 5 * 3 = 15 dollars, so 23 - 15 = 8 are left.\nAnswer: 8"),
    (FEW_SHOT[1][0], "Sorted: [1, 2, 4, 7, 9]; the middle value is 4.\nAnswer: 4"),
    (FEW_SHOT[2][0], "58 - 23 = 35, then 35 - 2 = 33.\nAnswer: 33"),
]
# SmolLM2-135M ignores an instruction that is only in the system prompt (3 of 8 list
# questions got a program); restated after the question in the user turn, 8 of 8 did.
ASK_CODE = "Write a Python program that computes the answer and prints it."
ASK_FUNCTION = "Write the complete function in a ```python code block."
ASK_DIRECT = "Give the final answer on the last line as 'Answer: <answer>'."




@dataclasses.dataclass
class PromptConfig:
    few_shot: int = setting(0, f"PAL-style worked examples in the prompt (0-{len(FEW_SHOT)})")
    system_prompt: str | None = setting(None, "replaces the default system prompt")

    def __post_init__(self):
        if not 0 <= self.few_shot <= len(FEW_SHOT):
            raise ValueError(f"few_shot ({self.few_shot}) must be between 0 and {len(FEW_SHOT)}")


def _messages(task, cfg: PromptConfig, system: str, shots, ask: str, fence: bool) -> list[dict]:
    msgs = [{"role": "system", "content": cfg.system_prompt or system}]
    for question, answer in shots[:cfg.few_shot]:
        reply = f"```python\n{answer}\n```" if fence else answer
        msgs += [{"role": "user", "content": f"{question}\n{ask}"},
                 {"role": "assistant", "content": reply}]
    msgs.append({"role": "user", "content": f"{task.prompt}\n{ask}"})
    return msgs


def code_messages(task, cfg: PromptConfig) -> list[dict]:
    if task.kind == "code":
        return _messages(task, cfg, SYSTEM_FUNCTION, [], ASK_FUNCTION, fence=True)
    return _messages(task, cfg, SYSTEM_CODE, FEW_SHOT, ASK_CODE, fence=True)


def direct_messages(task, cfg: PromptConfig) -> list[dict]:
    return _messages(task, cfg, SYSTEM_DIRECT, FEW_SHOT_DIRECT, ASK_DIRECT, fence=False)
