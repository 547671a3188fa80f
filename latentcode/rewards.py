"""Rewards on what a program outputs, not on its tokens: the code is latent.

    rewards = CodeRewards(RewardConfig(mdl="ast", mdl_weight=0.01), tokenizer=tok)
    trainer = GRPOTrainer(..., reward_funcs=rewards.functions())

``functions()`` returns plain functions with TRL's reward signature
``(completions, **columns) -> list[float | None]``, each logged under its own name:

- ``correctness``: the executed output graded against the target: ``correct`` / ``wrong``
  (with partial credit for list answers), or the configured value for a program that timed
  out, failed, could not be extracted or was cut by the token limit. A program that prints
  a literal it did not compute gets ``hardcoded`` instead of its grade: found by the AST
  (``hardcode.prints_literal``) and, for generated tasks, by re-running it on the same
  question with other numbers (``hardcode.metamorphic_variant``);
- ``mdl``: minus ``mdl_weight`` times the program's length under ``mdl`` (tokens, AST
  nodes, zlib or lzma bits, or model bits), counted by default only against correct
  programs, so the model is never taught that a short wrong answer beats a long right one.

Their sum is correctness - lambda * length. The columns a dataset must carry: ``task_id``,
``answer``, ``family`` and ``meta`` (a JSON string); ``tasks_to_rows`` makes them. The
completions of one call (a whole GRPO group, or several) run in one sandbox batch, once:
both functions read the same executions, memoised by (task, completion).
"""
from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable

import sandbox
from latentcode.mdl import MEASURES, model_bits, program_length
from tasks.base import Task

FAILURE_STATUSES = ("error", "timeout", "memory", "output_limit", "blocked", "crashed",
                    "no_code", "truncated")


@dataclasses.dataclass
class RewardConfig:
    correct: float = 1.0
    wrong: float = 0.0  # ran, printed a wrong answer
    error: float = -0.1  # raised, or hit the memory/output limit, or was blocked
    timeout: float = -0.1
    no_code: float = -0.2  # no program in the reply
    truncated: float = -0.2  # the token limit cut the program: never run
    partial_credit: bool = True  # list answers: wrong + (correct - wrong) * fraction right
    rel_tol: float = 1e-4  # numeric answers
    hardcoded: float = 0.0  # replaces the grade of a program that prints an uncomputed literal
    metamorphic: bool = True  # also re-run correct programs of generated tasks on new numbers
    mdl: str = "none"  # none | tokens | ast | zlib | lzma | model_bits
    mdl_weight: float = 0.0  # lambda
    mdl_on: str = "correct"  # correct | all: which programs pay for their length
    timeout_s: float = 2.0
    memory_mb: int = 256

    def __post_init__(self):
        if self.mdl not in ("none",) + MEASURES:
            raise ValueError(f"mdl must be 'none' or one of {', '.join(MEASURES)}, not {self.mdl!r}")
        if self.mdl_on not in ("correct", "all"):
            raise ValueError(f"mdl_on must be 'correct' or 'all', not {self.mdl_on!r}")
        if self.mdl_weight < 0:
            raise ValueError(f"mdl_weight ({self.mdl_weight}) must be >= 0: it is the lambda "
                             "in correctness - lambda * length")
        if self.mdl_weight > 0 and self.mdl == "none":
            raise ValueError("mdl_weight > 0 needs a length measure: set mdl to one of "
                             + ", ".join(MEASURES))

    def failure_value(self, status: str) -> float:
        if status == "timeout":
            return self.timeout
        if status in ("no_code", "truncated"):
            return getattr(self, status)
        return self.error


@dataclasses.dataclass
class Outcome:
    """One completion's execution and reward parts."""
    sample: object  # expert.Sample: what samples.jsonl records
    correctness: float
    length: float | None  # under the configured measure; None without a program
    metamorphic: str | None = None  # "moved", "stuck" (hard-coded) or None (not checked)


def tasks_to_rows(tasks: list[Task]) -> list[dict]:
    """The dataset columns the reward functions read (``prompt`` is added by the trainer)."""
    return [{"task_id": t.id, "answer": t.answer, "family": t.family,
             "meta": json.dumps(t.meta, default=str)} for t in tasks]


