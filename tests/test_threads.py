"""The thread governor: torch's thread count follows the cores other processes leave free
(issue 29, item 1), and the dtype follows what torch's kernels here actually do."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from latentcode import threads
from latentcode.models import build_tiny_model
from latentcode.threads import Governor, ceiling_cores, govern, threads_for


@pytest.fixture
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("free, ceiling, want", [
    (2.0, 2, 2), (1.7, 2, 2), (1.4, 2, 1), (1.0, 2, 1), (0.2, 2, 1), (-0.5, 2, 1),
    (8.0, 4, 4), (3.65, 8, 4), (3.5, 8, 3), (0.0, 1, 1),
])
def test_threads_are_the_free_cores_rounded_within_one_and_the_ceiling(free, ceiling, want):
    assert threads_for(free, ceiling) == want


def test_the_ceiling_honours_omp_num_threads_and_shares_cores_among_local_ranks(monkeypatch):
    affinity = len(os.sched_getaffinity(0))
    monkeypatch.setattr(threads, "_STARTING_THREADS", 64)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert ceiling_cores() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    quota = threads.cgroup_cpu_quota()
    alone = ceiling_cores()
    assert alone <= affinity and (quota is None or alone <= max(1, -(-quota // 1)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert ceiling_cores() == max(1, alone // 2)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(4 * alone))
    assert ceiling_cores() == 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to leave one free")
def test_a_busy_process_beside_us_takes_a_thread_away(restore_threads):
    gov = Governor(interval_s=0.0, ceiling=2)
    torch.set_num_threads(2)
    gov.threads = 2
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        gov.measure()
        time.sleep(1.0)
        assert gov.tick() == 1, f"others used {gov.others:.2f} cores"
        assert torch.get_num_threads() == 1
        assert gov.others >= 0.6
    finally:
        busy.kill()
        busy.wait()


def test_our_own_cpu_time_is_not_counted_as_the_others():
    t_start = time.monotonic()
    gov = Governor(interval_s=0.0, ceiling=2)
    spun = 0.0
    t0 = time.process_time()
    while time.process_time() - t0 < 0.6:  # this process busy on one core
        spun += 1
    others = gov.measure()
    assert others is not None and gov.own_s >= 0.55
    wall = gov._last[0] - t_start  # the interval measure() covered, or a little more
    # the machine's busy time minus ours: on a quiet machine ~0 although we kept a core
    # busy; other jobs may add to it, never more than the cores we did not use
    assert others <= len(os.sched_getaffinity(0)) - gov.own_s / wall + 0.1


def test_the_hook_changes_no_output_and_a_fixed_count_is_honoured(monkeypatch, restore_threads):
    model, _ = build_tiny_model(seed=0)
    x = torch.tensor([[1, 2, 3, 4]])
    before = model(input_ids=x).logits
    monkeypatch.setattr(threads, "_GOVERNOR", None)
    monkeypatch.setenv(threads.ENV, "auto")
    govern(model)
    assert model._latentcode_governed
    assert torch.equal(model(input_ids=x).logits, before)
    other, _ = build_tiny_model(seed=0)
    monkeypatch.setenv(threads.ENV, "1")
    govern(other)
    assert torch.get_num_threads() == 1 and not getattr(other, "_latentcode_governed", False)
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(ValueError, match="LATENTCODE_THREADS"):
        govern(other)


def test_bf16_is_not_chosen_when_torch_s_kernels_are_capped_at_avx2():
    # an AVX-512 BF16 CPU whose kernels are capped to AVX2 emulates bf16 at ~1% of float32:
    # the dtype must follow what torch does here, not the CPU's flags
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2", DNNL_MAX_CPU_ISA="AVX2")
    out = subprocess.run([sys.executable, "-c", "from latentcode.models import fast_dtype; "
                          "print(fast_dtype('cpu'))"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "torch.float32"


def test_a_count_set_by_the_user_after_loading_becomes_the_ceiling(restore_threads):
    torch.set_num_threads(2)
    gov = Governor(interval_s=0.0, ceiling=2)
    torch.set_num_threads(1)  # e.g. a test's one_thread fixture, or a user
    assert gov.tick() == 1 and gov.ceiling == 1
    assert torch.get_num_threads() == 1
