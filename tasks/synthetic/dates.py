"""Dates: weekdays, days between dates, adding days, leap years, days in a month, ages.

Questions write dates as people do ("March 5, 2024"); answers that are dates are asked
for as YYYY-MM-DD. The span of years grows with difficulty (around 2000 at difficulty 1,
the whole proleptic Gregorian calendar from 1600 to 2400 at 3 and above). Calendar dates
are not counted in ``numbers``; day counts and the years of leap-year questions are.
"""
from __future__ import annotations

import calendar
import datetime

from tasks.synthetic import Draft, worded

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _years(d) -> tuple[int, int]:
    return ((1990, 2030), (1900, 2100), (1600, 2400))[min(d, 3) - 1]


def _date(rng, d) -> datetime.date:
    lo, hi = _years(d)
    first, last = datetime.date(lo, 1, 1).toordinal(), datetime.date(hi, 12, 31).toordinal()
    return datetime.date.fromordinal(rng.randint(first, last))


def _days(d) -> tuple[int, int]:
    return (1, 400 * 10 ** (min(d, 3) - 1))


def _say(day: datetime.date) -> str:
    return f"{calendar.month_name[day.month]} {day.day}, {day.year}"


def _code(day: datetime.date) -> str:
    return f"datetime.date({day.year}, {day.month}, {day.day})"


def weekday(rng, d) -> Draft:
    day = _date(rng, d)
    return worded(Draft(f"What day of the week was {_say(day)}?", WEEKDAYS[day.weekday()],
                        f"import datetime\nprint({_code(day)}.strftime('%A'))"),
                  f"On which weekday did {_say(day)} fall?",
                  f"Name the day of the week for {_say(day)}.",
                  f"Think of the date {_say(day)}: which day of the week was it?")


def days_between(rng, d) -> Draft:
    a = _date(rng, d)
    b = a + datetime.timedelta(days=rng.randint(*_days(d)))
    return worded(Draft(f"How many days are there from {_say(a)} to {_say(b)}?", str((b - a).days),
                 f"import datetime\nprint(({_code(b)} - {_code(a)}).days)"),
                  f"Count the days from {_say(a)} until {_say(b)}.",
                  f"How many days pass between {_say(a)} and {_say(b)}?",
                  f"If today is {_say(a)}, in how many days will it be {_say(b)}?")


def add_days(rng, d) -> Draft:
    lo, hi = _years(d)
    n = rng.randint(*_days(d))
    day = _date(rng, d)
    while day.toordinal() + n > datetime.date(hi, 12, 31).toordinal():
        day = _date(rng, d)
    later = day + datetime.timedelta(days=n)
    return worded(Draft(f"What date is {n} days after {_say(day)}? Answer as YYYY-MM-DD.",
                        later.isoformat(),
                 f"import datetime\nprint({_code(day)} + datetime.timedelta(days={n}))",
                 [n], _days(d)),
                  f"Starting from {_say(day)}, move forward {n} days. Give the date that you "
                  "reach in YYYY-MM-DD form.",
                  f"Which date comes {n} days later than {_say(day)}? Reply in YYYY-MM-DD format.",
                  f"A parcel sent on {_say(day)} arrives {n} days later. On what date, written "
                  "YYYY-MM-DD, does it arrive?")


def leap_year(rng, d) -> Draft:
    lo, hi = _years(d)
    year = rng.randint(lo, hi)
    if rng.random() < 0.3:
        year -= year % 4  # otherwise three in four questions would be "no"
    return _leap(year, lo, hi)


def leap_year_of_class(rng, d, want: bool, hard: bool = True) -> Draft:
    """A leap-year question whose answer is ``want``; a ``hard`` "no" is a century not
    divisible by 400 (1900, 2100) where the range holds one, any other "no" a year that is
    2 mod 4 (even, yet not leap); a hard "yes" is a multiple of 400 where the range holds
    one."""
    lo, hi = _years(d)
    centuries = [y for y in range(lo - lo % 100 + 100, hi + 1, 100)]
    for _ in range(200):
        year = rng.randint(lo, hi)
        if want:
            fours = [y for y in centuries if y % 400 == 0]
            year = rng.choice(fours) if hard and fours else year - year % 4
        else:
            odd = [y for y in centuries if y % 400]
            year = rng.choice(odd) if hard and odd else year - year % 4 + 2
        if lo <= year <= hi and calendar.isleap(year) == want:
            return _leap(year, lo, hi)
    raise ValueError(f"no {'leap' if want else 'common'} year found in [{lo}, {hi}]")


def _leap(year: int, lo: int, hi: int) -> Draft:
    return worded(Draft(f"Is {year} a leap year?", str(calendar.isleap(year)),
                        f"import calendar\nprint(calendar.isleap({year}))", [year], (lo, hi)),
                  f"In the Gregorian calendar, does {year} contain a leap day?",
                  f"Is there an extra day in the calendar year {year}?",
                  f"True or false: the year {year} is a leap year.")


def month_days(rng, d) -> Draft:
    lo, hi = _years(d)
    year, month = rng.randint(lo, hi), rng.randint(1, 12)
    return worded(Draft(f"How many days are there in {calendar.month_name[month]} {year}?",
                        str(calendar.monthrange(year, month)[1]),
                 f"import calendar\nprint(calendar.monthrange({year}, {month})[1])",
                 [year], (lo, hi)),
                  f"What is the number of days in the month of {calendar.month_name[month]} "
                  f"{year}?",
                  f"How long, in days, was {calendar.month_name[month]} of the year {year}?",
                  f"In {year}, how many days did {calendar.month_name[month]} have?")


def age(rng, d) -> Draft:
    born = _date(rng, d)
    on = born + datetime.timedelta(days=rng.randint(365, 365 * 90))
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return worded(Draft(f"Someone was born on {_say(born)}. How old are they, in whole years, on "
                        f"{_say(on)}?", str(years),
                 f"import datetime\nborn = {_code(born)}\non = {_code(on)}\n"
                 "print(on.year - born.year - ((on.month, on.day) < (born.month, born.day)))"),
                  f"A person born on {_say(born)} celebrates a birthday every year. How many full "
                  f"years old are they on {_say(on)}?",
                  f"What is the age in completed years, on {_say(on)}, of someone whose birth "
                  f"date is {_say(born)}?",
                  f"Born {_say(born)}; how many whole years old on {_say(on)}?")


# Yes/no templates: a question of either class on demand, for re-asks that test the rule.
CLASSED = {"leap_year": leap_year_of_class}

TEMPLATES = {"weekday": weekday, "days_between": days_between, "add_days": add_days,
             "leap_year": leap_year, "month_days": month_days, "age": age}
