"""Counting and combinatorics: combinations, permutations, handshakes, menus, multiples in
a range, anagrams, subsets and lattice paths. Sizes grow with difficulty; answers are
exact integers (they get long: 40 choose 20 has 12 digits).
"""
from __future__ import annotations

import math
from collections import Counter

from tasks.synthetic import Draft, worded
from tasks.synthetic.strings import WORDS


def _n(rng, d) -> int:
    return rng.randint(4, 5 + 10 * d)


def _range(d) -> tuple[int, int]:
    return (1, 5 + 10 * d)


def choose(rng, d) -> Draft:
    n = _n(rng, d)
    k = rng.randint(2, n - 1)
    return worded(Draft(f"In how many ways can a team of {k} be chosen from {n} people?",
                        str(math.comb(n, k)), f"import math\nprint(math.comb({n}, {k}))", [k, n], _range(d)),
                  f"How many different groups of {k} people can be picked from {n}?",
                  f"A coach must select {k} players out of {n}. How many selections are possible "
                  "if order does not matter?",
                  f"Compute the number of committees of {k} people that can be formed from {n} "
                  "candidates.")


def orders(rng, d) -> Draft:
    n = rng.randint(3, 4 + 4 * d)
    return worded(Draft(f"In how many different orders can {n} runners finish a race if there are no ties?",
                        str(math.factorial(n)), f"import math\nprint(math.factorial({n}))", [n], _range(d)),
                  f"In how many ways can {n} runners cross the finish line, with no two finishing "
                  "together?",
                  f"There are {n} runners in a race and nobody ties. How many finishing orders "
                  "are possible?",
                  f"Count the possible rankings of {n} runners in a race without ties.")


def shelf(rng, d) -> Draft:
    n = _n(rng, d)
    k = rng.randint(2, min(n, 6 + d))
    return worded(Draft(f"In how many ways can {k} of {n} different books be placed in a row on a shelf?",
                        str(math.perm(n, k)), f"import math\nprint(math.perm({n}, {k}))", [k, n], _range(d)),
                  f"You have {n} distinct books and room for {k} of them in a row. How many "
                  "arrangements are possible?",
                  f"How many ordered rows of {k} books can be made from a collection of {n} "
                  "different books?",
                  f"Choose {k} books out of {n} different ones and line them up on a shelf. In "
                  "how many ways can this be done?")


def handshakes(rng, d) -> Draft:
    n = rng.randint(3, 10 ** (d + 1))
    return worded(Draft(f"At a meeting, each of {n} people shakes hands with every other person exactly "
                        "once. How many handshakes are there?",
                        str(n * (n - 1) // 2), f"people = {n}\nprint(people * (people - 1) // 2)",
                        [n], (3, 10 ** (d + 1))),
                  f"Every pair among {n} guests shakes hands once. How many handshakes happen?",
                  f"How many handshakes take place when {n} people all greet each other with a "
                  "single handshake per pair?",
                  f"At a summit, {n} delegates each shake hands once with every other delegate. "
                  "Count the handshakes.")


def menu(rng, d) -> Draft:
    a, b, c = (_n(rng, d) for _ in range(3))
    return worded(Draft(f"A café offers {a} starters, {b} main courses and {c} desserts. How many "
                        "different three-course meals with one of each can you order?",
                        str(a * b * c), f"print({a} * {b} * {c})", [a, b, c], _range(d)),
                  f"With {a} starters, {b} mains and {c} desserts on the menu, how many meals "
                  "combining a starter, a main and a dessert are possible?",
                  f"Menu: {a} starters, {b} main courses, {c} desserts. How many different full "
                  "dinners (starter, main course, dessert) can be ordered?",
                  f"How many ways are there to pick a starter from {a}, a main course from {b} "
                  f"and a dessert from {c}?")


def multiples(rng, d) -> Draft:
    lo = rng.randint(1, 10 ** (d + 1))
    hi = lo + rng.randint(10, 10 ** (d + 2))
    k = rng.randint(2, 9 + 10 * d)
    return worded(Draft(f"How many integers from {lo} to {hi} inclusive are divisible by {k}?",
                        str(hi // k - (lo - 1) // k),
                 f"print(sum(1 for x in range({lo}, {hi} + 1) if x % {k} == 0))",
                 [lo, hi, k], (1, 2 * 10 ** (d + 2))),
                  f"Count the multiples of {k} between {lo} and {hi}, both ends included.",
                  f"Among the integers {lo} through {hi}, how many are multiples of {k}?",
                  f"How many whole numbers in the inclusive range from {lo} to {hi} leave no "
                  f"remainder when divided by {k}?")


def anagrams(rng, d) -> Draft:
    word = rng.choice(WORDS) + ("" if d == 1 else "".join(rng.choice("abcde") for _ in range(2 * d)))
    n = math.factorial(len(word))
    for count in Counter(word).values():
        n //= math.factorial(count)
    return worded(Draft(f"How many different arrangements are there of the letters in '{word}'?", str(n),
                 "import math\nfrom collections import Counter\n"
                 f"word = {word!r}\nn = math.factorial(len(word))\n"
                 "for count in Counter(word).values():\n    n //= math.factorial(count)\nprint(n)"),
                  "How many distinct strings can be made by rearranging all the letters of "
                  f"'{word}'?",
                  f"Count the distinct permutations of the letters of '{word}'.",
                  f"In how many different orders can the letters of '{word}' be written, treating "
                  "equal letters as identical?")


def subsets(rng, d) -> Draft:
    n = _n(rng, d)
    return worded(Draft(f"How many subsets, including the empty set, does a set of {n} elements have?",
                        str(2 ** n), f"print(2 ** {n})", [n], _range(d)),
                  f"A set has {n} elements. How many subsets does it have, counting the empty set?",
                  f"Count all subsets of a set with {n} members, the empty set included.",
                  f"How many different selections, from none to all, can be made from {n} "
                  "distinct items?")


def paths(rng, d) -> Draft:
    a, b = _n(rng, d), _n(rng, d)
    return worded(Draft(f"On a grid {a} blocks wide and {b} blocks tall, how many shortest paths go from "
                        "the bottom-left corner to the top-right corner, moving only right or up?",
                        str(math.comb(a + b, a)), f"import math\nprint(math.comb({a} + {b}, {a}))",
                        [a, b], _range(d)),
                  f"Moving only up or right on a grid that is {a} blocks wide and {b} blocks "
                  "tall, how many shortest routes lead from the bottom-left to the top-right "
                  "corner?",
                  f"Count the lattice paths across a grid {a} blocks wide and {b} blocks tall "
                  "from the lower-left corner to the upper-right corner, using only steps right "
                  "and up.",
                  f"A walker crosses a grid of {a} by {b} blocks from the bottom-left corner to "
                  "the top-right, always stepping right or up. How many shortest routes are there?")


TEMPLATES = {"choose": choose, "orders": orders, "shelf": shelf, "handshakes": handshakes,
             "menu": menu, "multiples": multiples, "anagrams": anagrams, "subsets": subsets,
             "paths": paths}
