"""Rewards on what a program outputs, not on its tokens: the code is latent.

    rewards = CodeRewards(RewardConfig(mdl="ast", mdl_weight=0.2), tokenizer=tok)
    trainer = GRPOTrainer(..., reward_funcs=rewards.functions())

``functions()`` returns plain functions with TRL's reward signature
``(completions, **columns) -> list[float | None]``, each logged under its own name:
``correctness`` and, with a length measure, ``mdl``. Their sum is the reward.

The reward is a specification (docs/training.md; tests/test_reward_spec.py checks each
clause as a property over generated tasks and programs):

1. A correct program scores ``correct - mdl_weight * (correct - wrong) * L / (L + L0)``,
   where L is its length under ``mdl`` and L0 that measure's reference length
   (``mdl.reference_length``). So every correct program scores above
   ``correct - mdl_weight * (correct - wrong)``, which is above ``wrong`` (mdl_weight < 1):
   **every correct program outranks every program that is not correct, and length only
   reorders correct programs.** Programs that are not correct pay no length.
2. A program is correct only if its output depends on the question (``hardcode.check``:
   the output moves when the question's values move in the program, and for generated
   tasks it is right on a re-asked question too). One that does not scores ``hardcoded``,
   never more than ``wrong``, however right its answer.
3. Partial credit (list answers, off by default): ``wrong + partial_credit * (1 -
   mdl_weight) * (correct - wrong) * share right``, strictly between ``wrong`` and the
   lowest correct reward, and nothing for an output that echoes the question's numbers.
4. Failures keep their order: ``wrong >= error, timeout, hardcoded`` and
   ``error, timeout >= no_code, truncated``.

``RewardConfig`` refuses any setting that would break a clause, naming the field. The
completions of one call (a whole GRPO group, or several) run in one sandbox batch, and
their hard-coding copies in one more: both functions read the same executions, memoised
by (task, completion). Dataset columns: ``task_id``, ``answer``, ``family``, ``meta`` (JSON);
``tasks_to_rows`` makes them.
"""
from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable

from latentcode.config import setting
from latentcode.expert import hardcode
from latentcode.expert.samples import Generation
from latentcode.expert.grading import check_samples, grade_code
from latentcode.expert.hardcode import answer_is_input
from latentcode.expert.mdl import MEASURES, model_bits, program_length, reference_length
from sandbox.config import SandboxConfig, make_pool
from tasks.base import Task
from tasks.check import credit_beyond_question

FAILURE_STATUSES = ("error", "timeout", "memory", "output_limit", "blocked", "crashed",
                    "no_code", "truncated")


