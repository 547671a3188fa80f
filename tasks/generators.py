"""Generated tasks: ``generate(family, n, seed=, difficulty=, wording=)`` and ``regenerate(task, seed)``.

Families (one file each in ``tasks/synthetic/``): liststats, arithmetic, strings, counting,
numtheory, dates, sorting, wordproblems. Templates take turns within a family, so any ``n`` covers them
evenly. Every task carries in ``meta``:

- ``reference_program``: a short program whose last printed line is the answer;
- ``template`` ("liststats.mean"), ``difficulty``, ``seed``: enough to ask the same question
  again with other numbers (``regenerate``), for a metamorphic hard-coding check;
- ``numbers`` (the quantities in the question) and ``number_range`` ([lo, hi] that holds
  every one of them at this difficulty), for held-out ranges in ``tasks.splits``;
- ``wording`` ("train" or "heldout": the set the question's wording came from) and
  ``wording_index`` (which wording of its template; 0 is the one every recorded figure used).

``wording="heldout"`` asks the same questions (same values, answers and reference programs)
in wordings written from scratch that no training run sees, taking turns through them.
The wording is chosen after the values are drawn and never from their ``rng``: training
wordings beyond wording 0 (``wordproblems``) are drawn by a separate rng.

Deterministic: task i of (family, seed, difficulty) draws from its own
``random.Random("family:seed:difficulty:i")``, so it does not depend on n or on other tasks.
"""
from __future__ import annotations

import random

from tasks.base import Task
from tasks.synthetic import (Draft, arithmetic, counting, dates, liststats, numtheory, sorting,
                             strings, wordproblems)

FAMILIES = {"liststats": liststats, "arithmetic": arithmetic, "strings": strings,
            "counting": counting, "numtheory": numtheory, "dates": dates, "sorting": sorting,
            "wordproblems": wordproblems}
MAX_DIFFICULTY = 5
WORDINGS = ("train", "heldout")


def generate(family: str, n: int, *, seed: int = 0, difficulty: int = 1,
             wording: str = "train") -> list[Task]:
    templates = list(_templates(family))
    _check_difficulty(difficulty)
    check_wording(wording)
    tasks = []
    for i in range(n):
        name = templates[i % len(templates)]
        key = f"{family}:{seed}:{difficulty}:{i}"
        draft = _templates(family)[name](random.Random(key), difficulty)
        index = _wording_index(draft, wording, key, i // len(templates), f"{family}.{name}")
        tasks.append(_task(f"{family}/{seed}-{difficulty}-{i}", family, name, draft, index,
                           seed=seed, difficulty=difficulty))
    return tasks


def check_wording(wording: str) -> None:
    if wording not in WORDINGS:
        raise ValueError(f"wording must be one of {', '.join(WORDINGS)}, not {wording!r}")


def _wording_index(draft: Draft, wording: str, key: str, round_: int, template: str) -> int:
    """Training: wording 0, or one of several drawn by an rng of its own (so the values'
    draws stay as they were). Held out: each round of the templates takes the next one."""
    trained = 1 + len(draft.train_wordings)
    if wording == "train":
        return 0 if trained == 1 else random.Random(f"{key}:wording").randrange(trained)
    if not draft.heldout_wordings:
        raise ValueError(f"{template} has no held-out wordings")
    return trained + round_ % len(draft.heldout_wordings)


def regenerate(task: Task, seed: int, *, answer: str | None = None, hard: bool = True) -> Task:
    """The same question (template, difficulty) with new numbers, deterministic in ``seed``.

    Tries for a different answer too, so a program that hard-codes the old one fails.
    ``answer``: for a yes/no template (``answer_classes``), the class the new question must
    have ("True" or "False"); its "no"s are near misses (an odd composite free of small
    factors, a palindrome with one inner letter changed, a century that is not a leap
    year; with ``hard`` False, nearer misses of another kind), so re-asks of both classes
    test the rule and not the class.
    """
    family, name = task.meta["template"].split(".")
    make, difficulty = _templates(family)[name], task.meta["difficulty"]
    index = task.meta.get("wording_index", 0)  # the same wording: re-asks keep the shape
    if answer is not None:
        if answer not in answer_classes(task):
            raise ValueError(f"{task.meta['template']} has no answer class {answer!r}; "
                             f"its classes: {answer_classes(task) or 'none (not a yes/no template)'}")
        classed = FAMILIES[family].CLASSED[name]
        make = lambda rng, d: classed(rng, d, answer == "True", hard)  # noqa: E731
    fallback = None
    for attempt in range(50):
        salt = "" if answer is None else f":{answer}" + ("" if hard else ":soft")
        draft = make(random.Random(f"{task.id}:regenerate:{seed}:{attempt}{salt}"), difficulty)
        if draft.wordings[index] == task.prompt:
            continue
        fallback = fallback or draft
        if answer is not None or draft.answer != task.answer:
            break
    else:
        draft = fallback
    if draft is None:
        raise ValueError(f"could not find new numbers for {task.id} ({task.meta['template']})")
    meta = {"seed": task.meta.get("seed"), "regenerated_from": task.id, "regenerate_seed": seed}
    kind = "" if answer is None else answer[0] + ("" if hard else "s")
    return _task(f"{task.id}/r{seed}{kind}", family, name, draft, index,
                 **meta, difficulty=difficulty)


def answer_classes(task: Task) -> tuple[str, ...]:
    """("True", "False") for a generated yes/no template that can draw either class on
    demand; () for every other task."""
    template = (task.meta or {}).get("template")
    if not isinstance(template, str) or "." not in template:
        return ()
    family, name = template.split(".", 1)
    if name not in getattr(FAMILIES.get(family), "CLASSED", {}):
        return ()
    return ("True", "False")


def _task(task_id: str, family: str, name: str, draft: Draft, index: int, **meta) -> Task:
    meta.update(template=f"{family}.{name}", reference_program=draft.program,
                numbers=list(draft.numbers),
                number_range=list(draft.number_range) if draft.number_range else None,
                wording="train" if index <= len(draft.train_wordings) else "heldout",
                wording_index=index)
    if draft.case_sensitive:
        meta["case_sensitive"] = True
    return Task(task_id, draft.wordings[index], draft.answer, family, meta)


def _templates(family: str) -> dict:
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[family].TEMPLATES


def _check_difficulty(difficulty: int) -> None:
    if not (isinstance(difficulty, int) and 1 <= difficulty <= MAX_DIFFICULTY):
        raise ValueError(f"difficulty must be an integer from 1 to {MAX_DIFFICULTY}, "
                         f"not {difficulty!r}")
