"""Every Python snippet of the README and docs/ runs as written, each in a fresh namespace in a
scratch folder, with one substitution: the `tiny` model in place of `smollm2-135m` (the
embedded model takes ~25 s to dequantise on a fresh machine; the code path is the same).
Shell commands in the docs are checked by tests/test_config.py (they parse) and the configs by
tests/test_configs.py (they run)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def snippets() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
            out.append((f"{doc.name}:{text[:m.start()].count(chr(10)) + 1}", m.group(1)))
    return out


def test_the_docs_have_snippets():
    assert len(snippets()) >= 6


@pytest.mark.parametrize("where,code", snippets(), ids=[w for w, _ in snippets()])
def test_snippet_runs(where, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = code.replace('"smollm2-135m"', '"tiny"')
    exec(compile(code, where, "exec"), {"__name__": "__snippet__"})
    out = capsys.readouterr().out
    for line in code.splitlines():  # a printed result the snippet's comment states is what it prints
        m = re.match(r"print\((.*)\)\s+# (\S.*?)(:|$)", line.strip())
        if m and where.startswith("README"):
            assert m.group(2).split(":")[0].strip() in out, (where, line, out)
