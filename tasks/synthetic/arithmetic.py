"""Multi-step word problems with large numbers, in the spirit of GSM-Hard (Gao et al., 2023).

GSM-Hard swaps GSM8K's small numbers for large ones; here the stories are written to stay
sensible with them (nobody ends with a negative number of books). Amounts come from
[10**(d+2), 10**(d+4)]; counts (days, boxes, schools) are smaller so that the products
stay readable.
"""
from __future__ import annotations

from tasks.synthetic import NAMES, Draft, worded


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
    return worded(Draft(
        f"{name} has ${start}. They buy {n} bikes at ${price} each, then earn ${earned} "
        "from a side job. How many dollars do they have now?",
        str(start - n * price + earned),
        f"money = {start}\nbikes = {n}\nprice = {price}\nearned = {earned}\n"
        "money = money - bikes * price + earned\nprint(money)",
        [start, n, price, earned], _range(d)),
        f"Starting with ${start}, {name} spends ${price} on each of {n} bikes and later makes "
        f"${earned} doing a side job. How much money, in dollars, does {name} end up with?",
        f"{name}'s savings: ${start}. Purchases: {n} bikes costing ${price} apiece. Income "
        f"afterwards: ${earned}. What is the balance in dollars?",
        f"After buying {n} bikes for ${price} each out of ${start}, and then being paid ${earned} "
        f"for a side job, how many dollars does {name} have?")


def factory(rng, d) -> Draft:
    per_day, days = _amount(rng, d), _count(rng, d)
    shipped = rng.randint(1, per_day * days - 1)
    return worded(Draft(
        f"A factory makes {per_day} bolts a day. After {days} days it has shipped {shipped} "
        "bolts. How many bolts are still at the factory?",
        str(per_day * days - shipped),
        f"per_day = {per_day}\ndays = {days}\nshipped = {shipped}\n"
        "print(per_day * days - shipped)",
        [per_day, days, shipped], _range(d)),
        f"Each day a plant produces {per_day} bolts. Over {days} days, {shipped} of them are sent "
        "out. How many bolts remain?",
        f"Bolts made per day: {per_day}. Days of work: {days}. Bolts shipped: {shipped}. How many "
        "bolts are left in the factory?",
        f"If {shipped} bolts leave a factory that turned out {per_day} bolts daily for {days} "
        "days, "
        "how many bolts stay behind?")


def library(rng, d) -> Draft:
    books, boxes, per_box = _amount(rng, d), _count(rng, d), rng.randint(10, 10 ** (d + 1))
    given = rng.randint(1, books)
    return worded(Draft(
        f"A library has {books} books. It buys {boxes} boxes with {per_box} books in each box, "
        f"then gives away {given} books. How many books does it have now?",
        str(books + boxes * per_box - given),
        f"books = {books}\nboxes = {boxes}\nper_box = {per_box}\ngiven = {given}\n"
        "print(books + boxes * per_box - given)",
        [books, boxes, per_box, given], _range(d)),
        f"There are {books} books in a library. Then {boxes} boxes of {per_box} books each arrive, "
        f"and {given} books are donated away. How many books are there now?",
        f"Books on hand: {books}. New boxes: {boxes}, each holding {per_box} books. Books given "
        f"away: {given}. What is the new total?",
        f"How many books will a library hold if it starts with {books}, adds {boxes} boxes of "
        f"{per_box} books and gives away {given}?")


def journey(rng, d) -> Draft:
    v, days, w, more = _amount(rng, d), _count(rng, d), _amount(rng, d), _count(rng, d)
    return worded(Draft(
        f"A cargo ship sails {v} metres a day for {days} days, then {w} metres a day for "
        f"{more} more days. How many metres does it sail in total?",
        str(v * days + w * more),
        f"first = {v} * {days}\nsecond = {w} * {more}\nprint(first + second)",
        [v, days, w, more], _range(d)),
        f"For {days} days a cargo ship covers {v} metres daily; for the next {more} days it covers "
        f"{w} metres daily. What total distance, in metres, does it cover?",
        f"Speed: {v} metres per day for {days} days, then {w} metres per day for another {more} "
        "days. Total metres sailed?",
        f"How far, in metres, does a cargo ship travel if it goes {v} metres each day for {days} "
        f"days and afterwards {w} metres each day for {more} days?")


def sharing(rng, d) -> Draft:
    schools, each = _count(rng, d), _amount(rng, d)
    total, spent = schools * each, rng.randint(1, each - 1)
    return worded(Draft(
        f"A charity raises ${total} and shares it equally among {schools} schools. Each school "
        f"spends ${spent} on books. How many dollars does each school have left?",
        str(each - spent),
        f"total = {total}\nschools = {schools}\nspent = {spent}\n"
        "print(total // schools - spent)",
        [total, schools, spent], _range(d)),
        f"Altogether {schools} schools split a donation of ${total} evenly, and each then buys "
        f"books for ${spent}. How many dollars remain at each school?",
        f"Donation: ${total}. Schools sharing it equally: {schools}. Spent by each school on "
        f"books: ${spent}. Dollars left per school?",
        f"How much money, in dollars, does each of {schools} schools keep if ${total} is divided "
        f"equally among them and each spends ${spent} on books?")


def growth(rng, d) -> Draft:
    residents = 100 * rng.randint(10 ** d, 10 ** (d + 2))
    pct, left = rng.randint(1, 60), rng.randint(1, 10 ** (d + 2))
    return worded(Draft(
        f"A town has {residents} residents. Its population grows by {pct}%, and then {left} "
        "people move away. How many residents does it have now?",
        str(residents * (100 + pct) // 100 - left),
        f"residents = {residents}\nresidents = residents * (100 + {pct}) // 100\n"
        f"print(residents - {left})",
        [residents, pct, left], _range(d)),
        f"A town of {residents} people grows by {pct}%, after which {left} residents leave. What "
        "is its population now?",
        f"Population: {residents}. Growth: {pct}%. Then {left} people leave. What is the new "
        "population?",
        f"A town had {residents} residents and grew by {pct}%. Then {left} people moved away. How "
        "many people live there now?")


TEMPLATES = {"shopping": shopping, "factory": factory, "library": library,
             "journey": journey, "sharing": sharing, "growth": growth}
