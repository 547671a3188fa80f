"""Escape techniques beyond the shared corpus.

Policy cases: each must end blocked or as a plain error, with nothing leaked.
OS cases run with the Python policy switched off: the OS layers alone must refuse them.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import sandbox

POLICY_CASES = {
    # rebinding a guard, in every binding form the grammar has
    "assign-guard": "_getattr_ = getattr",
    "global-guard": "def f():\n    global _write_\n    _write_ = 1\nf()",
    "walrus-guard": "(_getattr_ := 1)",
    "for-guard": "for _getiter_ in [1]:\n    pass",
    "import-as-guard": "import math as _getattr_",
    "except-as-guard": "try:\n    1/0\nexcept Exception as _write_:\n    pass",
    "param-guard": "def f(_getattr_=None, /):\n    return 1\nf()",
    "match-capture-guard": "match 1:\n    case _getattr_:\n        pass",
    "reserved-print": "_print = 1",
    "class-kwarg-pattern": "match 1:\n    case int(__class__=c):\n        print(c)",
    # attribute walks that avoid attribute syntax
    "getattr-dunder": "getattr(1, '__cl' + 'ass__')",
    "getattr-frame": "def g():\n    yield 1\ngetattr(g(), 'gi_' + 'frame')",
    "mro": "type(1).mro()",
    "format-unbound": "str.format('{0.__class__}', 1)",
    "format-index": "'{0[0].__class__}'.format([1])",
    "format-map": "'{x.__class__}'.format_map({'x': 1})",
    "formatter-class": "import string\nstring.Formatter().get_field('0.__class__', [1], {})",
    "attrgetter": "import operator\noperator.attrgetter('__class__')(1)",
    "attrgetter-dotted": "import operator\noperator.attrgetter('real.__class__')(1)",
    "methodcaller": "import operator\noperator.methodcaller('__reduce_ex__', 2)(1)",
    "reduce-getattr": "import functools\nfunctools.reduce(getattr, ['__class__'], 1)",
    "view-internals": "import math\nmath._attrs",
    "view-write": "import math\nsetattr(math, 'sqrt', abs)",
    "module-attr-module": "import random\nrandom._os",
    "private-module": "import _posixsubprocess",
    "dotted-private": "from collections import _sys",
    "type-3-args": "type('X', (), {})",
    "eval-name": "eval('__import__(\"os\")')",
    "exec-decorator": "@exec\ndef f():\n    pass",
    "stdlib-class-write": "from collections import Counter\nCounter.most_common = None",
    "builtins-name": "__builtins__",
    "vars-globals": "globals()",
    "open-builtin": "open('/etc/passwd')",
    "breakpoint": "breakpoint()",
}


@pytest.mark.parametrize("name", POLICY_CASES)
def test_policy_refuses(name):
    r = sandbox.run(POLICY_CASES[name], timeout_s=1.0)
    assert r.status in ("blocked", "error"), r
    assert "<class" not in r.stdout and "<class" not in (r.value or "")


DROP = Path("/tmp/sbx_extra")

OS_CASES = {
    "kill-everyone": "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('sent')",
    "kill-server": "import os, signal\nos.kill(os.getppid(), signal.SIGTERM)\nprint('sent')",
    "setuid-root": "import os\nos.setuid(0)\nprint('root')",
    "chroot-escape": ("import os\nos.mkdir('x')\nos.chroot('x')\n"
                      "for _ in range(20): os.chdir('..')\nos.chroot('.')\nprint(open('/etc/passwd').read())"),
    "fifo": "import os\nos.mkfifo('/tmp/sbx_extra/fifo')\nprint('made')",
    "symlink": "import os\nos.symlink('/etc/passwd', '/tmp/sbx_extra/link')\nprint('made')",
    "write-cwd": "open('scratch.txt', 'w').write('x')\nprint('wrote')",
    "raise-nofile": "import resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))\nprint('raised')",
    "ctypes-fork": "import ctypes\nprint('forked', ctypes.CDLL(None).fork())",
    "ctypes-io-uring": ("import ctypes\nlibc = ctypes.CDLL(None)\n"
                        "p = ctypes.create_string_buffer(120)\nprint('fd', libc.syscall(425, 8, p))"),
    "ctypes-ptrace": "import ctypes\nprint('rc', ctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0))",
    "ctypes-netlink": "import ctypes\nprint('fd', ctypes.CDLL(None).socket(16, 3, 0))",
    "ctypes-unshare": "import ctypes\nprint('rc', ctypes.CDLL(None).unshare(0x10000000))",
    "proc-self": "print(open('/proc/self/status').read())",
    "list-root": "import os\nprint(os.listdir('/'))",
    "env": "import os\nprint(dict(os.environ))",
}


@pytest.fixture
def drop_dir():
    shutil.rmtree(DROP, ignore_errors=True)
    DROP.mkdir(mode=0o777)
    DROP.chmod(0o777)
    yield DROP
    shutil.rmtree(DROP, ignore_errors=True)


@pytest.mark.parametrize("name", OS_CASES)
def test_os_layers_refuse_without_the_policy(name, drop_dir):
    os.environ["SBX_EXTRA_SECRET"] = "extra-secret"
    try:
        r = sandbox.run(OS_CASES[name], timeout_s=1.0, python_policy=False)
    finally:
        os.environ.pop("SBX_EXTRA_SECRET")
    assert list(drop_dir.iterdir()) == []
    assert "root:x:0:0" not in r.stdout and "extra-secret" not in r.stdout
    if name == "list-root":
        # an empty root, and Landlock refuses even reading it
        assert r.stdout == "[]\n" or r.error.startswith("PermissionError"), r
    elif name == "env":
        assert r.stdout == "{}\n", r
    elif name.startswith("ctypes-"):
        assert r.status != "ok" or "-1" in r.stdout, r  # the call returned an error
    else:
        assert r.status in ("error", "crashed", "blocked"), r
    assert sandbox.run("print(6 * 7)").stdout == "42\n"  # the server survived
