"""String manipulation: reverse, count letters and vowels, length, acronyms, palindromes,
sorted letters, replacements and swapped case.

Words are real English words at difficulty 1 and random letter strings (longer with
difficulty) above it, so a model cannot lean on spelling it has memorised.
"""
from __future__ import annotations

import string

from tasks.synthetic import Draft, worded

WORDS = ("apple banana cherry garden window rocket silver python marble kitten orange "
         "violin castle pencil bottle mirror planet harbor jungle ladder tomato island "
         "whisper lantern compass blanket meadow thunder pebble saddle").split()


def _word(rng, d) -> str:
    if d == 1:
        return rng.choice(WORDS)
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3 * d, 5 * d)))


def _phrase(rng, d) -> str:
    return " ".join(_word(rng, d) for _ in range(rng.randint(2, 2 + d)))


def reverse(rng, d) -> Draft:
    w = _word(rng, d)
    return worded(Draft(f"What is '{w}' spelled backwards?", w[::-1], f"print({w!r}[::-1])"),
                  f"Write the letters of '{w}' in reverse order.",
                  f"Reverse the string '{w}'.",
                  f"If you read '{w}' from right to left, what do you get?")


def count_letter(rng, d) -> Draft:
    w = _word(rng, d)
    c = rng.choice(w)
    return worded(Draft(f"How many times does the letter '{c}' appear in '{w}'?", str(w.count(c)),
                 f"print({w!r}.count({c!r}))"),
                  f"Count the occurrences of '{c}' in the word '{w}'.",
                  f"In '{w}', how often does '{c}' occur?",
                  f"How many '{c}' characters does '{w}' contain?")


def length(rng, d) -> Draft:
    s = _phrase(rng, d)
    return worded(Draft(f"How many characters, including spaces, are in '{s}'?", str(len(s)),
                 f"print(len({s!r}))"),
                  f"Count every character of '{s}', spaces included.",
                  f"What is the length of the string '{s}'?",
                  f"How long is the text '{s}', counting spaces as characters?")


def vowels(rng, d) -> Draft:
    s = _phrase(rng, d)
    n = sum(ch in "aeiou" for ch in s)
    return worded(Draft(f"How many vowels (a, e, i, o, u) are in '{s}'?", str(n),
                 f"text = {s!r}\nprint(sum(ch in 'aeiou' for ch in text))"),
                  f"Count the vowels a, e, i, o and u in '{s}'.",
                  f"How many of the letters in '{s}' are vowels (a, e, i, o, u)?",
                  f"Not counting y, how many vowels does '{s}' have?")


def acronym(rng, d) -> Draft:
    s = _phrase(rng, d)
    return worded(Draft(f"What do you get by joining the first letter of each word in '{s}'?",
                        "".join(w[0] for w in s.split()),
                 f"text = {s!r}\nprint(''.join(word[0] for word in text.split()))"),
                  f"Take the initial letter of every word in '{s}' and join them. What string "
                  "results?",
                  f"What is the acronym formed from '{s}', in lowercase?",
                  f"Write down the first character of each word of '{s}', with no spaces. What do "
                  "you get?")


def palindrome(rng, d) -> Draft:
    w = _word(rng, d)
    if rng.random() < 0.5:
        w = w + w[-2::-1]  # half the questions are palindromes
    return _palindrome(w)


def palindrome_of_class(rng, d, want: bool, hard: bool = True) -> Draft:
    """A palindrome question whose answer is ``want``; a "no" is a near miss: a palindrome
    with one letter changed, away from the ends when ``hard`` (its first and last two
    letters still mirror each other), else next to them (its first and last still do)."""
    w = _word(rng, d)
    w = w + w[-2::-1]
    if not want:
        centre = len(w) // 2  # odd length: changing the centre keeps a palindrome
        inner = range(len(w) // 3, len(w) - len(w) // 3) if hard else (1, len(w) - 2)
        i = rng.choice([k for k in inner if k != centre])
        letters = [c for c in string.ascii_lowercase if c != w[i]]
        w = w[:i] + rng.choice(letters) + w[i + 1:]
    return _palindrome(w)


def _palindrome(w: str) -> Draft:
    return worded(Draft(f"Is '{w}' a palindrome?", str(w == w[::-1]),
                        f"word = {w!r}\nprint(word == word[::-1])"),
                  f"Does '{w}' read the same forwards and backwards?",
                  f"Is the string '{w}' equal to its own reverse?",
                  f"Would '{w}' be unchanged if you reversed it?")


def sort_letters(rng, d) -> Draft:
    w = _word(rng, d)
    return worded(Draft(f"What do you get if you sort the letters of '{w}' alphabetically?",
                        "".join(sorted(w)), f"print(''.join(sorted({w!r})))"),
                  f"Arrange the letters of '{w}' in alphabetical order.",
                  f"What string do you get when the characters of '{w}' are sorted from a to z?",
                  f"Rewrite '{w}' with its letters in dictionary order.")


def replace(rng, d) -> Draft:
    w = _word(rng, d)
    old = rng.choice(w)
    new = rng.choice([c for c in string.ascii_lowercase if c != old])
    return worded(Draft(f"What is '{w}' with every '{old}' replaced by '{new}'?", w.replace(old, new),
                 f"print({w!r}.replace({old!r}, {new!r}))"),
                  f"Replace each '{old}' in '{w}' with '{new}'. What is the result?",
                  f"Change every occurrence of '{old}' to '{new}' in the word '{w}'.",
                  f"What does '{w}' become if all of its '{old}' letters turn into '{new}'?")


def swapcase(rng, d) -> Draft:
    w = "".join(c.upper() if rng.random() < 0.5 else c for c in _word(rng, d))
    return worded(Draft(f"What is '{w}' with the case of every letter swapped?", w.swapcase(),
                 f"print({w!r}.swapcase())", case_sensitive=True),
                  f"Flip the case of each letter in '{w}'.",
                  f"Turn the uppercase letters of '{w}' into lowercase and the lowercase ones "
                  "into uppercase.",
                  f"What is '{w}' after swapping uppercase and lowercase?")


# Yes/no templates: a question of either class on demand, for re-asks that test the rule.
CLASSED = {"palindrome": palindrome_of_class}

TEMPLATES = {"reverse": reverse, "count_letter": count_letter, "length": length,
             "vowels": vowels, "acronym": acronym, "palindrome": palindrome,
             "sort_letters": sort_letters, "replace": replace, "swapcase": swapcase}