def task_from_columns(task_id, answer, family, meta, prompt="") -> Task:
    meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
    return Task(task_id, prompt, answer, family, meta)


def completion_text(completion) -> str:
    """TRL passes a string, or for chat datasets a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    raise TypeError(f"a completion must be a string or a list of messages, not {type(completion).__name__}")


class CodeRewards:
    """Executes, grades and scores completions; hands TRL its reward functions.

    ``length_model``: the model whose -log2 p(program) is the ``model_bits`` length (pass a
    frozen copy to keep the measure fixed during training). ``on_outcomes(outcomes, step)``
    is called once per distinct call with every completion of it (the trainers log samples
    with it).
    """

    def __init__(self, config: RewardConfig | None = None, *, tokenizer=None, length_model=None,
                 on_outcomes: Callable | None = None, max_completion_tokens: int | None = None,
                 memo_size: int = 4096):
        self.config = config or RewardConfig()
        self.tokenizer, self.length_model = tokenizer, length_model
        self.on_outcomes = on_outcomes
        self.max_completion_tokens = max_completion_tokens
        if self.config.mdl == "model_bits" and (length_model is None or tokenizer is None):
            raise ValueError("mdl='model_bits' needs length_model and tokenizer")
        if self.config.mdl == "tokens" and tokenizer is None:
            raise ValueError("mdl='tokens' needs the tokenizer")
        self._memo: OrderedDict = OrderedDict()
        self._logged: OrderedDict = OrderedDict()
        self._memo_size = memo_size
        self.pool = sandbox.Pool()  # its own servers (started on first use), not the process's

    # the core -----------------------------------------------------------------------------
    def evaluate(self, tasks: list[Task], texts: list[str], num_tokens: list[int] | None = None,
                 step: int | None = None) -> list[Outcome]:
        """One Outcome per (task, completion), in order; new ones run in one sandbox batch."""
        from latentcode.expert import Generation
        from latentcode.grading import grade_completions
        keys = [(t.id, x) for t, x in zip(tasks, texts)]
        first = {}
        for i, k in enumerate(keys):
            if k not in self._memo:
                first.setdefault(k, i)  # a repeated completion runs once
        fresh = list(first.values())
        if fresh:
            gens = []
            for i in fresh:
                n = num_tokens[i] if num_tokens is not None else 0
                cut = self.max_completion_tokens is not None and n >= self.max_completion_tokens
                gens.append([Generation(texts[i], n, not cut)])
            graded = grade_completions([tasks[i] for i in fresh], gens, mode="code",
                                       tokenizer=self.tokenizer, timeout_s=self.config.timeout_s,
                                       memory_mb=self.config.memory_mb, pool=self.pool)
            outcomes = self._score([tasks[i] for i in fresh], [g[0] for g in graded])
            for i, o in zip(fresh, outcomes):
                self._remember(keys[i], o)
        out = [self._memo[k] for k in keys]
        # Log every completion of a call once: TRL calls each reward function with the same
        # batch, and a program generated twice (at two steps, or twice in a group) is two rows.
        call = (step, hash(tuple(keys)))
        if self.on_outcomes is not None and call not in self._logged:
            self._logged[call] = None
            while len(self._logged) > self._memo_size:
                self._logged.popitem(last=False)
            rows = [dataclasses.replace(o, sample=dataclasses.replace(o.sample, step=step))
                    for o in out]
            self.on_outcomes(rows, step)
        return [self._memo[k] for k in keys]

    def _score(self, tasks: list[Task], samples) -> list[Outcome]:
        from tasks.check import list_credit
        cfg = self.config
        out = []
        for task, s in zip(tasks, samples):
            if s.status != "ok":
                value = cfg.failure_value(s.status)
            elif s.correct:
                value = cfg.correct
            else:
                credit = list_credit(s.answer, task.answer, rel_tol=cfg.rel_tol) \
                    if cfg.partial_credit else None
                value = cfg.wrong + (cfg.correct - cfg.wrong) * (credit or 0.0)
            out.append(Outcome(s, value, None))
        if cfg.metamorphic:
            self._metamorphic(tasks, out)
        for o in out:
            if o.sample.hardcoded and o.correctness > cfg.wrong:
                o.correctness = cfg.hardcoded
        self._lengths(out)
        return out

    def _metamorphic(self, tasks: list[Task], outcomes: list[Outcome]) -> None:
        """Re-run programs that scored above ``wrong`` on the same question with new numbers."""
        from latentcode.grading import grade_program
        from latentcode.hardcode import metamorphic_variant
        from tasks.check import final_answer, is_correct
        checks = []
        for task, o in zip(tasks, outcomes):
            if o.sample.status == "ok" and o.correctness > self.config.wrong:
                v = metamorphic_variant(task, o.sample.program)
                if v is not None:
                    checks.append((task, o, *v))
        if not checks:
            return
        results = self.pool.run_many([code for *_, code in checks],
                                     timeout_s=self.config.timeout_s, memory_mb=self.config.memory_mb)
        for (task, o, variant, _), r in zip(checks, results):
            _, right = grade_program(variant, r)
            answer = final_answer(r.stdout, r.value) if r.ok else None
            stuck = not right and r.ok and is_correct(answer, task.answer)
            o.metamorphic = "stuck" if stuck else "moved"
            if stuck:
                o.sample.hardcoded = True

    def _lengths(self, outcomes: list[Outcome]) -> None:
        cfg = self.config
        if cfg.mdl == "none":
            return
        with_code = [o for o in outcomes if o.sample.program]
        if cfg.mdl == "model_bits":
            bits = model_bits([o.sample.program for o in with_code], self.length_model, self.tokenizer)
            for o, b in zip(with_code, bits):
                o.length = b
        else:
            for o in with_code:
                o.length = program_length(o.sample.program, cfg.mdl, self.tokenizer)
        for o in with_code:
            o.sample.lengths[cfg.mdl] = o.length

    def _remember(self, key, outcome) -> None:
        self._memo[key] = outcome
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)

    def mdl_value(self, o: Outcome) -> float:
        cfg = self.config
        if cfg.mdl == "none" or cfg.mdl_weight == 0 or o.length is None:
            return 0.0
        if cfg.mdl_on == "correct" and not o.sample.correct:
            return 0.0
        return -cfg.mdl_weight * o.length

    # TRL's side ---------------------------------------------------------------------------
    def _from_trl(self, completions, kwargs) -> list[Outcome]:
        n = len(completions)
        for col in ("task_id", "answer", "family"):
            if col not in kwargs:
                raise KeyError(f"the dataset lacks the {col!r} column; build rows with "
                               "latentcode.rewards.tasks_to_rows(tasks)")
        metas = kwargs.get("meta") or ["{}"] * n
        prompts = kwargs.get("prompts") or [""] * n
        tasks = [task_from_columns(i, a, f, m, _prompt_text(p)) for i, a, f, m, p in
                 zip(kwargs["task_id"], kwargs["answer"], kwargs["family"], metas, prompts)]
        ids = kwargs.get("completion_ids")
        num_tokens = [len(x) for x in ids] if ids is not None else None
        state = kwargs.get("trainer_state")
        step = getattr(state, "global_step", None)
        return self.evaluate(tasks, [completion_text(c) for c in completions], num_tokens, step)

    def functions(self) -> list[Callable]:
        """``[correctness]``, plus ``mdl`` when a length is weighted."""
        def correctness(completions, **columns) -> list[float | None]:
            return [o.correctness for o in self._from_trl(completions, columns)]

        def mdl(completions, **columns) -> list[float | None]:
            return [self.mdl_value(o) for o in self._from_trl(completions, columns)]

        funcs = [correctness]
        if self.config.mdl != "none" and self.config.mdl_weight > 0:
            funcs.append(mdl)
        return funcs

    def total(self, outcomes: list[Outcome]) -> list[float]:
        """What the reward functions sum to, per outcome (evolution strategies' fitness)."""
        return [o.correctness + self.mdl_value(o) for o in outcomes]


def _prompt_text(prompt) -> str:
    """The question, for the logs: the last user turn of a chat prompt."""
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else ""
    return prompt or ""
