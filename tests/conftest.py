"""Fixtures shared by several test files."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny arrays: a second thread only adds synchronisation, which costs 50x when another
    job holds the other core. Opt in with pytestmark = pytest.mark.usefixtures("one_thread")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fit_replies(model, tok, pairs, steps: int, optimizer=torch.optim.Adam) -> None:
    """Fit ``model`` (full batch, lr 1e-2, loss on each reply and its end token only) to answer
    each (prompt, reply) of ``pairs``."""
    enc = tok([p + r + tok.eos_token for p, r in pairs], add_special_tokens=False,
              return_tensors="pt", padding=True)  # left padding: the replies end every row
    labels = torch.full_like(enc.input_ids, -100)
    for row, (_, reply) in enumerate(pairs):
        n = len(tok(reply + tok.eos_token, add_special_tokens=False).input_ids)
        labels[row, -n:] = enc.input_ids[row, -n:]
    opt = optimizer(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        model(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()


# "What is a + b? (case i)" questions the coders also answer with their reply: the tests ask
# such questions, so what the coder writes for them is fitted, not left to how a fit on
# list-statistics prompts happens to generalise (it did on bf16 CPUs, and not in float32)
WHAT_IS = [f"What is {a} + {b}? (case {i})" for i, (a, b) in enumerate([(2, 5), (4, 4), (6, 1), (3, 9), (5, 2), (7, 7)])]


def fit_tiny_coder(folder, reply: str, steps: int, optimizer=torch.optim.Adam, also: list[str] = ()) -> str:
    """Save to ``folder`` the tiny model fitted (loss on the reply only) to answer ``reply``
    to the default training and held-out questions and to the questions ``also``. A random
    tiny model never writes a program, so every completion scores the same and neither GRPO
    nor ES has a signal. Fitted in float32 whatever this CPU's fast dtype: the same coder on
    an AVX2 machine (float32) and one with native bf16."""
    from latentcode.expert.code_expert import CodeExpert
    from latentcode.models import load_model
    from tasks.base import Task
    from tasks.config import SplitConfig, TaskConfig, load_split
    torch.manual_seed(0)
    model, tok = load_model("tiny", device="cpu", dtype="float32")
    train, held = load_split(TaskConfig(), SplitConfig(train_size=8, eval_size=4))
    asked = [Task(f"also/{i}", q, "", "arithmetic", {}) for i, q in enumerate(also)]
    expert = CodeExpert(model, tok)
    fit_replies(model, tok, [(expert.prompt(t), reply) for t in train + held + asked], steps, optimizer)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def tiny_labels(root) -> dict:
    """Two `bench --mode both` runs of the `tiny` model (router labels), "train" and "heldout",
    each on four questions of a JSONL file: {name: run folder}."""
    from latentcode.cli import main
    for name in ("train", "heldout"):
        questions = root / f"{name}.jsonl"
        questions.write_text("".join(f'{{"question": "What is {i} + 3?", "answer": {i + 3}}}\n' for i in range(4)))
        assert main(["bench", "--model", "tiny", "--mode", "both", "--suite", str(questions), "--max-new-tokens", "8",
                     "--runs-dir", str(root / "labels"), "--name", name, "--quiet"]) == 0
    return {p.name.rsplit("-", 1)[-1]: p for p in (root / "labels").iterdir()}


PRINT_THREE = "```python\nprint(1 + 2)\n```"


@pytest.fixture(scope="module")
def coder(tmp_path_factory):
    """A tiny model folder that answers code prompts with ``print(1 + 2)`` in a code block some
    of the time (right for 'what is 1 + 2'): rewards that differ within a group, programs to
    keep. A module may define its own ``coder`` (tests/test_es.py does)."""
    # 45 steps: 29 of 64 programs sampled (temperature 0.7) for "What is 1 + 2? (case i)" are
    # print(1 + 2); fits of 40-60 steps sampled the same counts in float32 and in bf16
    return fit_tiny_coder(tmp_path_factory.mktemp("coder"), PRINT_THREE, 45, torch.optim.AdamW, also=WHAT_IS)


def free_port() -> int:
    """A TCP port nothing listens on now: a distributed test's rendezvous."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
