"""Counting and combinatorics: combinations, permutations, handshakes, menus, multiples in
a range, anagrams, subsets and lattice paths. Sizes grow with difficulty; answers are
exact integers (they get long: 40 choose 20 has 12 digits).
"""
from __future__ import annotations

import math
from collections import Counter

from tasks.synthetic import Draft
from tasks.synthetic.strings import WORDS


def _n(rng, d) -> int:
    return rng.randint(4, 5 + 10 * d)


def _range(d) -> tuple[int, int]:
    return (1, 5 + 10 * d)


def choose(rng, d) -> Draft:
    n = _n(rng, d)
    k = rng.randint(2, n - 1)
    return Draft(f"In how many ways can a team of {k} be chosen from {n} people?",
                 str(math.comb(n, k)), f"import math\nprint(math.comb({n}, {k}))", [k, n], _range(d))


def orders(rng, d) -> Draft:
    n = rng.randint(3, 4 + 4 * d)
    return Draft(f"In how many different orders can {n} runners finish a race if there are no ties?",
                 str(math.factorial(n)), f"import math\nprint(math.factorial({n}))", [n], _range(d))


def shelf(rng, d) -> Draft:
    n = _n(rng, d)
    k = rng.randint(2, min(n, 6 + d))
    return Draft(f"In how many ways can {k} of {n} different books be placed in a row on a shelf?",
                 str(math.perm(n, k)), f"import math\nprint(math.perm({n}, {k}))", [k, n], _range(d))


def handshakes(rng, d) -> Draft:
    n = rng.randint(3, 10 ** (d + 1))
    return Draft(f"At a meeting, each of {n} people shakes hands with every other person exactly "
                 "once. How many handshakes are there?",
                 str(n * (n - 1) // 2), f"people = {n}\nprint(people * (people - 1) // 2)",
                 [n], (3, 10 ** (d + 1)))


def menu(rng, d) -> Draft:
    a, b, c = (_n(rng, d) for _ in range(3))
    return Draft(f"A café offers {a} starters, {b} main courses and {c} desserts. How many "
                 "different three-course meals with one of each can you order?",
                 str(a * b * c), f"print({a} * {b} * {c})", [a, b, c], _range(d))


def multiples(rng, d) -> Draft:
    lo = rng.randint(1, 10 ** (d + 1))
    hi = lo + rng.randint(10, 10 ** (d + 2))
    k = rng.randint(2, 9 + 10 * d)
    return Draft(f"How many integers from {lo} to {hi} inclusive are divisible by {k}?",
                 str(hi // k - (lo - 1) // k),
                 f"print(sum(1 for x in range({lo}, {hi} + 1) if x % {k} == 0))",
                 [lo, hi, k], (1, 2 * 10 ** (d + 2)))


def anagrams(rng, d) -> Draft:
    word = rng.choice(WORDS) + ("" if d == 1 else "".join(rng.choice("abcde") for _ in range(2 * d)))
    n = math.factorial(len(word))
    for count in Counter(word).values():
        n //= math.factorial(count)
    return Draft(f"How many different arrangements are there of the letters in '{word}'?", str(n),
                 "import math\nfrom collections import Counter\n"
                 f"word = {word!r}\nn = math.factorial(len(word))\n"
                 "for count in Counter(word).values():\n    n //= math.factorial(count)\nprint(n)")


def subsets(rng, d) -> Draft:
    n = _n(rng, d)
    return Draft(f"How many subsets, including the empty set, does a set of {n} elements have?",
                 str(2 ** n), f"print(2 ** {n})", [n], _range(d))


def paths(rng, d) -> Draft:
    a, b = _n(rng, d), _n(rng, d)
    return Draft(f"On a grid {a} blocks wide and {b} blocks tall, how many shortest paths go from "
                 "the bottom-left corner to the top-right corner, moving only right or up?",
                 str(math.comb(a + b, a)), f"import math\nprint(math.comb({a} + {b}, {a}))",
                 [a, b], _range(d))


TEMPLATES = {"choose": choose, "orders": orders, "shelf": shelf, "handshakes": handshakes,
             "menu": menu, "multiples": multiples, "anagrams": anagrams, "subsets": subsets,
             "paths": paths}
