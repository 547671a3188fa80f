"""Turning an execution (or a text reply) into an answer and a grade, per task family.

The answer checking itself lives in ``tasks/check.py``; this module decides what runs in
the sandbox (a code benchmark's function plus its tests; anything else as written) and
what text counts as the answer.
"""
from __future__ import annotations

import dataclasses
import time

import sandbox
from latentcode.expert.extract import extract_program
from latentcode.expert.hardcode import check, run_grouped
from latentcode.expert.mdl import program_lengths
from latentcode.expert.pyparse import blank_docstrings
from latentcode.expert.samples import Sample, direct_answer
from sandbox.config import SandboxConfig
from tasks.check import final_answer, grade
from tasks.suites import program_to_run


def program_for(task, program: str) -> str:
    """What the sandbox runs: the program with its docstrings blanked (unmeasured, so
    unreadable), and for a code benchmark its tests appended to the function."""
    return program_to_run(task, blank_docstrings(program))


def grade_program(task, result: sandbox.Result) -> tuple[str | None, bool]:
    answer = "tests passed" if task.kind == "code" and result.ok else \
        (final_answer(result.stdout, result.value) if result.ok else None)
    return answer, bool(grade(task, result))


def grade_direct(task, text: str) -> tuple[str | None, bool]:
    """Grade a text reply the way a program's final printed line is graded."""
    if task.kind == "code":
        raise ValueError(f"{task.family} is graded by running code; it has no direct path "
                         "(use the code expert: --mode code)")
    answer = direct_answer(text)
    if answer is None:
        return None, False
    return answer, bool(grade(task, sandbox.Result("ok", stdout=answer + "\n")))


def grade_direct_replies(tasks, gens, *, gen_s: float = 0.0) -> list[list[Sample]]:
    """One list of ``Sample`` per task from text replies (``Generation``), each graded by its
    answer line (status ``direct``)."""
    samples = []
    for task, gs in zip(tasks, gens):
        row = []
        for i, g in enumerate(gs):
            s = Sample(task.id, task.family, i, task.prompt, g.text, None, "direct",
                       target=task.answer, gen_tokens=g.num_tokens,
                       prompt_tokens=g.prompt_tokens, gen_s=gen_s)
            s.answer, s.correct = grade_direct(task, s.completion)
            row.append(s)
        samples.append(row)
    return samples


def grade_code(tasks, gens, *, tokenizer=None, sandbox_config: SandboxConfig | None = None,
               gen_s: float = 0.0, pool=None, check_hardcoding: bool = True) -> list[list[Sample]]:
    """One list of ``Sample`` per task from its generations (``Generation``): extract each
    program, run every runnable one in a single sandbox batch, grade, measure, and
    (``check_hardcoding``) mark the programs whose output does not depend on the question
    (``hardcode.check``, one more batch).

    Used by ``CodeExpert`` and by the training rewards, so bench and training log the same
    rows. ``pool``: the caller's own ``sandbox.Pool`` (default: the process-wide one). A
    task's ``meta["timeout_s"]`` (code benchmarks whose reference is slow) overrides the
    sandbox config's ``timeout_s``."""
    limits = sandbox_config or SandboxConfig()
    pool = pool or sandbox.default_pool()
    samples = []
    for task, gs in zip(tasks, gens):
        row = []
        for i, g in enumerate(gs):
            ex = extract_program(g.text, g.finished)
            s = Sample(task.id, task.family, i, task.prompt, g.text, ex.code,
                       "pending" if ex.status == "ok" else ex.status,
                       target=task.answer, gen_tokens=g.num_tokens,
                       prompt_tokens=g.prompt_tokens, gen_s=gen_s)
            if ex.status != "ok":
                s.error = ex.reason
            row.append(s)
        samples.append(row)
    runnable = [(task, s) for task, ss in zip(tasks, samples) for s in ss if s.status == "pending"]
    t1 = time.perf_counter()
    results = run_grouped(pool, [(program_for(task, s.program), task.meta.get("timeout_s", limits.timeout_s))
                                 for task, s in runnable], limits)
    exec_s = (time.perf_counter() - t1) / max(1, len(runnable))
    for (task, s), r in zip(runnable, results):
        r = finished(task, r)
        s.status, s.stdout, s.value, s.error, s.exec_s = r.status, r.stdout, r.value, r.error, exec_s
        s.run_s = r.wall_s
        s.result = r  # kept: the hard-coding check reads the run itself, not a copy rebuilt from the row
        s.answer, s.correct = grade_program(task, r)
    if check_hardcoding and runnable:
        check_samples([t for t, _ in runnable], [s for _, s in runnable], pool=pool, limits=limits)
    for ss in samples:
        for s in ss:
            if s.program:
                s.lengths = program_lengths(s.program, tokenizer)
    return samples


def finished(task, result: sandbox.Result) -> sandbox.Result:
    """A code benchmark's run that ends 'ok' without the harness's completion marker
    stopped before its tests (a clean exit, ``sys.exit(0)``): an error, never scored above
    failing the tests honestly."""
    if task.kind == "code" and result.ok and not grade(task, result):
        return dataclasses.replace(result, status="error",
                                   error="stopped before the tests finished (no completion marker)")
    return result


def check_samples(tasks, samples: list[Sample], *, pool, limits: SandboxConfig,
                  variants: int | None = None) -> list:
    """The hard-coding check (``hardcode.check``) on graded samples, from the sandbox results
    they carry; each verdict is recorded on its sample and returned."""
    kw = {} if variants is None else {"variants": variants}
    verdicts = check(tasks, [s.program for s in samples], [s.result for s in samples], pool=pool,
                     limits=limits, **kw)
    for s, v in zip(samples, verdicts):
        record_verdict(s, v)
    return verdicts


def record_verdict(sample: Sample, verdict) -> None:
    """What the hard-coding check found, on the sample a run folder records."""
    if verdict is None:
        return
    sample.hardcoded = verdict.hardcoded
    sample.checked = "hardcoded" if verdict.hardcoded else "unknown" if verdict.unknown else "computed"
    sample.reasks, sample.reasks_wanted = verdict.reasks, verdict.reasks_wanted
