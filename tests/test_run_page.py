"""The run page (`latentcode inspect RUN --html`) as a browser renders it.

Debian's headless Chromium loads the page and dumps the DOM it built; the test reads that DOM,
not the file, so markup a browser would repair or drop (an unclosed tag, an unescaped `<` in a
program) shows up as a difference. .ci/run installs Chromium and sets
LATENTCODE_REQUIRE_BROWSER=1, so there a missing browser fails instead of skipping.
"""
import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
import torch

from conftest import fit_replies
from latentcode.cli import main
from latentcode.expert.code_expert import CodeExpert
from latentcode.models import load_model
from latentcode.runs import Run
from tasks.suites import load_file

pytestmark = pytest.mark.usefixtures("one_thread")

REPLY = "```python\nx = 1 + 2\nprint(x)  # a < b & c\n```"
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


class Cards(HTMLParser):
    """Text per class inside each ``section.s`` card, and the summary table's cells."""

    def __init__(self):
        super().__init__()
        self.cards: list[dict[str, str]] = []
        self.summary: dict[str, str] = {}
        self.stack: list[tuple[str, list[str]]] = []
        self.radios: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "section" and "s" in classes:
            self.cards.append({"verdict_class": " ".join(classes)})
        if tag == "input" and attrs.get("type") == "radio":
            self.radios.append(attrs.get("id"))
        if tag not in ("br", "input", "meta"):
            self.stack.append((tag, classes))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        classes = [c for _, cs in self.stack for c in cs]
        if "summary" in classes:
            td = self.stack[-1][1] if self.stack and self.stack[-1][0] == "td" else []
            for c in td:
                self.summary[c] = self.summary.get(c, "") + data
        elif self.cards and "s" in classes:
            for c in ("verdict", "answer", "target", "linenos", "code", "q", "meta"):
                if c in classes:
                    self.cards[-1][c] = self.cards[-1].get(c, "") + data


def render(page) -> Cards:
    if BROWSER is None:
        if os.environ.get("LATENTCODE_REQUIRE_BROWSER"):
            pytest.fail("no Chromium found; .ci/run installs it (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    parsed = Cards()
    parsed.feed(dom)
    return parsed


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    questions = folder / "sums.jsonl"
    questions.write_text('{"question": "What is 1 + 2?", "answer": 3}\n{"question": "What is 2 + 2?", "answer": 4}\n'
                         '{"question": "Is 1 < 2 & 3 > 2?", "answer": "yes"}\n')
    torch.manual_seed(0)
    tiny, tok = load_model("tiny", device="cpu")
    expert = CodeExpert(tiny, tok)
    fit_replies(tiny, tok, [(expert.prompt(t), REPLY) for t in load_file(questions)], 200)
    model = folder / "coder"
    tiny.save_pretrained(model)
    tok.save_pretrained(model)
    assert main(["bench", "--model", str(model), "--suite", str(questions), "--max-new-tokens", "64",
                 "--dtype", "float32", "--runs-dir", str(folder / "runs"), "--quiet"]) == 0
    return next((folder / "runs").iterdir())


def test_the_page_as_a_browser_renders_it(run, tmp_path):
    samples = Run(run).samples()
    assert [s["program"] for s in samples] == ["x = 1 + 2\nprint(x)  # a < b & c"] * 3, "the fixture writes the program"
    page = tmp_path / "page.html"
    assert main(["inspect", str(run), "--html", str(page)]) == 0
    dom = render(page)
    assert dom.summary["kind"] == "bench" and dom.summary["model"].endswith("coder")
    assert dom.summary["shown"] == "3 of 3 samples"
    assert dom.summary["right"] == "1 of 3 (33.3%)"
    assert dom.summary["statuses"] == "ok 3"
    assert dom.summary["command"].startswith("latentcode bench --model")
    assert dom.radios == ["show-all", "show-right", "show-wrong"]
    assert len(dom.cards) == 3
    for card, s in zip(dom.cards, samples):
        verdict = "RIGHT" if s["correct"] else "WRONG"
        assert card["verdict"] == verdict and ("ok" if s["correct"] else "bad") in card["verdict_class"]
        assert card["answer"] == s["answer"] and card["target"] == s["target"]
        assert card["linenos"].split() == ["1", "2"]
        assert card["code"].rstrip("\n") == s["program"]  # `<` and `&` survive as text
        assert card["q"] == s["question"]


def test_the_filter_is_named_and_training_steps_and_routes_shown(run, tmp_path):
    page = tmp_path / "wrong.html"
    assert main(["inspect", str(run), "--failed", "--html", str(page)]) == 0
    dom = render(page)
    assert dom.summary["shown"] == "2 of 3 samples (filter: --failed)"
    assert [c["verdict"] for c in dom.cards] == ["WRONG", "WRONG"]
    # a training sample shows its step, a routed one its route
    r = Run(run)
    rows = r.samples()
    rows[0].update(step=7, path="code", p_code=0.91)
    r.write_jsonl("samples.jsonl", rows)
    page = tmp_path / "steps.html"
    assert main(["inspect", str(run), "--html", str(page)]) == 0
    meta = render(page).cards[0]["meta"]
    assert "step 7" in meta and "route=code p_code=0.91" in meta


# Measures, in the page as laid out, the top of each line number and of each code line (the
# first character of each line, through a Range), and writes them where --dump-dom shows them.
MEASURE = """<script>
function tops(pre) {
  const out = []; let start = true;
  const walk = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    for (let i = 0; i < n.data.length; i++) {
      if (n.data[i] === '\\n') { start = true; continue; }
      if (start) { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
                   const b = r.getBoundingClientRect(); out.push([b.top, b.height]); start = false; }
    }
  }
  return out;
}
const card = document.querySelector('section.s');
const rows = {numbers: tops(card.querySelector('td.linenos pre')), code: tops(card.querySelector('td.code pre'))};
document.body.setAttribute('data-layout', JSON.stringify(rows));
</script>"""


def test_line_numbers_stand_beside_their_lines(run, tmp_path):
    """Layout, not text: each number's row has the top and height of its code line and the same
    line pitch (within half a pixel), measured from the DOM the browser laid out. (Before: the
    numbers sat 1.25 px lower at a 15 px pitch against the code's 16.25.)"""
    import json
    import re
    page = tmp_path / "page.html"
    assert main(["inspect", str(run), "--html", str(page)]) == 0
    measured = tmp_path / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    if BROWSER is None:
        render(measured)  # skips, or fails where a browser is required
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", measured.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    rows = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(rows["numbers"]) == len(rows["code"]) == 2
    for (n_top, n_height), (c_top, c_height) in zip(rows["numbers"], rows["code"]):
        assert abs(n_top - c_top) <= 0.5 and abs(n_height - c_height) <= 0.5, rows
    # the same line pitch: a shorter numbers column drifts a line further with every line
    pitch = [side[1][0] - side[0][0] for side in (rows["numbers"], rows["code"])]
    assert abs(pitch[0] - pitch[1]) <= 0.5, rows