@dataclasses.dataclass
class RewardConfig:
    """The reward's parts and their order (docs/training.md). Flags: ``--reward-correct`` etc.
    and ``--mdl``, ``--mdl-weight``; YAML keys: the field names (or the ``reward_*`` aliases)."""
    correct: float = setting(1.0, "reward of a correct answer", "--reward-correct")
    wrong: float = setting(0.0, "ran, printed a wrong answer", "--reward-wrong")
    error: float = setting(-0.1, "raised, hit the memory or output limit, or was blocked", "--reward-error")
    timeout: float = setting(-0.1, "ran past the sandbox's timeout_s", "--reward-timeout")
    no_code: float = setting(-0.2, "no program in the reply", "--reward-no-code")
    truncated: float = setting(-0.2, "the token limit cut the program (never run)", "--reward-truncated")
    hardcoded: float = setting(0.0, "replaces the grade of a right answer its program did not compute; at most wrong")
    partial_credit: float = setting(0.0, "list answers: the share of (lowest correct - wrong) a fully partial "
                                    "answer may earn, in [0, 1); 0 is off")
    metamorphic: bool = setting(True, "the behavioural hard-coding check: re-run correct programs on the "
                                 "question with new numbers")
    reask_variants: int = setting(hardcode.REASKS, "generated questions: a right program must also be right on this many "
                                  "re-askings with other values (at least 4, two per class, for yes/no "
                                  "questions); more rejects more special cases (the median of odd-length "
                                  "lists only, a formula that fits two months' lengths)")
    mdl: str = setting("none", "length measure: none, " + ", ".join(MEASURES))
    mdl_weight: float = setting(0.0, "in [0, 1): the most a correct program can lose to its length, as a "
                                "share of (correct - wrong); half of it at the measure's reference length")
    mdl_on: str = setting("correct", "only 'correct': a length cost on wrong programs would let a short "
                                "wrong program outrank a long one")
    mdl_reference: str = setting("frozen", "model_bits under a frozen copy of the start model (the only "
                                      "choice: the policy's own log-probability is not a length)")

    def __post_init__(self):
        if self.reask_variants < 1:
            raise ValueError(f"reask_variants ({self.reask_variants}) must be at least 1")
        if self.mdl_reference != "frozen":
            raise ValueError(f"mdl_reference must be 'frozen', not {self.mdl_reference!r}: the policy's "
                             "own -log2 p(program) is not a length (training can shorten any program "
                             "by making it more likely)")
        if self.mdl not in ("none",) + MEASURES:
            raise ValueError(f"mdl must be 'none' or one of {', '.join(MEASURES)}, not {self.mdl!r}")
        if self.mdl_on != "correct":
            raise ValueError(f"mdl_on ({self.mdl_on!r}) must be 'correct': only correct programs "
                             "pay for their length, so length never reorders a wrong program "
                             "above a right one")
        if not 0 <= self.mdl_weight < 1:
            raise ValueError(f"mdl_weight ({self.mdl_weight}) must be in [0, 1): it is the share of "
                             "(correct - wrong) a correct program can lose to its length; at 1 "
                             "or more a long correct program would tie or lose to a wrong one")
        if self.mdl_weight > 0 and self.mdl == "none":
            raise ValueError("mdl_weight > 0 needs a length measure: set mdl to one of "
                             + ", ".join(MEASURES))
        if not 0 <= self.partial_credit < 1:
            raise ValueError(f"partial_credit ({self.partial_credit}) must be in [0, 1) so that "
                             "a partly right list stays below every correct answer; 0 turns it off")
        order = [("correct", "wrong", self.correct > self.wrong),
                 ("hardcoded", "wrong", self.hardcoded <= self.wrong),
                 ("error", "wrong", self.error <= self.wrong),
                 ("timeout", "wrong", self.timeout <= self.wrong),
                 ("no_code", "error", self.no_code <= min(self.error, self.timeout)),
                 ("truncated", "error", self.truncated <= min(self.error, self.timeout))]
        for field_name, other, ok in order:
            if not ok:
                raise ValueError(
                    f"{field_name} ({getattr(self, field_name)}) breaks the reward's order "
                    f"against {other} ({getattr(self, other)}): correct > wrong >= error, "
                    "timeout, hardcoded >= ... and error, timeout >= no_code, truncated; "
                    f"change {field_name}")

    def failure_value(self, status: str) -> float:
        if status == "timeout":
            return self.timeout
        if status in ("no_code", "truncated"):
            return getattr(self, status)
        return self.error

    @property
    def gap(self) -> float:
        return self.correct - self.wrong


@dataclasses.dataclass
class Scored:
    """One completion's execution and reward parts."""
    sample: object  # expert.Sample: what samples.jsonl records
    correctness: float
    length: float | None  # under the configured measure; None without a program
    metamorphic: str | None = None  # "moved", "stuck" (hard-coded), "unknown" or None (not checked)
    hardcoded_reason: str | None = None


def log_row(scored: Scored, **extra) -> dict:
    """The samples.jsonl row of a scored completion (bench's row, plus its reward, length and
    hard-coding verdict): the one place a training log row is built."""
    return {**scored.sample.to_dict(), "reward": scored.correctness, "length": scored.length,
            "metamorphic": scored.metamorphic, **extra}


