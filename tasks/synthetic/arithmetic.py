"""Multi-step word problems with large numbers, in the spirit of GSM-Hard (Gao et al., 2023).

GSM-Hard swaps GSM8K's small numbers for large ones; here the stories are written to stay
sensible with them (nobody ends with a negative number of books). Amounts come from
[10**(d+2), 10**(d+4)]; counts (days, boxes, schools) are smaller so that the products
stay readable.
"""
from __future__ import annotations

from tasks.synthetic import NAMES, Draft


def _amount(rng, d) -> int:
    return rng.randint(10 ** (d + 2), 10 ** (d + 4))


def _count(rng, d) -> int:
    return rng.randint(2, 10 + 20 * d)


def _range(d) -> tuple[int, int]:
    # Bounds on every number in a question, derived ones included: a count (<= 110) times an
    # amount stays below 10**(d+6), and percentages and small costs are at least 1.
    return (1, 10 ** (d + 6))


def shopping(rng, d) -> Draft:
    name = rng.choice(NAMES)
    n, price, earned = _count(rng, d), rng.randint(10, 10 ** (d + 2)), _amount(rng, d)
    start = n * price + _amount(rng, d)
    return Draft(
        f"{name} has ${start}. They buy {n} bikes at ${price} each, then earn ${earned} "
        "from a side job. How many dollars do they have now?",
        str(start - n * price + earned),
        f"money = {start}\nbikes = {n}\nprice = {price}\nearned = {earned}\n"
        "money = money - bikes * price + earned\nprint(money)",
        [start, n, price, earned], _range(d))


def factory(rng, d) -> Draft:
    per_day, days = _amount(rng, d), _count(rng, d)
    shipped = rng.randint(1, per_day * days - 1)
    return Draft(
        f"A factory makes {per_day} bolts a day. After {days} days it has shipped {shipped} "
        "bolts. How many bolts are still at the factory?",
        str(per_day * days - shipped),
        f"per_day = {per_day}\ndays = {days}\nshipped = {shipped}\n"
        "print(per_day * days - shipped)",
        [per_day, days, shipped], _range(d))


def library(rng, d) -> Draft:
    books, boxes, per_box = _amount(rng, d), _count(rng, d), rng.randint(10, 10 ** (d + 1))
    given = rng.randint(1, books)
    return Draft(
        f"A library has {books} books. It buys {boxes} boxes with {per_box} books in each box, "
        f"then gives away {given} books. How many books does it have now?",
        str(books + boxes * per_box - given),
        f"books = {books}\nboxes = {boxes}\nper_box = {per_box}\ngiven = {given}\n"
        "print(books + boxes * per_box - given)",
        [books, boxes, per_box, given], _range(d))


def journey(rng, d) -> Draft:
    v, days, w, more = _amount(rng, d), _count(rng, d), _amount(rng, d), _count(rng, d)
    return Draft(
        f"A cargo ship sails {v} metres a day for {days} days, then {w} metres a day for "
        f"{more} more days. How many metres does it sail in total?",
        str(v * days + w * more),
        f"first = {v} * {days}\nsecond = {w} * {more}\nprint(first + second)",
        [v, days, w, more], _range(d))


def sharing(rng, d) -> Draft:
    schools, each = _count(rng, d), _amount(rng, d)
    total, spent = schools * each, rng.randint(1, each - 1)
    return Draft(
        f"A charity raises ${total} and shares it equally among {schools} schools. Each school "
        f"spends ${spent} on books. How many dollars does each school have left?",
        str(each - spent),
        f"total = {total}\nschools = {schools}\nspent = {spent}\n"
        "print(total // schools - spent)",
        [total, schools, spent], _range(d))


def growth(rng, d) -> Draft:
    residents = 100 * rng.randint(10 ** d, 10 ** (d + 2))
    pct, left = rng.randint(1, 60), rng.randint(1, 10 ** (d + 2))
    return Draft(
        f"A town has {residents} residents. Its population grows by {pct}%, and then {left} "
        "people move away. How many residents does it have now?",
        str(residents * (100 + pct) // 100 - left),
        f"residents = {residents}\nresidents = residents * (100 + {pct}) // 100\n"
        f"print(residents - {left})",
        [residents, pct, left], _range(d))


TEMPLATES = {"shopping": shopping, "factory": factory, "library": library,
             "journey": journey, "sharing": sharing, "growth": growth}
