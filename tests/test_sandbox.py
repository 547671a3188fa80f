"""The sandbox's contract: API, statuses, compatibility, faults and bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sandbox
from sandbox import Result
from tasks.sources import find_file

CORPUS = Path(__file__).resolve().parent / "corpus" / "sandbox"  # written for this project
BENIGN = sorted((CORPUS / "benign").glob("*.py"))


def test_last_expression_value_like_a_notebook_cell():
    r = sandbox.run("def mean(x):\n    return sum(x) / len(x)\nmean([3, 0, 1, 300])")
    assert (r.status, r.value, r.stdout) == ("ok", "76.0", "")


def test_stdout_and_none_value():
    r = sandbox.run("print('a'); print(1 + 1)")
    assert (r.status, r.stdout, r.value) == ("ok", "a\n2\n", None)


def test_error_has_type_message_and_program_line():
    r = sandbox.run("x = 1\ny = 2\nz = x / (y - 2)\n")
    assert r.status == "error"
    assert (r.error_type, r.lineno) == ("ZeroDivisionError", 3)
    assert r.error == "ZeroDivisionError: division by zero (line 3)"


def test_syntax_error_is_an_error_with_its_line():
    r = sandbox.run("x = 1\nprint(x +)\n")
    assert (r.status, r.lineno) == ("error", 2) and r.error.startswith("SyntaxError")


@pytest.mark.parametrize("policy", [True, False])
def test_syntax_errors_the_compiler_finds_after_parsing_are_errors_not_refusals(policy):
    # SmolLM2 ends GSM8K programs with a bare `return x`: the parser accepts it, compile()
    # does not; it was reported as a policy refusal ("blocked") until this test
    r = sandbox.run("total = 2 * 40\nreturn total", python_policy=policy)
    assert (r.status, r.error_type, r.lineno) == ("error", "SyntaxError", 2)
    assert "'return' outside function" in r.error


def test_the_main_guard_runs_and_name_stays_read_only():
    # 8 of 160 sampled list-statistics programs end with this idiom; it was refused
    r = sandbox.run("def main():\n    print(7)\n\nif __name__ == '__main__':\n    main()")
    assert (r.status, r.stdout) == ("ok", "7\n")
    assert sandbox.run("__name__ = 'x'").status == "blocked"


def test_policy_refusal_is_blocked_with_a_reason():
    r = sandbox.run("import os\nos.system('true')")
    assert r.status == "blocked" and "import of 'os' is not allowed" in r.error


def test_result_is_json_serialisable_and_round_trips():
    r = sandbox.run("print('hi')\n41 + 1")
    again = Result.from_dict(json.loads(r.to_json()))
    assert again == r and again.value == "42"


@pytest.mark.parametrize("code, status", [
    ("while True:\n    pass", "timeout"),
    ("import time\ntime.sleep(60)", "timeout"),
    ("x = bytearray(1 << 30)", "memory"),
    ("while True:\n    print('x' * 1000)", "output_limit"),
    ("import socket", "blocked"),
    ("raise ValueError('no')", "error"),
    ("import sys\nsys.exit(0)", "ok"),  # a clean exit keeps the output (issue 11) ...
    ("import sys\nsys.exit(3)", "error"),  # ... a failing one is an error
])
def test_statuses(code, status):
    r = sandbox.run(code, timeout_s=0.5, memory_mb=128, max_output_bytes=4096)
    assert r.status == status, r
    assert r.wall_s < 0.5 + 0.5
    assert len(r.stdout.encode()) <= 4096


def test_deadline_stops_a_loop_running_in_c():
    r = sandbox.run("import itertools\nsum(itertools.repeat(1, 10**12))", timeout_s=0.5)
    assert r.status == "timeout" and r.wall_s < 1.0


def test_stdin_is_the_programs_input():
    r = sandbox.run("a = input()\nb = input()\nprint(int(a) + int(b))", stdin="2\n40\n")
    assert r.stdout == "42\n"


@pytest.mark.parametrize("code, out", [
    ("import sys\nprint(sys.maxsize > 2**31)", "True\n"),
    ("class C:\n    def __init__(self):\n        self.count = 0\n"
     "    def tick(self):\n        self.count += 1\n        return self\n"
     "print(C().tick().tick().count)", "2\n"),
    ("d = {'a': [1]}\nd['a'][0] += 5\nprint(d)", "{'a': [6]}\n"),
    ("def gen(n):\n    for i in range(n):\n        yield i * i\nprint(list(gen(4)))", "[0, 1, 4, 9]\n"),
    ("def f(n):\n    return 1 if n < 2 else n * f(n - 1)\nprint(f(20))", "2432902008176640000\n"),
    ("x = 3\nprint(f'{x!r:>4}|{x * 2}')", "   3|6\n"),
    ("from collections import namedtuple\nP = namedtuple('P', 'x y')\n"
     "print(P(1, 2)._replace(y=5))", "P(x=1, y=5)\n"),
    ("print('{} and {name}'.format(1, name='b'))", "1 and b\n"),
])
def test_ordinary_programs_run_unchanged(code, out):
    r = sandbox.run(code)
    assert (r.status, r.stdout) == ("ok", out), r


@pytest.mark.parametrize("python_policy", [True, False], ids=["all-layers", "os-layers-only"])
def test_benign_corpus_exact_stdout(python_policy):
    codes = [p.read_text() for p in BENIGN]
    expected = [json.loads(c.split("\n", 1)[0].split(":", 1)[1]) for c in codes]
    results = sandbox.run_many(codes, python_policy=python_policy)
    wrong = [(p.name, r.status, r.error) for p, r, e in zip(BENIGN, results, expected)
             if (r.status, r.stdout) != ("ok", e)]
    assert len(BENIGN) >= 74 and wrong == []


def test_humaneval_canonical_solutions_pass_their_tests():
    rows = [json.loads(line) for line in find_file("humaneval/HumanEval.jsonl").open()]
    codes = [r["prompt"] + r["canonical_solution"] + "\n" + r["test"] +
             f"\ncheck({r['entry_point']})\n" for r in rows]
    results = sandbox.run_many(codes, timeout_s=5.0)
    passed = sum(r.status == "ok" for r in results)
    assert passed / len(rows) >= 0.99, [(row["task_id"], r.error) for row, r in
                                        zip(rows, results) if r.status != "ok"]


def test_run_many_keeps_input_order_with_uneven_durations():
    codes = [f"import time\ntime.sleep({0.05 * (i % 3)})\nprint({i})" for i in range(12)]
    assert [r.stdout for r in sandbox.run_many(codes)] == [f"{i}\n" for i in range(12)]


def test_each_program_gets_a_fresh_process():
    poison = "import math\nmath.sqrt = lambda x: 42"
    probe = "import math\nprint(math.sqrt(4))"
    results = sandbox.run_many([poison, probe, "x = 1\nx", probe], workers=1)
    assert results[0].status == "blocked"  # the policy refuses writes to a module
    assert [r.stdout for r in results[1::2]] == ["2.0\n", "2.0\n"]
    raw = sandbox.run_many([poison, probe], workers=1, python_policy=False)
    assert raw[0].status == "ok" and raw[1].stdout == "2.0\n"  # fork isolation alone holds


# faults ------------------------------------------------------------------------------

def test_a_server_killed_mid_batch_loses_nothing():
    pool = sandbox.default_pool(2)
    codes = [f"import time\ntime.sleep(0.1)\nprint({i})" for i in range(16)]
    victim = None

    def kill_one():
        nonlocal victim
        time.sleep(0.25)
        victim = pool.servers[0].pid
        os.kill(victim, signal.SIGKILL)

    t = threading.Thread(target=kill_one)
    t.start()
    results = sandbox.run_many(codes, workers=2)
    t.join()
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(16)]
    assert victim not in [s.pid for s in pool.servers]  # replaced
    assert sandbox.run("print('next')", workers=None).stdout == "next\n"


def test_a_program_that_kills_its_server_every_time_is_reported_crashed():
    # With the policy off, os is reachable; the OS layers still stop signals to the
    # server, so this program cannot kill it: the batch completes with every result.
    code = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('alive')"
    results = sandbox.run_many([code, "print(2)"], python_policy=False)
    assert results[0].status == "error" and "PermissionError" in results[0].error
    assert results[1].stdout == "2\n"


# bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [b"print(1)", None, 42, ["print(1)"]])
def test_non_string_code_is_a_type_error(bad):
    with pytest.raises(TypeError, match="must be a str"):
        sandbox.run(bad)


def test_run_many_refuses_a_bare_string():
    with pytest.raises(TypeError, match="list of programs"):
        sandbox.run_many("print(1)")


@pytest.mark.parametrize("code, status", [
    ("print(1)\x00", "error"),
    ("x = 1\n" * 200_000, "blocked"),  # 1.2 MB
    ("print('\ud800')", "error"),
    ("(" * 500 + ")" * 500, "error"),
])
def test_malformed_programs_get_a_result(code, status):
    r = sandbox.run(code)
    assert r.status == status and r.error


def test_invalid_utf8_output_is_replaced_not_fatal():
    r = sandbox.run("import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end')", python_policy=True)
    assert r.status == "ok" and r.stdout.startswith("ok ") and r.stdout.endswith(" end")


@pytest.mark.parametrize("kw, field", [
    ({"timeout_s": 0}, "timeout_s"), ({"memory_mb": 4}, "memory_mb"),
    ({"max_output_bytes": -1}, "max_output_bytes"), ({"stdin": 3}, "stdin"),
])
def test_bad_limits_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        sandbox.run("print(1)", **kw)


def test_cli_prints_result_json(tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("print('cli')\n6 * 7\n")
    out = subprocess.run([sys.executable, "-m", "sandbox", str(prog)], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])
    d = json.loads(out.stdout)
    assert out.returncode == 0 and (d["status"], d["stdout"], d["value"]) == ("ok", "cli\n", "42")


def test_cli_reads_stdin():
    out = subprocess.run([sys.executable, "-m", "sandbox", "-"], input="1/0", capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 1 and json.loads(out.stdout)["error_type"] == "ZeroDivisionError"


def test_layers_report_what_is_active():
    layers = sandbox.available_layers()
    assert layers["rlimits"] is True and "seccomp" in layers and "chroot" in layers


@pytest.mark.slow
def test_a_hung_server_is_replaced_by_the_watchdog():
    pool = sandbox.default_pool(2)
    codes = [f"import time\ntime.sleep(0.05)\nprint({i})" for i in range(10)]
    stopped = []

    def stop_one():
        time.sleep(0.2)
        stopped.append(pool.servers[1].pid)
        os.kill(stopped[0], signal.SIGSTOP)  # alive but silent: only a deadline can tell

    t = threading.Thread(target=stop_one)
    t.start()
    results = sandbox.run_many(codes, workers=2, timeout_s=0.5)
    t.join()
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(10)]
    assert stopped[0] not in [s.pid for s in pool.servers]


def test_empty_run_many_and_closed_pool_leave_nothing_behind():
    assert sandbox.run_many([]) == []
    pool = sandbox.Pool(1)
    assert pool.run_many(["print(1)"], timeout_s=1.0, memory_mb=128,
                         max_output_bytes=100)[0].stdout == "1\n"
    root = pool.servers[0].hello["root"]
    assert os.path.isdir(root)
    pool.servers[0].proc.send_signal(signal.SIGKILL)
    pool.close()
    assert not os.path.exists(root)


def test_latentcode_demo_runs_and_shows_every_status(capsys):
    from latentcode.cli import main
    assert main(["demo", "--throughput", "20", "--timeout-s", "0.5"]) == 0
    out = capsys.readouterr().out
    for status in ("ok", "error", "timeout", "memory", "output_limit", "blocked"):
        assert f" {status} " in out
    assert "20 distinct programs, 20 ok" in out


def _children_of(pids: set[int]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) in pids:
                found.append(int(entry))
    return found


def test_a_program_killed_from_outside_is_reported_crashed():
    pool = sandbox.default_pool(2)
    sandbox.run("print(0)")
    zygotes = {s.hello["zygote"] for s in pool.servers}  # programs are the zygotes' children
    killed = []

    def kill_the_sleeper():
        for _ in range(200):
            time.sleep(0.02)
            kids = _children_of(zygotes)
            if kids:
                os.kill(kids[0], signal.SIGKILL)
                killed.append(kids[0])
                return

    t = threading.Thread(target=kill_the_sleeper)
    t.start()
    results = sandbox.run_many(["import time\ntime.sleep(3)\nprint('slept')"], timeout_s=5.0)
    t.join()
    assert killed and results[0].status == "crashed" and "SIGKILL" in results[0].error
    assert sandbox.run("print(1)").stdout == "1\n"
