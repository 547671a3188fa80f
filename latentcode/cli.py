"""The `latentcode` command line. Each subcommand is a few library calls.

    latentcode bench --model smollm2-135m --suite liststats --n 50 --samples 4 --mode code
    latentcode bench --config bench.yaml --few-shot 2       # YAML, then flags
    latentcode inspect runs/<run> --failed --html out.html
    latentcode demo
"""
from __future__ import annotations

import argparse
import sys
import time

DEMO_PROGRAMS = {
    "mean (last expression)": "def mean(x):\n    return sum(x) / len(x)\nmean([3, 0, 1, 300, 2])",
    "statistics + print": "import statistics\nxs = [3, 0, 1, 300, 2]\n"
                          "print(statistics.median(xs), statistics.pstdev(xs))",
    "runtime error": "xs = []\nprint(sum(xs) / len(xs))",
    "infinite loop": "while True:\n    pass",
    "memory bomb": "x = [0] * 10**10",
    "output flood": "while True:\n    print('spam' * 1000)",
    "import os": "import os\nos.system('echo pwned')",
    "dunder escape": "().__class__.__base__.__subclasses__()",
}


def cmd_demo(args) -> int:
    import sandbox
    names = list(DEMO_PROGRAMS)
    t0 = time.perf_counter()
    results = sandbox.run_many([DEMO_PROGRAMS[n] for n in names], timeout_s=args.timeout_s,
                               memory_mb=args.memory_mb, max_output_bytes=4096)
    wall = time.perf_counter() - t0
    print(f"{'program':24s} {'status':13s} {'wall s':>7s}  answer / error")
    for name, r in zip(names, results):
        shown = r.value if r.value is not None else (r.stdout.strip().splitlines() or [""])[-1]
        if r.status != "ok":
            shown = r.error or ""
        print(f"{name:24s} {r.status:13s} {r.wall_s:7.3f}  {sandbox.printable(shown[:60])}")
    layers = sandbox.available_layers()
    print(f"\n{len(names)} programs in {wall:.2f} s; active layers: "
          + ", ".join(f"{k}={v}" for k, v in layers.items()))
    n = args.throughput
    if n:
        progs = [f"x = {i}\nprint(x * x)" for i in range(n)]
        t0 = time.perf_counter()
        ok = sum(r.ok for r in sandbox.run_many(progs))
        dt = time.perf_counter() - t0
        print(f"throughput: {n} distinct programs, {ok} ok, {n / dt:.0f} programs/s")
    return 0


def cmd_inspect(args) -> int:
    from latentcode.runs import Run
    from latentcode.viewer import print_run, select, write_html
    run = Run.open(args.run)
    samples = run.samples(held_out=args.held_out)
    chosen = select(samples, failed=args.failed, status=args.status, family=args.family,
                    longest=args.longest, step=args.step, path=args.path)
    if args.html:
        flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                 for k, v in vars(args).items()
                 if k in ("failed", "status", "family", "path", "longest", "step", "held_out") and v not in (None, False)]
        write_html(run, chosen, args.html, total=len(samples), filters=" ".join(flags))
        print(f"wrote {args.html} ({len(chosen)} samples)")
    else:
        print_run(run, chosen, color=None if not args.no_color else False, total=len(samples))
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """A mistake on the command line: one line (main prints it), not the usage first."""
        raise ValueError(f"{message}; see `{self.prog} --help`")


EPILOG = """every command:
  --debug            on an error, show the traceback instead of one line (exit status 2)
  --config FILE.yaml bench and train: settings from a YAML file (configs/ has examples);
                     flags given as well override the file
  `latentcode bench --help`, `latentcode train grpo --help`: a command's own options;
  --help-all adds the options inherited from TRL and transformers."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="latentcode", description=__doc__, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("bench", help="run a benchmark suite with the code expert (or direct answers) "
                   "and log every program: `latentcode bench --help`")
    i = sub.add_parser("inspect", help="read a run's programs with their output and grade")
    i.add_argument("run", help="a run folder written by bench or train")
    i.add_argument("--failed", action="store_true", help="only samples graded wrong")
    i.add_argument("--status", help="only this execution status (ok, error, timeout, truncated, ...)")
    i.add_argument("--family", help="only this task family")
    i.add_argument("--path", choices=("code", "direct"),
                   help="a routed or both-paths run: only questions answered by this path")
    i.add_argument("--longest", type=int, metavar="N", help="the N longest programs")
    i.add_argument("--step", type=int, metavar="N", help="only a training run's step (EM: iteration) N")
    i.add_argument("--held-out", action="store_true",
                   help="a training run's held-out evaluations instead of its training samples")
    i.add_argument("--html", metavar="OUT", help="write one self-contained HTML page instead")
    i.add_argument("--no-color", action="store_true")
    i.set_defaults(func=cmd_inspect)
    sub.add_parser("train", help="train the code expert or the router: `latentcode train grpo|es|em|router --help`")
    d = sub.add_parser("demo", help="run a few benign and hostile programs through the sandbox")
    d.add_argument("--timeout-s", type=float, default=1.0)
    d.add_argument("--memory-mb", type=int, default=256)
    d.add_argument("--throughput", type=int, default=500, help="also time N small programs (0: skip)")
    d.set_defaults(func=cmd_demo)
    return p


def train_help() -> str:
    """``latentcode train --help``, from the command table (``latentcode.config.COMMANDS``)."""
    from latentcode.commands import COMMANDS, TRAINERS
    rows = "\n".join(f"  {kind:<7}{COMMANDS[kind].summary} ({COMMANDS[kind].module.replace('.', '/')}.py)"
                     for kind in TRAINERS)
    return f"""usage: latentcode train {{{','.join(TRAINERS)}}} [--config run.yaml] [--FIELD VALUE ...]

