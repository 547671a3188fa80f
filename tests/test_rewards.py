"""Output-level rewards, the MDL term and the hard-coding checks, through real executions."""
from __future__ import annotations

import json

import pytest

from latentcode.expert.hardcode import prompt_mapping, reasks, substitute
from latentcode.expert.mdl import model_bits, program_length
from latentcode.models import load_model
from latentcode.training.rewards import COLUMNS, CodeRewards, RewardConfig, completion_text, tasks_to_rows
from tasks.base import Task
from tasks.check import list_credit
from tasks.generators import generate

FENCE = "```"


def block(code: str) -> str:
    return f"{FENCE}python\n{code}\n{FENCE}"


MEAN = generate("liststats", 1, seed=1)[0]  # "What is the average of [35, 38, 24, 61, 64]?" -> 44.4
VALUES = str(MEAN.meta["numbers"])
SORT = Task("s0", "Sort [3, 1, 2] ascending.", "[1, 2, 3]", "sorting", {})


def call(rewards, tasks, texts, **extra):
    """As TRL calls a reward function: columns repeated per completion, keyword arguments,
    and the prompts as chat messages (which the reward must not read the question from)."""
    cols = {k: [r[k] for r in tasks_to_rows(tasks)] for k in COLUMNS}
    prompts = [[{"role": "system", "content": "Answer with a program."},
                {"role": "user", "content": f"Question: {t.prompt}"}] for t in tasks]
    return {f.__name__: f(completions=texts, prompts=prompts, **cols, **extra)
            for f in rewards.functions()}


def test_each_outcome_gets_its_configured_value():
    cfg = RewardConfig(error=-0.3, timeout=-0.4, no_code=-0.5, truncated=-0.6, wrong=0.1)
    texts = [block(f"import statistics\nprint(statistics.mean({VALUES}))"),
             block("print(44)"),
             block("print(1 / 0)"),
             block("while True:\n    pass"),
             "I think it is about 44.",
             f"{FENCE}python\nimport statistics\nprint(statistics.mean("]
    out = call(CodeRewards(cfg, max_completion_tokens=10), [MEAN] * len(texts), texts,
               completion_ids=[[0] * 5] * 5 + [[0] * 10])
    assert out["correctness"] == [1.0, 0.1, -0.3, -0.4, -0.5, -0.6]


def test_a_memorised_constant_earns_nothing_even_when_right():
    texts = [block("print(44.4)"),  # AST: a literal
             block("answer = 44.4\nprint(f'The answer is {answer}')"),  # AST: a name bound to one
             block(f"values = {VALUES}\nprint(sum(values) / len(values))")]
    rewards = CodeRewards(RewardConfig(hardcoded=-0.25))
    assert call(rewards, [MEAN] * 3, texts)["correctness"] == [-0.25, -0.25, 1.0]


def test_the_metamorphic_check_catches_what_the_ast_check_misses():
    # computes something from the question's numbers, then prints the answer it memorised
    sneaky = block(f"values = {VALUES}\ntotal = sum(values)\nprint(round(total / total * 44.4, 1))")
    honest = block(f"values = {VALUES}\nprint(sum(values) / len(values))")
    on = CodeRewards(RewardConfig(metamorphic=True))
    off = CodeRewards(RewardConfig(metamorphic=False))
    assert call(off, [MEAN] * 2, [sneaky, honest])["correctness"] == [1.0, 1.0]
    assert call(on, [MEAN] * 2, [sneaky, honest])["correctness"] == [0.0, 1.0]
    [o_sneaky, o_honest] = on.evaluate([MEAN] * 2, [sneaky, honest])
    assert (o_sneaky.metamorphic, o_honest.metamorphic) == ("stuck", "moved")
    assert o_sneaky.sample.hardcoded and not o_honest.sample.hardcoded


def test_a_re_asked_question_rewrites_every_redrawn_value():
    [reask], wanted = reasks(MEAN, 1)
    variant, codes = reask.task, reask.programs(MEAN.meta["reference_program"])
    assert variant.answer != MEAN.answer and variant.meta["template"] == MEAN.meta["template"]
    assert str(variant.meta["numbers"]) in codes[0] and wanted == 1
    assert substitute("x = -5 + 2\nprint(x * 2.5)", {5: 7, 2: 3}) == "x = -7 + 3\nprint(x * 2.5)"
    assert prompt_mapping("Add 1 and 1.", "Add 2 and 3.") is None  # one old value, two new ones
    assert reasks(SORT, 1) == ([], 0)  # not a generated task


