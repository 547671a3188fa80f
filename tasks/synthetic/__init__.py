"""Generated task families, one per file; ``tasks.generators`` is the entry point.

Each family module has ``TEMPLATES``: a dict of name -> ``template(rng, difficulty) ->
Draft``. A template draws its numbers from ``rng`` (scaled by ``difficulty``, 1-5), writes
the question as a person would ask it, computes the answer exactly in the host (Fraction,
datetime, integers; never by running the reference program) and writes a short reference
program that computes the same answer from the question's numbers.

Wordings: a template writes its question in every wording at once, after drawing its
values, so the choice of wording never touches ``rng``: ``prompt`` is wording 0 (the one
every recorded figure used), ``train_wordings`` are further training wordings (only
``wordproblems`` has them), and ``heldout_wordings`` are written from scratch and never
used for training. Every value stays one word, a bracketed or comma-separated list of
numbers, a quoted string or a "Month D, YYYY" date, so re-asks map (``hardcode.prompt_mapping``).
"""
from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass
class Draft:
    prompt: str
    answer: str
    program: str  # reference program: its last printed line is the answer
    numbers: list = dataclasses.field(default_factory=list)  # the quantities drawn
    number_range: tuple[int, int] | None = None  # (lo, hi) bounds on every one of them
    case_sensitive: bool = False  # for answers where case is the point (swapcase)
    train_wordings: tuple[str, ...] = ()  # further training wordings: wordings 1, 2, ...
    heldout_wordings: tuple[str, ...] = ()  # never trained on: numbered after the training ones

    @property
    def wordings(self) -> tuple[str, ...]:
        """Every wording of the question, by index: the training ones, then the held-out ones."""
        return (self.prompt, *self.train_wordings, *self.heldout_wordings)


def worded(draft: Draft, *heldout: str) -> Draft:
    """``draft`` with its held-out wordings."""
    return dataclasses.replace(draft, heldout_wordings=tuple(heldout))


def bare(xs) -> str:
    """A list written without brackets: "3, 0, 1, 300, 2"."""
    return ", ".join(map(str, xs))


def ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def draw_list(rng: random.Random, difficulty: int, *, distinct: bool = False) -> tuple[list[int], tuple[int, int]]:
    """A list of 5-14 integers from [0, 10**(difficulty+1)]: longer and larger with difficulty."""
    lo, hi = 0, 10 ** (difficulty + 1)
    n = rng.randint(5, 4 + 2 * difficulty)
    xs = rng.sample(range(lo, hi + 1), n) if distinct else [rng.randint(lo, hi) for _ in range(n)]
    return xs, (lo, hi)


NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jonas",
         "Kemi", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tara",
         "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe"]