{rows}

Every config field is a flag (--mdl ast --mdl-weight 0.01 --max-steps 50) and may also
come from a YAML file given with --config; flags override the file. `latentcode train
grpo --help` lists the fields."""


def cmd_train(argv: list[str]) -> int:
    import importlib
    from latentcode.commands import COMMANDS, TRAINERS
    if argv[:1] in (["-h"], ["--help"]):
        print(train_help())
        return 0
    if not argv or argv[0] not in TRAINERS:
        print(train_help() + "\n", file=sys.stderr)
        what = f"unknown trainer {argv[0]!r}" if argv else "no trainer given"
        print(f"latentcode train: error: {what}; choose one of {', '.join(TRAINERS)}", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[argv[0]].module).main(argv[1:])


def cmd_bench(argv: list[str]) -> int:
    from latentcode.evaluate import main as bench_main
    return bench_main(argv)


def _dispatch(argv: list[str]) -> int:
    # bench's and the trainers' flags come from their composed configs (latentcode.config)
    if argv[:1] == ["train"]:
        return cmd_train(argv[1:])
    if argv[:1] == ["bench"]:
        return cmd_bench(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


def _expected(error: BaseException) -> bool:
    """Whether bad input, a missing model or data, or a damaged run folder raised ``error``:
    one line each. (latentcode.models is looked up, not imported: `latentcode --help` stays
    fast, and an error raised before it was imported cannot be its ModelNotAvailable.)"""
    models = sys.modules.get("latentcode.models")
    return isinstance(error, (ValueError, OSError)) or (
        models is not None and isinstance(error, models.ModelNotAvailable))


def _saved(run) -> str:
    """What a run folder holds: its samples and its newest checkpoint."""
    from latentcode.runs import read_jsonl
    n = len(read_jsonl(run.path / "samples.jsonl"))
    ckpts = sorted((run.path / "checkpoints").glob("*-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])
                   if p.name.rsplit("-", 1)[-1].isdigit() else -1) if (run.path / "checkpoints").is_dir() else []
    return f"{n} samples" + (f" and checkpoint {ckpts[-1].name}" if ckpts else "")


def _after_failure(written: dict, interrupted: bool) -> list[str]:
    """Remove the run folders this command created and left holding nothing; for the others,
    an interrupted command says what was saved and how to go on."""
    import shutil
    from latentcode.commands import resume_command
    from latentcode.runs import Run
    lines = []
    for path, created in written.items():
        if not path.is_dir():
            continue
        run = Run(path)
        if created and run.holds_nothing():
            shutil.rmtree(path, ignore_errors=True)
            lines.append(f"removed {path} (nothing was saved in it)")
        elif interrupted:
            try:
                how = resume_command(run.kind, path)
            except ValueError:  # a damaged config.json: say what was saved, no command
                how = None
            lines.append(f"saved {_saved(run)} in {path}" + (f"; continue with: {how}" if how else ""))
    return lines


def _note_resumed_folder(argv: list[str], written: dict) -> None:
    """A run folder given to --resume is this command's too: Ctrl-C then says what it holds
    and how to go on, as for a folder the command made."""
    from pathlib import Path
    for i, a in enumerate(argv):
        value = argv[i + 1] if a == "--resume" and i + 1 < len(argv) else a.split("=", 1)[1] if a.startswith("--resume=") else None
        if value and (Path(value) / "config.json").is_file():
            written.setdefault(Path(value), False)


def main(argv=None) -> int:
    """The command line. Expected failures (bad input, a missing model or data, a damaged run
    folder) print one line and exit 2; ``--debug`` anywhere shows the traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    from latentcode.runs import session
    with session(["latentcode", *argv]) as this:  # config.json records this command line
        _note_resumed_folder(argv, this.written)
        return _run(argv, debug, this.written)


def _run(argv: list[str], debug: bool, written: dict) -> int:
    """``_dispatch`` with the command line's handling of its failures."""
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print("\ninterrupted", file=sys.stderr)
        lines = _after_failure(written, interrupted=True)
        for line in lines or ["nothing was saved (no run folder had been written yet)"]:
            print(line, file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`latentcode inspect RUN | head`): stop quietly
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:
        if debug or not _expected(e):
            raise
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"latentcode: error: {message} (--debug shows the traceback)", file=sys.stderr)
        for line in _after_failure(written, interrupted=False):
            print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
