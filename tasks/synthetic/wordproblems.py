"""Word problems in the manner of SVAMP and GSM8K: names, objects and units that change from
question to question, a quantity the answer does not use (a distractor), and one to four
operations. The bridge from the drill families to those benchmarks.

Difficulty scales the numbers (amounts up to 10**(d+1)) and, from difficulty 3, adds a
step to every story (a second leg of a journey, a third person, money earned afterwards).
Answers are exact: integers, or a terminating decimal or fraction (``format_number``) where
a share or a discount does not come out whole. Every template has two training wordings
(``generate`` draws one with an rng of its own) and three held-out ones. Every drawn value
is one word (a name, an object, a number), so re-asks map word for word.
"""
from __future__ import annotations

import math
from fractions import Fraction

from tasks.base import format_number
from tasks.synthetic import NAMES, Draft

OBJECTS = ("apples", "pencils", "stickers", "marbles", "cookies", "books", "candles", "shells",
           "cards", "stamps")
FOOD = ("cookies", "muffins", "rolls", "pies", "bagels", "scones")
VEHICLES = ("bus", "train", "truck", "boat", "van", "tram")
UNITS = ("kilometres", "miles")
ITEMS = ("jacket", "lamp", "kettle", "backpack", "chair", "clock", "helmet")  # plural: + "s"
CONTAINERS = ("tank", "barrel", "pool", "cistern")
LIQUIDS = ("litres", "gallons")


# Every drawn value is 3 or more: re-asks hold 0, 1 and 2 still (they are also a program's
# structure), and a count held at 2 would let "r + r" pass for "r * 2".
def _small(rng, d) -> int:
    return rng.randint(3, 4 + 3 * d)  # people, hours, bags: counts that stay small


def _big(rng, d) -> int:
    return rng.randint(10, 10 ** (d + 1))


def _distractor(rng, d, used, hi: int | None = None) -> int:
    """A quantity the answer does not use, unequal to every one it does (and to 100, the
    percentage base a program writes), so it can be told apart in the program."""
    x = rng.randint(3, hi or 10 ** (d + 1))
    while x in used or x == 100:
        x += 1
    return x


def _range(d) -> tuple[int, int]:
    return (1, 10 ** (d + 3))


def _draft(answer, program: str, numbers: list, d: int, prompts: list[str]) -> Draft:
    """Two training wordings, then three held out."""
    assert len(prompts) == 5
    return Draft(prompts[0], format_number(answer), program, numbers, _range(d),
                 train_wordings=(prompts[1],), heldout_wordings=tuple(prompts[2:]))


def buy_and_spend(rng, d) -> Draft:
    name, obj, more = rng.choice(NAMES), rng.choice(OBJECTS), d >= 3
    n, price = _small(rng, d), rng.randint(3, 2 * 10 ** d)
    start, earned = n * price + _big(rng, d), _big(rng, d)
    stock = _distractor(rng, d, {n, price, start, earned})
    program = (f"money = {start}\nmoney = money - {n} * {price}\n"
               + (f"money = money + {earned}\n" if more else "") + "print(money)")
    return _draft(start - n * price + (earned if more else 0), program,
                  [start, stock, n, price] + ([earned] if more else []), d, [
        f"{name} has ${start} and goes to a shop that has {stock} {obj} in stock. {name} buys "
        f"{n} {obj} at ${price} each{f' and then earns ${earned} walking dogs' if more else ''}. "
        f"How many dollars does {name} have now?",
        f"At a shop with {stock} {obj} on its shelves, {name} pays ${price} for each of {n} {obj}, "
        f"starting out with ${start}."
        f"{f' Later {name} is paid ${earned} for walking dogs.' if more else ''} "
        f"How much money does {name} have at the end, in dollars?",
        f"Wallet: ${start}. Shop stock: {stock} {obj}. Bought: {n} {obj} for ${price} apiece."
        f"{f' Earned afterwards: ${earned}.' if more else ''} Dollars in the wallet now?",
        f"How many dollars remain with {name}, who had ${start} and spent ${price} on each of {n} "
        f"{obj} from a shop holding {stock} of "
        f"them{f', and was then paid ${earned} for chores' if more else ''}?",
        f"{name} brings ${start} to a market where a stall displays {stock} {obj}. Buying {n} of "
        f"them costs ${price} each."
        f"{f' Afterwards {name} receives ${earned} as a gift.' if more else ''} "
        f"What is {name}'s money now, in dollars?"])


