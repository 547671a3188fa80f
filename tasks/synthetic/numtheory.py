"""Number theory: gcd, lcm, primality, the k-th prime, counting primes, digit sums,
remainders, largest prime factors and divisor counts.

Sizes are capped so that a plain Python answer (trial division, a sieve) runs well inside
the sandbox's default 2 s: primes are counted below at most 200,000 and factored numbers
stay below 10**8.
"""
from __future__ import annotations

import functools
import math

from tasks.synthetic import Draft, ordinal, worded

_IS_PRIME = ("def is_prime(n):\n    if n < 2:\n        return False\n    i = 2\n"
             "    while i * i <= n:\n        if n % i == 0:\n            return False\n"
             "        i += 1\n    return True\n")


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % i for i in range(2, math.isqrt(n) + 1))


@functools.lru_cache(maxsize=64)
def _primes_below(n: int) -> tuple[int, ...]:
    sieve = bytearray([1]) * n
    sieve[:2] = b"\x00\x00"
    for i in range(2, math.isqrt(n - 1) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(range(i * i, n, i)))
    return tuple(i for i in range(n) if sieve[i])


def _big(d) -> tuple[int, int]:
    return (2, min(10 ** (d + 2), 10 ** 8 - 1))


def gcd(rng, d) -> Draft:
    g = rng.randint(2, 10 ** d * 5)
    a, b = g * rng.randint(2, 10 ** d * 5), g * rng.randint(2, 10 ** d * 5)
    return worded(Draft(f"What is the greatest common divisor of {a} and {b}?", str(math.gcd(a, b)),
                 f"import math\nprint(math.gcd({a}, {b}))", [a, b], (4, 25 * 10 ** (2 * d))),
                  f"Find the highest common factor of {a} and {b}.",
                  f"What is the largest integer that divides both {a} and {b}?",
                  f"Which is the greatest divisor that {a} and {b} have in common?")


def lcm(rng, d) -> Draft:
    a, b = rng.randint(2, 10 ** (d + 1)), rng.randint(2, 10 ** (d + 1))
    return worded(Draft(f"What is the least common multiple of {a} and {b}?", str(math.lcm(a, b)),
                 f"import math\nprint(math.lcm({a}, {b}))", [a, b], (2, 10 ** (d + 1))),
                  f"Find the lowest common multiple of {a} and {b}.",
                  f"What is the smallest positive integer divisible by both {a} and {b}?",
                  f"A red light flashes every {a} seconds and a green light every {b} seconds. "
                  "After how many seconds do they first flash together again?")


def is_prime(rng, d) -> Draft:
    lo, hi = _big(d)
    n = rng.randint(lo, hi)
    if rng.random() < 0.5:  # half the questions are about a prime
        while not _is_prime(n):
            n += 1
    return _prime(n, lo, hi)


