"""Issue 27, item 4: what a program printed reaches a terminal or a page with its control
characters shown escaped (`latentcode inspect`, its --html page, `latentcode demo`)."""
from __future__ import annotations

import sandbox
from sandbox.result import printable

HOSTILE_TEXT = "ok\x1b]0;pwned\x07\x1b[2J\rfake line\u202etxt.exe\x9b31m\ttab\nnext"


def test_printable_escapes_every_control_but_newline_and_tab():
    out = printable(HOSTILE_TEXT)
    assert out == ("ok\\x1b]0;pwned\\x07\\x1b[2J\\x0dfake line\\u202etxt.exe\\x9b31m\ttab\nnext")
    assert all(c in "\n\t" or (c.isprintable() and c not in "\u202e") for c in out)
    assert printable("plain text, ünïcode, 中文\n") == "plain text, ünïcode, 中文\n"


def test_a_program_s_escape_sequences_are_kept_in_the_result_and_escaped_when_shown():
    code = (f"print({HOSTILE_TEXT!r})\nclass R:\n    def __repr__(self):\n"
            f"        return {HOSTILE_TEXT!r}\nR()")
    r = sandbox.run(code)
    assert r.ok and "\x1b" in r.stdout and "\x1b" in r.value  # the data is the program's
    from latentcode.viewer import format_sample
    sample = {"task_id": "t", "index": 0, "family": "f", "correct": False, "status": r.status,
              "answer": "\x1b[2J", "target": "1", "question": "q\x1b[2J", "program": code,
              "stdout": r.stdout, "value": r.value, "error": "E: \x1b[31mred"}
    shown = format_sample(sample, color=False)
    for c in ("\x1b", "\r", "\x07", "\x9b", "\u202e"):
        assert c not in shown, repr(c)
    assert "\\x1b[2J" in shown


def test_the_html_page_shows_control_characters_escaped(tmp_path):
    from latentcode import viewer
    sample = {"task_id": "t", "index": 0, "family": "f", "correct": True, "status": "ok",
              "answer": "1", "target": "1", "question": "q", "program": "print('\x1b[2J')",
              "stdout": HOSTILE_TEXT, "value": None, "error": "E: \x1b[31m"}
    card = viewer._card(sample, lambda code: "<pre>" + code + "</pre>")
    for c in ("\x1b", "\r", "\x07", "\x9b", "\u202e"):
        assert c not in card, repr(c)
    assert "\\x1b]0;pwned" in card