def share_equally(rng, d) -> Draft:
    name, obj, more = rng.choice(NAMES), rng.choice(OBJECTS), d >= 3
    total, k, extra = _big(rng, d), rng.randint(3, 3 + 2 * d), rng.randint(3, 2 * 10 ** d)
    # "59/3" would be the question's own numbers: a constant that re-asks rewrite into the
    # new answer; a fraction in lowest terms that is not them ("7/3" of 14 among 6) is kept
    while math.gcd(total + extra * more, k) == 1 and "/" in format_number(Fraction(total + extra * more, k)):
        total += 1
    minutes = _distractor(rng, d, {total, k, extra}, hi=20 + 40 * d)
    program = (f"from fractions import Fraction\ntotal = {total}\n"
               + (f"total = total + {extra}\n" if more else "") + f"print(Fraction(total) / {k})")
    return _draft(Fraction(total + (extra if more else 0), k), program,
                  [total, k, minutes] + ([extra] if more else []), d, [
        f"{name} has {total} {obj}{f', finds {extra} more,' if more else ''} and shares them "
        "equally "
        f"among {k} friends, keeping none. The sharing takes {minutes} minutes. How many {obj} "
        "does each friend get?",
        f"There are {total} {obj} in a basket{f', and {extra} more are added' if more else ''}. "
        "They are "
        f"split evenly between {k} children, who wait {minutes} minutes for their turn. What is "
        "each child's share?",
        f"Total {obj}: {total}.{f' Extra {obj} found: {extra}.' if more else ''} People: {k}. "
        "Minutes "
        f"spent: {minutes}. How many {obj} per person?",
        f"If {k} friends divide {total} {obj}{f' plus another {extra}' if more else ''} equally, "
        "and it "
        f"takes them {minutes} minutes, what portion does each friend receive?",
        f"{name} spends {minutes} minutes dealing out {total} {obj}"
        f"{f' together with {extra} spare ones' if more else ''} so that {k} players all get the "
        "same "
        f"amount. How many {obj} does each player get?"])


def rate_time(rng, d) -> Draft:
    vehicle, unit, more = rng.choice(VEHICLES), rng.choice(UNITS), d >= 3
    r, t = rng.randint(5, 20 * d * d), _small(rng, d)
    r2, t2 = rng.randint(5, 20 * d * d), _small(rng, d)
    seats = _distractor(rng, d, {r, t, r2, t2})
    program = f"distance = {r} * {t}\n" + (f"distance = distance + {r2} * {t2}\n" if more else "") \
        + "print(distance)"
    return _draft(r * t + (r2 * t2 if more else 0), program,
                  [seats, r, t] + ([r2, t2] if more else []), d, [
        f"A {vehicle} carrying {seats} passengers travels at {r} {unit} per hour for {t} hours"
        f"{f', then at {r2} {unit} per hour for {t2} hours' if more else ''}. How many {unit} "
        "does it travel?",
        f"For {t} hours a {vehicle} moves at {r} {unit} an hour"
        f"{f'; after that it moves at {r2} {unit} an hour for {t2} hours' if more else ''}. It "
        f"has {seats} "
        f"seats. What distance does it cover, in {unit}?",
        f"Speed {r} {unit} per hour, time {t} hours"
        f"{f'; then speed {r2} {unit} per hour, time {t2} hours' if more else ''}. The {vehicle} "
        "has "
        f"{seats} seats. Distance in {unit}?",
        f"How many {unit} does a {vehicle} with {seats} people on board cover if it keeps up {r} "
        f"{unit} an hour for {t} "
        f"hours{f' and then {r2} {unit} an hour for {t2} hours' if more else ''}?",
        f"A {vehicle} leaves with {seats} riders. It runs for {t} hours at a steady {r} {unit} per "
        f"hour{f', and afterwards for {t2} hours at {r2} {unit} per hour' if more else ''}. What "
        "is the "
        f"total distance in {unit}?"])


def compare_two(rng, d) -> Draft:
    a, b, c = rng.sample(NAMES, 3)
    obj, more = rng.choice(OBJECTS), d >= 3
    x, k = _big(rng, d), rng.randint(3, 3 + d)
    m = rng.randint(3, k * x - 1)
    age = _distractor(rng, d, {x, k, m}, hi=90)
    program = f"first = {x}\nsecond = {k} * first\n" + (
        f"third = second - {m}\nprint(first + second + third)" if more else "print(first + second)")
    who = f"{a}, {b} and {c}" if more else f"{a} and {b}"
    return _draft(x + k * x + (k * x - m if more else 0), program,
                  [x, k, age] + ([m] if more else []), d, [
        f"{a} has {x} {obj}. {b} has {k} times as many {obj} as {a}."
        f"{f' {c} has {m} fewer {obj} than {b}.' if more else ''} {a} is {age} years old. How "
        f"many {obj} "
        "do they have altogether?",
        f"{b} owns {k} times as many {obj} as {a}, who owns {x}."
        f"{f' {c} owns {m} fewer than {b}.' if more else ''} {b} is {age} years old. What is the "
        "total "
        f"number of {obj}?",
        f"{a}: {x} {obj}. {b}: {k} times as many as "
        f"{a}.{f' {c}: {m} fewer than {b}.' if more else ''} "
        f"Age of {a}: {age}. Total {obj}?",
        f"Together, how many {obj} do {who} have if {a} has {x}, {b} has {k} times that many"
        f"{f', {c} has {m} fewer than {b}' if more else ''} and {a} turns {age} this year?",
        f"{a}, aged {age}, collects {x} {obj}; {b} collects {k} times as many"
        f"{f', and {c} collects {m} fewer than {b}' if more else ''}. How many {obj} did they "
        "collect in all?"])