def is_prime_of_class(rng, d, want: bool, hard: bool = True) -> Draft:
    """A primality question whose answer is ``want``; every "no" is odd, so parity is wrong
    on it, and a ``hard`` one is free of the factors 3, 5 and 7 too where the range allows
    (a product of two primes from 11 up), so a few divisibility checks are wrong on it."""
    lo, hi = _big(d)
    for _ in range(200):
        n = rng.randint(max(lo, 4), hi)
        if want:
            while not _is_prime(n):
                n += 1
        elif hard and hi >= 121:
            p = rng.choice([x for x in _primes_below(min(math.isqrt(hi) + 1, 10_000)) if x >= 11])
            n = p * rng.choice([x for x in _primes_below(min(hi // p + 1, 200_000)) if x >= p] or [p])
        else:
            n = n | 1
            if _is_prime(n):
                continue
        if lo <= n <= hi and _is_prime(n) == want:
            return _prime(n, lo, hi)
    raise ValueError(f"no {'prime' if want else 'composite'} found in [{lo}, {hi}]")


def _prime(n: int, lo: int, hi: int) -> Draft:
    return worded(Draft(f"Is {n} a prime number?", str(_is_prime(n)),
                        f"{_IS_PRIME}print(is_prime({n}))", [n], (lo, hi)),
                  f"Determine whether {n} is prime.",
                  f"Would a mathematician call {n} a prime number?",
                  f"True or false: {n} is a prime number.")


def nth_prime(rng, d) -> Draft:
    k = rng.randint(1, 10 ** min(d + 1, 3))
    p = _primes_below(10_000)[k - 1]  # the 1000th prime is 7919
    return worded(Draft(f"What is the {ordinal(k)} prime number?", str(p),
                 f"{_IS_PRIME}count, n = 0, 1\nwhile count < {k}:\n    n += 1\n"
                 "    if is_prime(n):\n        count += 1\nprint(n)", [k], (1, 10 ** min(d + 1, 3))),
                  f"List the primes in increasing order. Which of them is in position {k}?",
                  f"Which prime comes {ordinal(k)} in the sequence of primes?",
                  f"Find the {ordinal(k)} smallest prime.")


def count_primes(rng, d) -> Draft:
    n = rng.randint(10, min(10 ** (d + 2), 200_000))
    sieve = (f"n = {n}\nsieve = [True] * n\nsieve[:2] = [False, False]\n"
             "for i in range(2, int(n ** 0.5) + 1):\n    if sieve[i]:\n"
             "        for j in range(i * i, n, i):\n            sieve[j] = "
             "False\nprint(sum(sieve))")
    return worded(Draft(f"How many prime numbers are there below {n}?", str(len(_primes_below(n))),
                 sieve, [n], (10, min(10 ** (d + 2), 200_000))),
                  f"Count the primes less than {n}.",
                  f"How many primes lie strictly below {n}?",
                  f"What is the number of prime numbers smaller than {n}?")


def digit_sum(rng, d) -> Draft:
    n = rng.randint(10, 10 ** (3 * d + 3))
    return worded(Draft(f"What is the sum of the digits of {n}?", str(sum(map(int, str(n)))),
                 f"print(sum(int(c) for c in str({n})))", [n], (10, 10 ** (3 * d + 3))),
                  f"Add up the digits of {n}.",
                  f"What do the digits of the number {n} add up to?",
                  f"If you sum every digit in {n}, what total do you get?")


def remainder(rng, d) -> Draft:
    a, b = rng.randint(10, 10 ** (2 * d + 2)), rng.randint(2, 10 ** (d + 1))
    return worded(Draft(f"What is the remainder when {a} is divided by {b}?", str(a % b),
                 f"print({a} % {b})", [a, b], (2, 10 ** (2 * d + 2))),
                  f"What is {a} modulo {b}?",
                  f"Divide {a} by {b}. What is left over?",
                  f"What remains after {a} is split into as many groups of {b} as possible?")


def largest_prime_factor(rng, d) -> Draft:
    lo, hi = _big(d)
    n = rng.randint(max(lo, 4), hi)
    m, f, largest = n, 2, 1
    while f * f <= m:
        while m % f == 0:
            m, largest = m // f, f
        f += 1
    largest = max(largest, m) if m > 1 else largest
    return worded(Draft(f"What is the largest prime factor of {n}?", str(largest),
                 f"n, factor, largest = {n}, 2, 1\nwhile factor * factor <= n:\n"
                 "    while n % factor == 0:\n        n, largest = n // factor, factor\n"
                 "    factor += 1\nprint(max(largest, n) if n > 1 else largest)", [n], (4, hi)),
                  f"Which is the biggest prime that divides {n}?",
                  f"Factor {n} into primes. What is the largest of those primes?",
                  f"Find the greatest prime divisor of {n}.")


def divisor_count(rng, d) -> Draft:
    lo, hi = _big(d)
    n = rng.randint(lo, hi)
    count = sum(2 - (i * i == n) for i in range(1, math.isqrt(n) + 1) if n % i == 0)
    return worded(Draft(f"How many positive divisors does {n} have?", str(count),
                 f"n = {n}\ncount = 0\ni = 1\nwhile i * i <= n:\n    if n % i == 0:\n"
                 "        count += 1 if i * i == n else 2\n    i += 1\nprint(count)", [n], (lo, hi)),
                  f"Count the positive divisors of {n}.",
                  f"How many positive integers divide {n} evenly?",
                  f"How many positive whole numbers are factors of {n}?")


# Yes/no templates: a question of either class on demand, for re-asks that test the rule.
CLASSED = {"is_prime": is_prime_of_class}

TEMPLATES = {"gcd": gcd, "lcm": lcm, "is_prime": is_prime, "nth_prime": nth_prime,
             "count_primes": count_primes, "digit_sum": digit_sum, "remainder": remainder,
             "largest_prime_factor": largest_prime_factor, "divisor_count": divisor_count}
