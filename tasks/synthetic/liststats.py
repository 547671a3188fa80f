"""List statistics: mean, median, mode, population and sample variance, range.

Answers are exact (Fraction), written as an integer, a terminating decimal or a fraction
("10/3"); a program printing 3.3333333333333335 matches "10/3" within the tolerance.
"""
from __future__ import annotations

from fractions import Fraction

from tasks.base import format_number
from tasks.synthetic import Draft, draw_list


def _mean(xs) -> Fraction:
    return Fraction(sum(xs), len(xs))


def mean(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return Draft(f"What is the average of {xs}?", format_number(_mean(xs)),
                 f"import statistics\nvalues = {xs}\nprint(statistics.mean(values))", xs, r)


def median(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    s, n = sorted(xs), len(xs)
    m = Fraction(s[n // 2]) if n % 2 else Fraction(s[n // 2 - 1] + s[n // 2], 2)
    return Draft(f"What is the median of {xs}?", format_number(m),
                 f"import statistics\nvalues = {xs}\nprint(statistics.median(values))", xs, r)


def mode(rng, d) -> Draft:
    distinct, r = draw_list(rng, d, distinct=True)
    winner = distinct[0]  # appears 3 times; every other value at most twice
    xs = [winner] * 3 + [x for x in distinct[1:] for _ in range(rng.randint(1, 2))]
    rng.shuffle(xs)
    return Draft(f"Which number appears most often in {xs}?", str(winner),
                 f"import statistics\nvalues = {xs}\nprint(statistics.mode(values))", xs, r)


def _squares(xs) -> Fraction:
    m = _mean(xs)
    return sum((x - m) ** 2 for x in xs)


def population_variance(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return Draft(f"What is the population variance of {xs}?",
                 format_number(_squares(xs) / len(xs)),
                 f"import statistics\nvalues = {xs}\nprint(statistics.pvariance(values))", xs, r)


def sample_variance(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return Draft(f"What is the sample variance of {xs}?",
                 format_number(_squares(xs) / (len(xs) - 1)),
                 f"import statistics\nvalues = {xs}\nprint(statistics.variance(values))", xs, r)


def spread(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return Draft(f"What is the range (largest minus smallest value) of {xs}?",
                 str(max(xs) - min(xs)),
                 f"values = {xs}\nprint(max(values) - min(values))", xs, r)


TEMPLATES = {"mean": mean, "median": median, "mode": mode,
             "population_variance": population_variance,
             "sample_variance": sample_variance, "range": spread}