def bake(rng, d) -> Draft:
    name, food, more = rng.choice(NAMES), rng.choice(FOOD), d >= 3
    b, c = _small(rng, d), rng.randint(3, 2 * 10 ** d)
    sold, given = rng.randint(3, b * c // 2), rng.randint(3, b * c // 2 - 1)
    extra = _big(rng, d)
    minutes = _distractor(rng, d, {b, c, sold, given, extra}, hi=20 + 40 * d)
    program = (f"made = {b} * {c}\nleft = made - {sold} - {given}\n"
               + (f"left = left + {extra}\n" if more else "") + "print(left)")
    return _draft(b * c - sold - given + (extra if more else 0), program,
                  [b, c, minutes, sold, given] + ([extra] if more else []), d, [
        f"{name} bakes {b} batches of {c} {food}. Each batch takes {minutes} minutes. {name} sells "
        f"{sold} {food} and gives {given} to "
        f"neighbours{f', then bakes {extra} more' if more else ''}. "
        f"How many {food} does {name} have now?",
        f"Every batch of {food} that {name} makes holds {c}, and {name} makes {b} batches, each in "
        f"{minutes} minutes. {name} sells {sold} of them and gives away {given}"
        f"{f', then makes {extra} more' if more else ''}. How many {food} remain?",
        f"Batches: {b}. Per batch: {c} {food}. Oven time per batch: {minutes} minutes. Sold: "
        f"{sold}. Given away: {given}.{f' Baked later: {extra}.' if more else ''} Number of "
        f"{food} left?",
        f"How many {food} does {name} still have after baking {b} batches of {c} (at {minutes} "
        f"minutes a batch), selling {sold} and giving {given} "
        f"away{f', then baking {extra} more' if more else ''}?",
        f"A bakery run by {name} turns out {b} trays with {c} {food} on each, every tray taking "
        f"{minutes} minutes. Customers buy {sold} and friends receive {given}."
        f"{f' Later another {extra} come out of the oven.' if more else ''} What number of {food} "
        "is "
        "left over?"])


def percent_off(rng, d) -> Draft:
    name, item, more = rng.choice(NAMES), rng.choice(ITEMS), d >= 3
    price, pct, n = rng.randint(10, 10 ** (d + 1)), rng.randint(1, 18) * 5, _small(rng, d)
    if price == 100:  # 100 is the percentage base the program writes
        price += 1
    shoppers = _distractor(rng, d, {price, pct, n})
    count = f"{n} * " if more else ""
    program = (f"from fractions import Fraction\nprice = {price}\npct = {pct}\n"
               f"print({count}Fraction(price) * (100 - pct) / 100)")
    what, whats = (f"{n} {item}s", f"{n} {item}s, each marked at") if more else \
        (f"the {item}", f"a {item} marked at")
    # the percentage stays out of the asking sentence: an answer is never read as a percent
    return _draft(Fraction(price * (100 - pct), 100) * (n if more else 1), program,
                  [price, shoppers, pct] + ([n] if more else []), d, [
        f"A {item} costs ${price}. The shop, which has {shoppers} customers today, takes {pct}% "
        "off the price. " + (f"{name} buys {n} of them at that price. How many dollars does "
                             f"{name} pay?" if more else "How many dollars does it cost after "
                             "the discount?"),
        f"A shop that has {shoppers} visitors today sells a {item} for ${price}, but today "
        f"everything is {pct}% cheaper. " + (f"What do {n} of them cost in dollars?" if more
                                             else "What is the sale price in dollars?"),
        f"Price of a {item}: ${price}. Discount: {pct}%.{f' Items bought: {n}.' if more else ''} "
        f"Shoppers in the store: {shoppers}. Amount paid, in dollars?",
        f"Among {shoppers} shoppers, {name} buys {whats} ${price}, with {pct}% off at the till. "
        f"How many dollars does {name} pay?",
        f"The usual price of a {item} is ${price}. During a sale that draws {shoppers} people, "
        f"the price drops by {pct}%. What is the total cost in dollars of {what}?"])


def groups_leftovers(rng, d) -> Draft:
    name, obj, more = rng.choice(NAMES), rng.choice(OBJECTS), d >= 3
    g = rng.randint(3, 5 + 5 * d)
    total = _big(rng, d) + g
    lost = rng.randint(3, total - g)
    minutes = _distractor(rng, d, {g, total, lost}, hi=20 + 40 * d)
    program = f"items = {total}\n" + (f"items = items - {lost}\n" if more else "") \
        + f"print(items % {g})"
    return _draft((total - (lost if more else 0)) % g, program,
                  [total, g, minutes] + ([lost] if more else []), d, [
        f"{name} has {total} {obj}{f' but loses {lost} of them' if more else ''}. {name} packs "
        f"{'the rest' if more else 'them'} into bags of {g} each, filling as many bags as "
        f"possible in {minutes} minutes. How many "
        f"{obj} are left over?",
        f"A teacher with {minutes} students puts {total} {obj} into boxes that hold exactly {g} "
        f"each{f', after setting aside {lost} broken ones' if more else ''}. Only full boxes are "
        "packed. "
        f"How many {obj} do not fit in a full box?",
        f"Items: {total} {obj}.{f' Removed first: {lost}.' if more else ''} Bag size: {g}. "
        "Helpers: "
        f"{minutes}. Leftover {obj} after filling whole bags?",
        f"How many {obj} remain unpacked when {name} fills bags of {g} from a pile of {total}"
        f"{f' that has lost {lost}' if more else ''}, working for {minutes} minutes?",
        f"In {minutes} minutes, {name} sorts {total} {obj}"
        f"{f' (throwing away {lost} damaged ones)' if more else ''} into full groups of {g}. How "
        "many "
        f"{obj} are left outside the groups?"])


def change_over_days(rng, d) -> Draft:
    name, container, unit = rng.choice(NAMES), rng.choice(CONTAINERS), rng.choice(LIQUIDS)
    more = d >= 3
    start, days = _big(rng, d), _small(rng, d)
    inflow = rng.randint(4, 2 * 10 ** d)
    outflow = rng.randint(3, inflow - 1)
    metres = _distractor(rng, d, {start, days, inflow, outflow})
    change = f"({inflow} - {outflow})" if more else f"{inflow}"
    program = f"level = {start}\nlevel = level + {days} * {change}\nprint(level)"
    return _draft(start + days * (inflow - (outflow if more else 0)), program,
                  [start, inflow, metres, days] + ([outflow] if more else []), d, [
        f"A {container} holds {start} {unit} of water. Each day {inflow} {unit} are added"
        f"{f' and {outflow} {unit} are used' if more else ''}. The {container} is {metres} metres "
        "from "
        f"the house. How many {unit} are in the {container} after {days} days?",
        f"After {days} days, how many {unit} are in a {container} that starts with {start} {unit} "
        f"and gains {inflow} {unit} every "
        f"day{f' but loses {outflow} {unit} every day' if more else ''}? "
        f"The {container} sits {metres} metres from the house.",
        f"Start: {start} {unit}. Daily inflow: {inflow} {unit}."
        f"{f' Daily outflow: {outflow} {unit}.' if more else ''} Days: {days}. Distance to the "
        "house: "
        f"{metres} metres. Amount at the end, in {unit}?",
        f"{name} fills a {container} that already has {start} {unit}, pouring in {inflow} {unit} "
        f"a day{f' while {outflow} {unit} a day leak out' if more else ''}. {name} lives {metres} "
        "metres "
        f"away. What does the {container} hold after {days} days, in {unit}?",
        f"Over {days} days, a {container} {metres} metres from a farmhouse receives {inflow} "
        f"{unit} daily{f' and gives up {outflow} {unit} daily' if more else ''}; it began with "
        f"{start} "
        f"{unit}. How many {unit} does it hold at the end?"])


def distinct(template):
    """``template`` drawn again until its numbers are all different: a re-ask cannot map a
    number that stands for two quantities (12 days and 12 litres lost a day)."""
    def draw(rng, d) -> Draft:
        while True:
            draft = template(rng, d)
            if len(set(draft.numbers)) == len(draft.numbers):
                return draft
    return draw


TEMPLATES = {name: distinct(template) for name, template in {
    "buy_and_spend": buy_and_spend, "share_equally": share_equally, "rate_time": rate_time,
    "compare_two": compare_two, "bake": bake, "percent_off": percent_off,
    "groups_leftovers": groups_leftovers, "change_over_days": change_over_days}.items()}
