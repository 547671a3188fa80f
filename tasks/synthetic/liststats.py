"""List statistics: mean, median, mode, population and sample variance, range.

Answers are exact (Fraction), written as an integer, a terminating decimal or a fraction
("10/3"); a program printing 3.3333333333333335 matches "10/3" within the tolerance.
"""
from __future__ import annotations

from fractions import Fraction

from tasks.base import format_number
from tasks.synthetic import Draft, bare, draw_list, worded


def _mean(xs) -> Fraction:
    return Fraction(sum(xs), len(xs))


def mean(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return worded(Draft(f"What is the average of {xs}?", format_number(_mean(xs)),
                        f"import statistics\nvalues = {xs}\nprint(statistics.mean(values))", xs, r),
                  f"Find the mean of these numbers: {bare(xs)}.",
                  f"Add up the values in {xs} and divide by how many there are. What do you get?",
                  f"Here is a list of measurements: {bare(xs)}. What is their arithmetic mean?")


def median(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    s, n = sorted(xs), len(xs)
    m = Fraction(s[n // 2]) if n % 2 else Fraction(s[n // 2 - 1] + s[n // 2], 2)
    return worded(Draft(f"What is the median of {xs}?", format_number(m),
                        f"import statistics\nvalues = {xs}\nprint(statistics.median(values))", xs, r),
                  f"Put these numbers in order and report their median: {bare(xs)}.",
                  f"A sensor logged the readings {xs}. Report the median reading.",
                  f"Given the data {bare(xs)}, compute the median.")


def mode(rng, d) -> Draft:
    distinct, r = draw_list(rng, d, distinct=True)
    winner = distinct[0]  # appears 3 times; every other value at most twice
    xs = [winner] * 3 + [x for x in distinct[1:] for _ in range(rng.randint(1, 2))]
    rng.shuffle(xs)
    return worded(Draft(f"Which number appears most often in {xs}?", str(winner),
                        f"import statistics\nvalues = {xs}\nprint(statistics.mode(values))", xs, r),
                  f"Find the most frequent value in this list: {bare(xs)}.",
                  f"Which value occurs more often than any other in {xs}?",
                  f"A survey recorded the answers {bare(xs)}. What is the mode of these answers?")


def _squares(xs) -> Fraction:
    m = _mean(xs)
    return sum((x - m) ** 2 for x in xs)


def population_variance(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return worded(Draft(f"What is the population variance of {xs}?",
                        format_number(_squares(xs) / len(xs)),
                        f"import statistics\nvalues = {xs}\nprint(statistics.pvariance(values))", xs, r),
                  f"Treat {xs} as a whole population and compute its variance.",
                  "Compute the variance of these numbers, dividing by the count of values: "
                  f"{bare(xs)}.",
                  f"Take the numbers {bare(xs)}. What is the mean squared deviation from their "
                  "mean?")


def sample_variance(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return worded(Draft(f"What is the sample variance of {xs}?",
                        format_number(_squares(xs) / (len(xs) - 1)),
                        f"import statistics\nvalues = {xs}\nprint(statistics.variance(values))", xs, r),
                  f"Treat {xs} as a sample and compute its unbiased variance.",
                  f"Compute the variance of these numbers with Bessel's correction: {bare(xs)}.",
                  f"These values are a sample from a larger group: {bare(xs)}. Estimate the "
                  "group's variance from them without bias.")


def spread(rng, d) -> Draft:
    xs, r = draw_list(rng, d)
    return worded(Draft(f"What is the range (largest minus smallest value) of {xs}?",
                        str(max(xs) - min(xs)),
                        f"values = {xs}\nprint(max(values) - min(values))", xs, r),
                  f"What is the difference between the largest and the smallest of {xs}?",
                  f"Subtract the minimum from the maximum of these numbers: {bare(xs)}.",
                  f"Daily temperatures were {bare(xs)}. By how much did the highest exceed the "
                  "lowest?")


TEMPLATES = {"mean": mean, "median": median, "mode": mode,
             "population_variance": population_variance,
             "sample_variance": sample_variance, "range": spread}