COLUMNS = ("task_id", "question", "answer", "family", "meta")


def tasks_to_rows(tasks: list[Task]) -> list[dict]:
    """The dataset columns the reward functions read: the whole ``Task`` (its bare question
    included), so the reward grades the same task the bench does; the trainer adds
    ``prompt`` (the chat messages), which the reward never reads."""
    return [{"task_id": t.id, "question": t.prompt, "answer": t.answer, "family": t.family,
             "meta": json.dumps(t.meta, default=str)} for t in tasks]


def task_from_columns(task_id, question, answer, family, meta) -> Task:
    meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
    return Task(task_id, question, answer, family, meta)


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
    frozen copy to keep the measure fixed during training). ``on_scored(scored, step)`` is
    called once per distinct call with every completion of it (the trainers log samples with
    it). ``pool``: the sandbox pool to run on (the harness gives a run's training and held-out
    rewards one pool); by default a pool of its own.
    """

    def __init__(self, config: RewardConfig | None = None, *, sandbox_config: SandboxConfig | None = None,
                 tokenizer=None, length_model=None, on_scored: Callable | None = None,
                 max_completion_tokens: int | None = None, memo_size: int = 4096, pool=None):
        self.config = config or RewardConfig()
        self.sandbox = sandbox_config or SandboxConfig()
        self.tokenizer, self.length_model = tokenizer, length_model
        self.on_scored = on_scored
        self.max_completion_tokens = max_completion_tokens
        if self.config.mdl == "model_bits" and (length_model is None or tokenizer is None):
            raise ValueError("mdl='model_bits' needs length_model and tokenizer")
        if self.config.mdl == "model_bits" and any(p.requires_grad for p in length_model.parameters()):
            raise ValueError("mdl='model_bits' needs a frozen reference model (no parameter "
                             "requiring grad, e.g. copy.deepcopy(model).requires_grad_(False)): the "
                             "policy's own -log2 p(program) is not a length, since training can "
                             "shorten any program by making it more likely")
        if self.config.mdl == "tokens" and tokenizer is None:
            raise ValueError("mdl='tokens' needs the tokenizer")
        self._memo: OrderedDict = OrderedDict()
        self._logged: OrderedDict = OrderedDict()
        self._memo_size = memo_size
        # its own servers (started on first use), not the process's, unless a pool is shared
        self.pool = pool if pool is not None else make_pool(sandbox_config)
        self._unit: float | None = None  # the length measure's reference length, on first use

    # the core -----------------------------------------------------------------------------
    def evaluate(self, tasks: list[Task], texts: list[str], num_tokens: list[int] | None = None,
                 step: int | None = None) -> list[Scored]:
        """One Scored per (task, completion), in order; new ones run in one sandbox batch."""
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
            graded = grade_code([tasks[i] for i in fresh], gens, tokenizer=self.tokenizer,
                                sandbox_config=self.sandbox, pool=self.pool, check_hardcoding=False)
            scored = self._score([tasks[i] for i in fresh], [g[0] for g in graded])
            for i, o in zip(fresh, scored):
                self._remember(keys[i], o)
        out = [self._memo[k] for k in keys]
        # Log every completion of a call once: TRL calls each reward function with the same
        # batch, and a program generated twice (at two steps, or twice in a group) is two rows.
        call = (step, hash(tuple(keys)))
        if self.on_scored is not None and call not in self._logged:
            self._logged[call] = None
            while len(self._logged) > self._memo_size:
                self._logged.popitem(last=False)
            rows = [dataclasses.replace(o, sample=dataclasses.replace(o.sample, step=step))
                    for o in out]
            self.on_scored(rows, step)
        return [self._memo[k] for k in keys]

    def _score(self, tasks: list[Task], samples) -> list[Scored]:
        cfg = self.config
        out = []
        for task, s in zip(tasks, samples):
            if s.status != "ok":
                value = cfg.failure_value(s.status)
            elif s.correct:
                value = cfg.correct
            else:
                value = cfg.wrong + self._partial(task, s.answer)
            out.append(Scored(s, value, None))
        if cfg.metamorphic:
            self._hardcoding(tasks, out)
        self._lengths(out)
        return out

    def _partial(self, task: Task, answer: str | None) -> float:
        cfg = self.config
        if not cfg.partial_credit or answer_is_input(task, answer):
            return 0.0
        share = credit_beyond_question(answer, task.answer, task.prompt,
                                       case_sensitive=bool(task.meta.get("case_sensitive"))) or 0.0
        return cfg.partial_credit * (1 - cfg.mdl_weight) * cfg.gap * min(share, 1.0)

    def _hardcoding(self, tasks: list[Task], scored: list[Scored]) -> None:
        """Run the hard-coding check on every program that scored above ``wrong`` (one
        sandbox batch for all of them); one that fails it scores ``hardcoded``."""
        cfg = self.config
        todo = [(t, o) for t, o in zip(tasks, scored) if o.correctness > cfg.wrong]
        if not todo:
            return
        verdicts = check_samples([t for t, _ in todo], [o.sample for _, o in todo], pool=self.pool,
                                 limits=self.sandbox, variants=cfg.reask_variants)
        for (_, o), v in zip(todo, verdicts):
            if v is None:
                continue
            o.metamorphic = "stuck" if v.hardcoded else "unknown" if v.unknown else "moved"
            if v.hardcoded:
                o.correctness, o.hardcoded_reason = cfg.hardcoded, v.reason
            elif v.unknown:  # no evidence that it computes: not paid as right, not called hard-coded
                o.correctness, o.hardcoded_reason = min(o.correctness, cfg.wrong), v.reason

    def _lengths(self, scored: list[Scored]) -> None:
        cfg = self.config
        if cfg.mdl == "none":
            return
        with_code = [o for o in scored if o.sample.program]
        if cfg.mdl == "model_bits":
            bits = model_bits([o.sample.program for o in with_code], self.length_model, self.tokenizer)
            for o, b in zip(with_code, bits):
                o.length = b
        else:
            for o in with_code:
                o.length = program_length(o.sample.program, cfg.mdl, self.tokenizer)
        for o in with_code:
            o.sample.lengths[cfg.mdl] = o.length

    def length_unit(self) -> float:
        """L0: the configured measure's reference length (computed once)."""
        if self._unit is None:
            self._unit = reference_length(self.config.mdl, self.tokenizer, self.length_model)
        return self._unit

    def _remember(self, key, outcome) -> None:
        self._memo[key] = outcome
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)

    def mdl_value(self, o: Scored) -> float:
        """Minus the length cost: nonzero only for a correct program (clause 1)."""
        cfg = self.config
        if cfg.mdl == "none" or cfg.mdl_weight == 0 or o.length is None:
            return 0.0
        if not (o.sample.correct and o.correctness == cfg.correct):
            return 0.0
        unit = self.length_unit()
        return -cfg.mdl_weight * cfg.gap * o.length / (o.length + unit)

    # TRL's side ---------------------------------------------------------------------------
    def _from_trl(self, completions, kwargs) -> list[Scored]:
        n = len(completions)
        for col in COLUMNS:
            if col not in kwargs:
                raise KeyError(f"the dataset lacks the {col!r} column (the reward grades the "
                               "task itself, never a question read back from the prompt); build "
                               "rows with latentcode.training.rewards.tasks_to_rows(tasks)")
        tasks = [task_from_columns(*row) for row in zip(*(kwargs[c] for c in COLUMNS))]
        if len(tasks) != n:
            raise ValueError(f"{n} completions but {len(tasks)} dataset rows")
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

    def total(self, scored: list[Scored]) -> list[float]:
        """What the reward functions sum to, per outcome (evolution strategies' fitness)."""
        return [o.correctness + self.mdl_value(o) for o in scored]
