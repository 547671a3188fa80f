"""`latentcode inspect`: read the programs of a run with their output and grade.

Filters select samples; the terminal view highlights code with Pygments (plain text when
not a terminal), and ``--html`` writes one self-contained page (inline styles, no
scripts, no server) that opens in any browser.
"""
from __future__ import annotations

import html
import sys

from latentcode.runs import Run


def select(samples: list[dict], *, failed: bool = False, status: str | None = None,
           family: str | None = None, longest: int | None = None, step: int | None = None) -> list[dict]:
    out = [s for s in samples
           if (not failed or not s.get("correct"))
           and (step is None or s.get("step") == step)
           and (status is None or s.get("status") == status)
           and (family is None or s.get("family") == family)]
    if longest:
        out = sorted(out, key=lambda s: len(s.get("program") or ""), reverse=True)[:longest]
    return out


def _highlight(code: str, color: bool) -> str:
    if not color:
        return code
    from pygments import highlight  # here, not at the top: start-up cost
    from pygments.formatters import TerminalFormatter  # here, not at the top: start-up cost
    from pygments.lexers import PythonLexer  # here, not at the top: start-up cost
    return highlight(code, PythonLexer(), TerminalFormatter()).rstrip("\n")


def format_sample(s: dict, color: bool = False) -> str:
    mark = "CORRECT" if s.get("correct") else "WRONG"
    head = (f"=== {s['task_id']} #{s['index']} [{s.get('family')}] {mark} "
            f"status={s.get('status')} answer={s.get('answer')!r} target={s.get('target')!r}")
    parts = [head, "Q: " + s.get("question", "").strip()]
    if s.get("program"):
        parts.append(_highlight(s["program"], color))
    else:
        parts.append("(reply) " + s.get("completion", "").strip()[:2000])
    if s.get("stdout"):
        parts.append("--- stdout\n" + s["stdout"].rstrip()[:2000])
    if s.get("value") is not None:
        parts.append(f"--- value: {s['value'][:500]}")
    if s.get("error"):
        parts.append(f"--- error: {s['error']}")
    return "\n".join(parts)


def print_run(run: Run, selected: list[dict], color: bool | None = None, total: int | None = None) -> None:
    """``total``: how many samples the selection was made from (default: samples.jsonl's)."""
    color = sys.stdout.isatty() if color is None else color
    for s in selected:
        print(format_sample(s, color) + "\n")
    total = len(run.samples()) if total is None else total
    print(f"{len(selected)} of {total} samples shown ({run.path})")


_PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
.s{border:1px solid #ccc;border-radius:6px;margin:1em 0;padding:.6em 1em}
.ok{border-left:6px solid #2a2} .bad{border-left:6px solid #c33}
.meta{font-size:.9em;color:#555} pre{background:#f7f7f7;padding:.6em;overflow-x:auto}
.out{background:#eef} .err{background:#fee}
"""


def write_html(run: Run, selected: list[dict], path: str, total: int | None = None) -> None:
    from pygments import highlight  # here, not at the top: start-up cost
    from pygments.formatters import HtmlFormatter  # here, not at the top: start-up cost
    from pygments.lexers import PythonLexer  # here, not at the top: start-up cost
    fmt = HtmlFormatter(noclasses=True, nowrap=False)
    esc = html.escape
    cards = []
    for s in selected:
        body = highlight(s["program"], PythonLexer(), fmt) if s.get("program") else \
            f"<pre>{esc(s.get('completion', ''))}</pre>"
        out = f"<pre class=out>{esc(s['stdout'][:5000])}</pre>" if s.get("stdout") else ""
        err = f"<pre class=err>{esc(s['error'])}</pre>" if s.get("error") else ""
        cls = "ok" if s.get("correct") else "bad"
        cards.append(
            f"<div class='s {cls}'><div class=meta><b>{esc(str(s['task_id']))}</b> #{s['index']} "
            f"[{esc(str(s.get('family')))}] status=<b>{esc(str(s.get('status')))}</b> "
            f"answer=<code>{esc(repr(s.get('answer')))}</code> "
            f"target=<code>{esc(repr(s.get('target')))}</code></div>"
            f"<p>{esc(s.get('question', ''))}</p>{body}{out}{err}</div>")
    title = f"latentcode run {run.path.name}"
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<style>{_PAGE_CSS}</style></head><body><h1>{esc(title)}</h1>"
            f"<p>{len(selected)} of {len(run.samples()) if total is None else total} samples</p>{''.join(cards)}</body></html>")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
