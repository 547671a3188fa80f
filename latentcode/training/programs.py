"""Sampling programs and keeping the right ones: what EM's E-step and GRPO's curriculum filter
share, so neither trainer imports the other.

A program is kept when it is right and passes the hard-coding check (it scores the reward's
``correct``); the kept programs of one question are weighted by their posterior under the
length prior 2^(-lambda bits), bits being the zlib-compressed size of the stripped program.
Lambda 0 weighs every kept program the same.
"""
from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor

from latentcode.expert.code_expert import CodeExpert
from latentcode.training.lora_merge import lora_merged
from latentcode.training.rewards import CodeRewards, log_row


def posterior_weights(bits: list[float], lam: float) -> list[float]:
    """Posterior of each of one question's right programs under the prior 2^(-lam bits),
    normalised to sum to 1 (uniform when lam is 0)."""
    if not bits:
        return []
    low = min(bits)
    raw = [2.0 ** (-lam * (b - low)) for b in bits]  # shifted: the shortest weighs 1 before norming
    total = math.fsum(raw)
    return [r / total for r in raw]


def sample_and_keep(expert: CodeExpert, rewards: CodeRewards, tasks: list, prompts: list[str],
                    counts: list[int], lam: float, *, hinted: bool = False) -> list[list[dict]]:
    """Sample ``counts[i]`` programs for each task, run and grade them; one group of
    samples.jsonl rows per task (with ``weight``, ``bits``, ``reward``, ``hinted``), the kept
    ones (right, not hard-coded) weighted by their posterior under the prior 2^(-lam bits)."""
    with lora_merged(expert.model):  # sampling reads the weights only: LoRA merged runs faster
        graded = _graded_while_decoding(expert, rewards, tasks, prompts, counts)
    groups = []
    for scores in graded:
        group = []
        for k, s in enumerate(scores):
            row = log_row(s, index=k, bits=float(s.sample.lengths.get("zlib_bits", 0)), weight=0.0, hinted=hinted)
            # a hard-coded program scores less than correct, however right its answer
            row["kept"] = bool(s.sample.correct and s.correctness == rewards.config.correct)
            group.append(row)
        groups.append(group)
    for group in groups:
        reweigh(group, lam)
    return groups


def _graded_while_decoding(expert: CodeExpert, rewards: CodeRewards, tasks: list, prompts: list[str],
                           counts: list[int]) -> list[list]:
    """Each task's scored programs, in order. A task's programs go to the sandbox (on a
    grading thread) as soon as its last row ends, so running and checking them overlaps
    the decoding of the rest instead of waiting for the whole batch."""
    pending: dict[int, Future] = {}
    with ThreadPoolExecutor(1) as pool:
        def grade(i: int, gens) -> None:
            pending[i] = pool.submit(rewards.evaluate, [tasks[i]] * len(gens), [g.text for g in gens],
                                     [g.num_tokens for g in gens])
        expert.generate(prompts, counts, on_prompt=grade)
        return [pending[i].result() if i in pending else [] for i in range(len(tasks))]


def reweigh(group: list[dict], lam: float) -> None:
    """One question's kept programs weighted by their posterior (the rest weigh 0)."""
    idx = [i for i, r in enumerate(group) if r.get("kept")]
    for i, w in zip(idx, posterior_weights([group[i]["bits"] for i in idx], lam)):
        group[i]["weight"] = w


def merge_groups(parts: list, n: int) -> tuple[list[dict], dict]:
    """Every process's groups (its question indices, one group of rows per question) as one
    sampling over all ``n`` questions, in question order: the rows, and kept[q] = [(row index,
    posterior weight)] for each question with a kept program."""
    groups: list = [None] * n
    for mine, local in parts:
        for q, group in zip(mine, local):
            groups[q] = group
    rows, kept = [], {}
    for q, group in enumerate(groups):
        for row in group:
            row["question_index"] = q
            if row["weight"] > 0:
                kept.setdefault(q, []).append((len(rows), row["weight"]))
            rows.append(row)
    return rows, kept


def e_step(expert: CodeExpert, rewards: CodeRewards, tasks: list, prompts: list[str], lam: float):
    """Sample, run and grade ``expert.config.num_samples`` programs per task. Returns the
    samples.jsonl rows (with ``weight``, ``bits``, ``reward``) and, per task index, the
    (row index, posterior weight) of its kept programs (right, not hard-coded)."""
    groups = sample_and_keep(expert, rewards, tasks, prompts, [expert.config.num_samples] * len(tasks), lam)
    return merge_groups([(list(range(len(tasks))), groups)], len(tasks))