def test_list_answers_get_partial_credit():
    assert list_credit("[1, 2, 9]", "[1, 2, 3]") == pytest.approx(2 / 3)
    assert list_credit("[1, 2, 3, 4]", "[1, 2, 3]") == pytest.approx(3 / 4)
    assert list_credit("7", "7") is None and list_credit(None, "[1]") == 0.0
    texts = [block("ys = sorted([3, 1, 2])\nys[2] = 9\nprint(ys)"), block("print(sorted([3, 1, 2]))")]
    # off by default; on, a share of the gap below the lowest correct reward, for the
    # positions right beyond the question's own order or its reverse ([2, 1, 3] gets 1 of 3):
    # (2/3 - 1/3) / (1 - 1/3) = 1/2
    on = call(CodeRewards(RewardConfig(partial_credit=0.5)), [SORT] * 2, texts)["correctness"]
    off = call(CodeRewards(RewardConfig()), [SORT] * 2, texts)["correctness"]
    assert on == [pytest.approx(0.5 * 1 / 2), 1.0] and off == [0.0, 1.0]


def test_mdl_charges_correct_programs_only():
    short = block(f"import statistics\nprint(statistics.mean({VALUES}))")
    long_ = block(f"values = {VALUES}\ntotal = 0\nfor v in values:\n    total = total + v\n"
                  "count = len(values)\nmean = total / count\nprint(mean)")
    wrong = block(f"values = {VALUES}\nprint(sum(values))")
    rewards = CodeRewards(RewardConfig(mdl="ast", mdl_weight=0.01))
    out = call(rewards, [MEAN] * 3, [short, long_, wrong])
    assert [f.__name__ for f in rewards.functions()] == ["correctness", "mdl"]
    assert out["mdl"][2] == 0.0  # a wrong program is not taught to be short
    assert out["mdl"][0] < 0 and out["mdl"][1] < out["mdl"][0]
    totals = [c + m for c, m in zip(out["correctness"], out["mdl"])]
    assert totals[0] > totals[1] > totals[2]
    with pytest.raises(ValueError, match="mdl_on"):  # it would let short wrong programs climb
        RewardConfig(mdl="ast", mdl_weight=0.01, mdl_on="all")


def test_the_group_runs_once_for_both_functions():
    seen = []
    rewards = CodeRewards(RewardConfig(mdl="zlib", mdl_weight=0.001),
                          on_scored=lambda scored, step: seen.append((len(scored), step)))

    class State:
        global_step = 7

    texts = [block("print(1)"), block("print(2)"), block("print(1)")]
    call(rewards, [MEAN] * 3, texts, trainer_state=State())
    assert seen == [(3, 7)]  # both functions read one execution; every completion is a row
    State.global_step = 8
    call(rewards, [MEAN] * 3, texts, trainer_state=State())  # the same programs a step later
    assert seen == [(3, 7), (3, 8)]


def test_chat_completions_and_missing_columns():
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    [f] = CodeRewards().functions()
    with pytest.raises(KeyError, match="tasks_to_rows"):
        f(completions=["x"], answer=["1"])
    assert json.loads(tasks_to_rows([MEAN])[0]["meta"])["template"] == "liststats.mean"


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="mdl must be"):
        RewardConfig(mdl="bytes")
    with pytest.raises(ValueError, match="needs a length measure"):
        RewardConfig(mdl_weight=0.1)
    with pytest.raises(ValueError, match="mdl_weight"):
        RewardConfig(mdl="ast", mdl_weight=-1)
    with pytest.raises(ValueError, match="needs length_model"):
        CodeRewards(RewardConfig(mdl="model_bits", mdl_weight=0.1))


def test_lengths_and_model_bits():
    model, tok = load_model("tiny", device="cpu")
    code = "x = 1\nprint(x)"
    assert program_length(code, "ast", None) > program_length("1", "ast", None)
    assert program_length(code, "tokens", tok) == len(tok(code, add_special_tokens=False)["input_ids"])
    with pytest.raises(ValueError, match="unknown length measure"):
        program_length(code, "lines", tok)
    bits = model_bits([code, code + "\nprint(x + 1)", code], model, tok)
    assert bits[0] == pytest.approx(bits[2], rel=1e-5)  # batching and padding change nothing
    assert bits[1] > bits[0] > 0
    # a random tiny model spends about log2(vocab) bits per token
    n = len(tok(code, add_special_tokens=False)["input_ids"])
    assert 0.5 * n * 8.6 < bits[0] < 2 * n * 8.6
