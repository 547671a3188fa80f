"""`latentcode inspect`: read the programs of a run with their output and grade.

Filters select samples; the terminal view highlights code with Pygments (plain text when
not a terminal), and ``--html`` writes one self-contained page (inline styles, no
scripts, no server) that opens in any browser.
"""
from __future__ import annotations

import html
import sys

from sandbox.result import printable
from latentcode.runs import Run, flat_settings, run_kind


def select(samples: list[dict], *, failed: bool = False, status: str | None = None,
           family: str | None = None, longest: int | None = None, step: int | None = None,
           path: str | None = None) -> list[dict]:
    out = [s for s in samples
           if (not failed or not s.get("correct"))
           and (path is None or s.get("path") == path)
           and (step is None or s.get("step") == step)
           and (status is None or s.get("status") == status)
           and (family is None or s.get("family") == family)]
    if longest:
        out = sorted(out, key=lambda s: len(s.get("program") or ""), reverse=True)[:longest]
    return out


def _highlight(code: str, color: bool) -> str:
    if not color:
        return code
    from pygments import highlight
    from pygments.formatters import TerminalFormatter
    from pygments.lexers import PythonLexer
    return highlight(code, PythonLexer(), TerminalFormatter()).rstrip("\n")


def route_of(s: dict) -> str:
    """The path a sample answered by ("" for a one-path run): ``path=direct`` for a `bench
    --mode both` row, ``route=code p_code=0.73`` for a routed one."""
    if s.get("path") is None:
        return ""
    if s.get("p_code") is None:
        return f"path={s['path']}"
    return f"route={s['path']} p_code={float(s['p_code']):.2f}"


def format_sample(s: dict, color: bool = False) -> str:
    mark = "CORRECT" if s.get("correct") else "WRONG"
    route = route_of(s)
    head = (f"=== {s['task_id']} #{s['index']} [{s.get('family')}] {mark} "
            + (route + " " if route else "")
            + f"status={s.get('status')} answer={s.get('answer')!r} target={s.get('target')!r}")
    # model output and what its programs printed: no control sequence reaches the
    # terminal (escaped before the highlighter adds its own colours)
    parts = [printable(head), printable("Q: " + s.get("question", "").strip())]
    if s.get("program"):
        parts.append(_highlight(printable(s["program"]), color))
    else:
        parts.append(printable("(reply) " + s.get("completion", "").strip()[:2000]))
    if s.get("stdout"):
        parts.append(printable("--- stdout\n" + s["stdout"].rstrip()[:2000]))
    if s.get("value") is not None:
        parts.append(printable(f"--- value: {s['value'][:500]}"))
    if s.get("error"):
        parts.append(printable(f"--- error: {s['error']}"))
    return "\n".join(parts)


def print_run(run: Run, selected: list[dict], color: bool | None = None, total: int | None = None) -> None:
    """``total``: how many samples the selection was made from (default: samples.jsonl's)."""
    color = sys.stdout.isatty() if color is None else color
    for s in selected:
        print(format_sample(s, color) + "\n")
    total = len(run.samples()) if total is None else total
    print(f"{len(selected)} of {total} samples shown ({run.path})")


_PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
header{border-bottom:2px solid #ddd;margin-bottom:1em} header table td{padding:.1em 1em .1em 0}
.s{border:1px solid #ccc;border-radius:6px;margin:1em 0;padding:.6em 1em}
.ok{border-left:8px solid #2a2} .bad{border-left:8px solid #c33}
.verdict{font-weight:bold;padding:.1em .5em;border-radius:4px;color:#fff}
.ok .verdict{background:#2a2} .bad .verdict{background:#c33}
.meta{color:#444} .meta span{margin-right:1em}
table.at{border-collapse:collapse;margin:.5em 0;font-size:1.05em}
table.at th{text-align:left;padding:.2em .8em;background:#f0f0f0}
table.at td{padding:.2em .8em;font-family:monospace;white-space:pre-wrap;border:1px solid #eee}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto} .out{background:#eef} .err{background:#fee}
.highlighttable{width:100%;border-collapse:collapse} td.linenos{color:#999;user-select:none;width:1%} td.code{width:99%}
.highlighttable td{vertical-align:top;padding:0}
.highlighttable pre{margin:0;padding:.6em .4em;line-height:125%;font-size:1em} pre.reply{white-space:pre-wrap}
label.filters{margin-right:1em;cursor:pointer}
#show-right:checked ~ main .bad, #show-wrong:checked ~ main .ok{display:none}
"""


def _command(argv) -> str:
    """The command that made the run (config.json's argv), as it would be typed."""
    import shlex
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        return ""
    return shlex.join(["latentcode", *argv[1:]] if argv and argv[0].endswith(("latentcode", "__main__.py")) else argv)


def _summary_rows(run: Run, selected: list[dict], total: int, filters: str) -> list[tuple[str, str]]:
    from collections import Counter
    right = sum(bool(s.get("correct")) for s in selected)
    statuses = Counter(str(s.get("status")) for s in selected)
    try:
        config = run.config  # read once: kind, settings and command all come from it
    except (OSError, ValueError):
        config = {}
    settings = flat_settings(config)
    rows = [("kind", run_kind(config) if config else "?"), ("model", str(settings.get("model", "?"))),
            ("suite", str(settings.get("suite", "?"))),
            ("shown", f"{len(selected)} of {total} samples" + (f" (filter: {filters})" if filters else "")),
            ("right", f"{right} of {len(selected)}" + (f" ({right / len(selected):.1%})" if selected else "")),
            ("statuses", ", ".join(f"{k} {v}" for k, v in statuses.most_common()) or "-")]
    command = _command(config.get("argv"))
    if command:
        rows.append(("command", command))
    return rows


def _card(s: dict, highlight) -> str:
    """One sample's card; ``highlight(code)``: the program as highlighted HTML."""
    def esc(text):  # control characters shown escaped, then HTML-escaped
        return html.escape(printable(text))
    right = bool(s.get("correct"))
    route = route_of(s)
    if s.get("program"):
        body = highlight(printable(s["program"]))
    else:
        body = f"<pre class=reply>{esc(str(s.get('completion', '')))}</pre>"
    meta = [f"<span class=verdict>{'RIGHT' if right else 'WRONG'}</span>",
            f"<span><b>{esc(str(s.get('task_id')))}</b> sample {esc(str(s.get('index')))}</span>",
            f"<span>family {esc(str(s.get('family')))}</span>",
            f"<span>status <b>{esc(str(s.get('status')))}</b></span>"]
    if s.get("step") is not None:
        meta.append(f"<span>step {esc(str(s['step']))}</span>")
    if route:
        meta.append(f"<span>{esc(route)}</span>")
    if s.get("reward") is not None:
        meta.append(f"<span>reward {esc(str(s['reward']))}</span>")
    out = f"<pre class=out>{esc(str(s['stdout'])[:5000])}</pre>" if s.get("stdout") else ""
    err = f"<pre class=err>{esc(str(s['error']))}</pre>" if s.get("error") else ""
    answer = "" if s.get("answer") is None else str(s["answer"])
    return (f"<section class='s {'ok' if right else 'bad'}'><div class=meta>{''.join(meta)}</div>"
            f"<p class=q>{esc(str(s.get('question', '')))}</p>"
            f"<table class=at><tr><th>answer</th><th>target</th></tr>"
            f"<tr><td class=answer>{esc(answer)}</td><td class=target>{esc(str(s.get('target', '')))}</td></tr></table>"
            f"{body}{out}{err}</section>")


def write_html(run: Run, selected: list[dict], path: str, total: int | None = None, filters: str = "") -> None:
    """``page_html`` written to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page_html(run, selected, total, filters))


def page_html(run: Run, selected: list[dict], total: int | None = None, filters: str = "") -> str:
    """One self-contained page: a summary header (kind, model, suite, the filter, right and
    wrong, statuses, the command), then a card per sample: RIGHT or WRONG in words, the
    answer beside the target, the program with line numbers, its output and error. Buttons
    show all, only right or only wrong samples (CSS only: the page runs no script)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    fmt = HtmlFormatter(noclasses=True, linenos="table")  # numbers in their own cell: copying code skips them
    lexer = PythonLexer()
    esc = html.escape
    total = len(run.samples()) if total is None else total
    cards = "".join(_card(s, lambda code: highlight(code, lexer, fmt)) for s in selected)
    head = "".join(f"<tr><td>{esc(k)}</td><td class='{esc(k)}'>{esc(v)}</td></tr>"
                   for k, v in _summary_rows(run, selected, total, filters))
    title = f"latentcode run {run.path.name}"
    # the radios are <main>'s siblings, so the stylesheet's `:checked ~ main` rules can hide cards
    radios = "".join(f"<input type=radio name=show id=show-{v}{' checked' if v == 'all' else ''}>"
                     f"<label class=filters for=show-{v}>{v}</label>" for v in ("all", "right", "wrong"))
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<style>{_PAGE_CSS}</style></head><body><header><h1>{esc(title)}</h1>"
            f"<table class=summary>{head}</table></header>show: {radios}<main>{cards}</main></body></html>")
    return page
