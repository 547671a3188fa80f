"""Sorting and ranking: sort numbers either way, the k-th largest, the position of a value,
sort words, and rank people by score.

List answers are Python-style lists ("[1, 5, 9]", "['fig', 'pear']"); ``is_correct`` also
accepts "1, 5, 9". Values are distinct wherever a rank must be unambiguous.
"""
from __future__ import annotations

from tasks.synthetic import NAMES, Draft, bare, draw_list, ordinal, worded
from tasks.synthetic.strings import WORDS


def ascending(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return worded(Draft(f"Sort {xs} from smallest to largest.", str(sorted(xs)),
                 f"print(sorted({xs}))", xs, r),
                  f"Put these numbers in increasing order: {bare(xs)}.",
                  f"Arrange {xs} in ascending order.",
                  f"Order the values {bare(xs)} from lowest to highest.")


def descending(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return worded(Draft(f"Sort {xs} from largest to smallest.", str(sorted(xs, reverse=True)),
                 f"print(sorted({xs}, reverse=True))", xs, r),
                  f"Put these numbers in decreasing order: {bare(xs)}.",
                  f"Arrange {xs} in descending order.",
                  f"Order the values {bare(xs)} from highest to lowest.")


def kth_largest(rng, d) -> Draft:
    xs, r = draw_list(rng, d, distinct=True)
    k = rng.randint(1, len(xs))
    which = "largest" if k == 1 else f"{ordinal(k)} largest"
    return worded(Draft(f"What is the {which} number in {xs}?",
                        str(sorted(xs, reverse=True)[k - 1]),
                 f"values = {xs}\nprint(sorted(values, reverse=True)[{k} - 1])", xs, r),
                  f"Find the {which} value among {bare(xs)}.",
                  f"Sort {xs} from largest to smallest. Which number comes {ordinal(k)}?",
                  f"Of the numbers {bare(xs)}, which is the {which}?")


def position(rng, d) -> Draft:
    xs, r = draw_list(rng, d, distinct=True)
    x = rng.choice(xs)
    return worded(Draft(f"If {xs} is sorted from smallest to largest, at which position (counting "
                        f"from 1) does {x} end up?", str(sorted(xs).index(x) + 1),
                 f"values = {xs}\nprint(sorted(values).index({x}) + 1)", xs, r),
                  f"Sort {xs} in increasing order. At which place does {x} stand, if the smallest "
                  "is in first place?",
                  f"How many of the numbers {bare(xs)} are less than or equal to {x}?",
                  f"In the ascending ordering of {xs}, what is the place of {x}, where the "
                  "smallest value is in first place?")


def words(rng, d) -> Draft:
    ws = rng.sample(WORDS, rng.randint(4, 3 + 2 * d))
    return worded(Draft(f"Sort these words alphabetically: {', '.join(ws)}.", str(sorted(ws)),
                 f"print(sorted({ws}))"),
                  f"Put the words {', '.join(ws)} in dictionary order.",
                  f"Alphabetize this list: {', '.join(ws)}.",
                  f"Which order do the words {', '.join(ws)} take when sorted from A to Z?")


def _scores(rng, d):
    xs, r = draw_list(rng, d, distinct=True)
    people = rng.sample(NAMES, len(xs))
    told = ", ".join(f"{p} scored {x}" for p, x in zip(people, xs))
    ranked = [p for _, p in sorted(zip(xs, people), reverse=True)]
    return xs, r, people, told, ranked


def who_placed(rng, d) -> Draft:
    xs, r, people, told, ranked = _scores(rng, d)
    k = rng.randint(1, len(xs))
    return worded(Draft(f"In a quiz, {told}. Who came {ordinal(k)}, counting the highest score as 1st?",
                        ranked[k - 1],
                        f"scores = {dict(zip(people, xs))}\n"
                        f"print(sorted(scores, key=scores.get, reverse=True)[{k} - 1])", xs, r),
                  f"Quiz results: {told}. Counting the top score as first place, who finished "
                  f"{ordinal(k)}?",
                  f"Scores from a quiz: {told}. Ranked from highest to lowest score, who is in "
                  f"place {k}?",
                  f"All in one quiz, {told}. Who has the {ordinal(k)} highest score?")


def leaderboard(rng, d) -> Draft:
    xs, r, people, told, ranked = _scores(rng, d)
    return worded(Draft(f"In a quiz, {told}. List the players from the highest score to the lowest.",
                        str(ranked),
                 f"scores = {dict(zip(people, xs))}\n"
                 "print(sorted(scores, key=scores.get, reverse=True))", xs, r),
                  f"Quiz results: {told}. Rank the players from best to worst score.",
                  f"Scores from a quiz: {told}. Give the full order of the players from highest "
                  "to lowest score.",
                  f"All in one quiz, {told}. Write the leaderboard, highest score first.")


TEMPLATES = {"ascending": ascending, "descending": descending, "kth_largest": kth_largest,
             "position": position, "words": words, "who_placed": who_placed,
             "leaderboard": leaderboard}
