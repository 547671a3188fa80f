"""The hostile corpus (tests/corpus/sandbox/hostile, written for this project): zero
escapes, with and without layer 1.

Each file's first line names a check tag; the harness below plants what an escape would
reach (a writable drop directory, a secret file, an environment secret, a secret in this
process's memory, loopback listeners, a SIGUSR1 handler) and then looks for it.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

import sandbox

CORPUS = Path(__file__).resolve().parent / "corpus" / "sandbox" / "hostile"
FILES = sorted(CORPUS.glob("*.py"))
TIMEOUT_S, MEMORY_MB, CAP = 1.0, 256, 65536
DROP = Path("/tmp/sbx_pwned")
SECRET_FILE = Path("/tmp/sbx_secret.txt")
PORT = 47123
DOCKER_SOCK = Path("/var/run/docker.sock")

SBX_MEM_SECRET = "memsecret-" + secrets.token_hex(8)  # what frame/gc walks hunt for
PROBE = ("import math\nfrom collections import Counter\n"
         "print(math.sqrt(4), Counter('abcab').most_common(1), len([1, 2]), sum([1, 2]))\n")
PROBE_OUT = "2.0 [('a', 2)] 2 3\n"


def tag_of(path: Path) -> str:
    m = re.search(r"\[check=([^\]]+)\]", path.read_text().splitlines()[0])
    assert m, f"{path.name}: first line has no [check=...] tag"
    return m.group(1)


class Harness:
    """Plants the canaries and records what reaches them."""

    def __init__(self):
        self.file_secret = "filesecret-" + secrets.token_hex(8)
        self.env_secret = "envsecret-" + secrets.token_hex(8)
        self.net_hits: list[bytes] = []
        self.signals: list[int] = []
        self._stop = threading.Event()

    def __enter__(self):
        shutil.rmtree(DROP, ignore_errors=True)
        DROP.mkdir(mode=0o777)
        DROP.chmod(0o777)
        SECRET_FILE.write_text(self.file_secret)
        SECRET_FILE.chmod(0o644)
        os.environ["SBX_SECRET_ENV"] = self.env_secret
        self._old_usr1 = signal.signal(signal.SIGUSR1, lambda s, f: self.signals.append(s))
        self.tcp = socket.create_server(("127.0.0.1", PORT), reuse_port=False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", PORT))
        self.unix = None
        if not DOCKER_SOCK.exists() and os.access(DOCKER_SOCK.parent, os.W_OK):
            self.unix = socket.socket(socket.AF_UNIX)
            self.unix.bind(str(DOCKER_SOCK))
            DOCKER_SOCK.chmod(0o777)
            self.unix.listen()
        for sock in filter(None, (self.tcp, self.udp, self.unix)):
            sock.settimeout(0.2)
            threading.Thread(target=self._listen, args=(sock,), daemon=True).start()
        return self

    def _listen(self, sock):
        while not self._stop.is_set():
            try:
                if sock.type == socket.SOCK_DGRAM:
                    self.net_hits.append(sock.recv(1024))
                else:
                    conn, _ = sock.accept()
                    self.net_hits.append(b"connection")
                    conn.close()
            except (socket.timeout, OSError):
                continue

    def __exit__(self, *exc):
        self._stop.set()
        time.sleep(0.3)
        for sock in filter(None, (self.tcp, self.udp, self.unix)):
            sock.close()
        if self.unix is not None:
            DOCKER_SOCK.unlink(missing_ok=True)
        signal.signal(signal.SIGUSR1, self._old_usr1)
        os.environ.pop("SBX_SECRET_ENV", None)
        SECRET_FILE.unlink(missing_ok=True)
        shutil.rmtree(DROP, ignore_errors=True)  # another user's next run must be able to plant it

    def dropped(self) -> list[str]:
        shm = [p.name for p in Path("/dev/shm").glob("sbx_pwned*")]
        return sorted(p.name for p in DROP.iterdir()) + shm

    def leaked(self, r: sandbox.Result, tag: str) -> bool:
        text = f"{r.stdout}\n{r.value}\n{r.error}"
        needle = {"out:FILESECRET": self.file_secret, "out:ENVSECRET": self.env_secret,
                  "out:MEMSECRET": SBX_MEM_SECRET, "passwd": "root:x:0:0"}.get(tag)
        return needle is not None and needle in text


def run_corpus(python_policy: bool):
    codes = [p.read_text() for p in FILES]
    with Harness() as h:
        started = time.monotonic()
        results = sandbox.run_many(codes, timeout_s=TIMEOUT_S, memory_mb=MEMORY_MB,
                                   max_output_bytes=CAP, python_policy=python_policy)
        # contamination and parent checks: each attack, then a probe, on one worker
        pairs = [c for p, c in zip(FILES, codes) if tag_of(p) in ("contam", "parent")
                 for c in (c, PROBE)]
        followups = sandbox.run_many(pairs, workers=1, timeout_s=TIMEOUT_S,
                                     memory_mb=MEMORY_MB, python_policy=python_policy)
        time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))  # 076 writes after 2 s
        probe_after = sandbox.run(PROBE)
        dropped = h.dropped()
        return {"results": results, "followups": followups, "dropped": dropped,
                "net": list(h.net_hits), "signals": list(h.signals), "h": h,
                "probe_after": probe_after}


@pytest.fixture(scope="module", params=[True, False], ids=["all-layers", "os-layers-only"])
def corpus(request):
    out = run_corpus(python_policy=request.param)
    sandbox.default_pool(None)  # back to the default pool size for later tests
    return out


def test_corpus_is_present():
    assert len(FILES) >= 117, f"expected the hostile corpus at {CORPUS}"


def test_no_file_escapes(corpus):
    assert corpus["dropped"] == []


def test_no_network_escapes(corpus):
    assert corpus["net"] == []


def test_no_signal_reaches_the_host(corpus):
    assert corpus["signals"] == []


def test_host_still_runs_programs_afterwards(corpus):
    assert corpus["probe_after"].stdout == PROBE_OUT


def test_one_result_per_program(corpus):
    assert len(corpus["results"]) == len(FILES)
    assert all(isinstance(r, sandbox.Result) for r in corpus["results"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_hostile_program_is_held(corpus, path):
    tag = tag_of(path)
    r = corpus["results"][FILES.index(path)]
    assert not corpus["h"].leaked(r, tag), f"{path.name} leaked a secret: {r}"
    assert r.value is None or type(r.value) is str
    assert r.wall_s <= TIMEOUT_S + 0.5, f"{path.name} ran {r.wall_s:.2f} s"
    assert r.max_rss_mb <= MEMORY_MB, f"{path.name} peaked at {r.max_rss_mb:.0f} MB"
    assert len(r.stdout.encode()) <= CAP
    if tag == "time":
        assert r.status in ("timeout", "memory", "error", "blocked"), r
    if tag == "mem":
        assert r.status in ("memory", "timeout", "error", "blocked", "crashed"), r
    if tag == "outsize":
        assert r.status in ("output_limit", "memory", "timeout", "blocked", "error"), r
    if tag == "parent":
        assert r.status != "ok" or "exit" not in path.stem, r  # sys.exit is not success
    if tag == "reward":
        assert r.value != "42" or r.status == "blocked" or type(r.value) is str


def test_followup_programs_are_not_contaminated(corpus):
    probes = corpus["followups"][1::2]
    assert probes and all(p.stdout == PROBE_OUT and p.status == "ok" for p in probes), \
        [p for p in probes if p.stdout != PROBE_OUT]
