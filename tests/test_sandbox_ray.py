"""The Ray sandbox backend on a local Ray instance with 2 worker processes (2 actors): the same
results as the local pool, in input order; an actor killed mid-batch costs nothing (its chunk
runs again on a fresh actor); an actor killed twice under one chunk turns that chunk into
``crashed`` results, never lost ones; at most ``max_in_flight`` chunks per actor are queued.

Ray is an optional extra: without it these tests skip (CI installs it and sets
LATENTCODE_REQUIRE_RAY=1, so there they cannot skip), and nothing else imports Ray.
"""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import sandbox

if os.environ.get("LATENTCODE_REQUIRE_RAY"):
    import ray
else:
    ray = pytest.importorskip("ray")

SLOW = "s = 0\nfor i in range(2_000_000):\n    s += i\nprint(s)"  # ~0.1-0.3 s of CPU


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def pool(cluster):
    from sandbox.ray_backend import RayPool
    p = RayPool(actors=2, chunk=4, max_in_flight=1)
    yield p
    p.close()


MIXED = ["print(sum(range(10)))", "1 / 0", "while True:\n    pass", "import os", "x = [0] * 10**9",
         "print('a' * 10)", "def f(x):\n    return x * 2\nf(21)", "print(input())"] * 3


def test_the_same_results_as_the_local_pool_in_order(pool):
    remote = pool.run_many(MIXED, timeout_s=0.5, memory_mb=64, stdin="hi")
    local = sandbox.run_many(MIXED, timeout_s=0.5, memory_mb=64, stdin="hi")
    assert [(r.status, r.stdout, r.value) for r in remote] == [(r.status, r.stdout, r.value) for r in local]
    assert [r.status for r in remote[:8]] == ["ok", "error", "timeout", "blocked", "memory", "ok", "ok", "ok"]


def _kill_later(pids_of, when: float, times: int = 1, pool=None):
    """Kill the actor process at slot 0 ``times`` times, ``when`` s apart, from another thread."""
    def go():
        for k in range(times):
            time.sleep(when)
            if pool is not None:  # the replacement must be up (and running the chunk) first
                deadline = time.monotonic() + 60
                while pool.replaced < k and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(when)
            os.kill(pids_of()[0], signal.SIGKILL)
    t = threading.Thread(target=go)
    t.start()
    return t


def test_an_actor_killed_mid_batch_costs_nothing(pool):
    codes = [SLOW.replace("2_000_000", str(2_000_000 + i)) for i in range(24)]
    expected = [str(sum(range(2_000_000 + i))) for i in range(24)]
    pool.actor_pids()  # both up
    killer = _kill_later(pool.actor_pids, 0.8)
    results = pool.run_many(codes, timeout_s=5)
    killer.join()
    assert pool.replaced == 1
    assert [r.status for r in results] == ["ok"] * 24
    assert [r.stdout.strip() for r in results] == expected


def test_an_actor_killed_twice_under_a_chunk_reports_crashed(cluster):
    from sandbox.ray_backend import RayPool
    one = RayPool(actors=1, chunk=16, max_in_flight=1)
    try:
        one.actor_pids()
        killer = _kill_later(one.actor_pids, 0.8, times=2, pool=one)
        results = one.run_many([SLOW] * 16 + ["print(1)"], timeout_s=5)
        killer.join()
        assert len(results) == 17
        assert [r.status for r in results[:16]] == ["crashed"] * 16
        assert all("died twice" in r.error for r in results[:16])
        assert results[16].status == "ok" and results[16].stdout == "1\n"  # the next chunk, on a fresh actor
    finally:
        one.close()


def test_backpressure_bounds_the_chunks_queued(pool, monkeypatch):
    seen = []
    wait = ray.wait

    def counting_wait(refs, **kw):
        seen.append(len(refs))
        return wait(refs, **kw)
    monkeypatch.setattr(ray, "wait", counting_wait)
    results = pool.run_many([f"print({i})" for i in range(40)], timeout_s=1)  # 10 chunks of 4
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(40)]
    assert max(seen) == 2  # 2 actors x max_in_flight 1, however many chunks wait


def test_nothing_imports_ray_unless_asked():
    code = ("import sys, sandbox, latentcode.cli, latentcode.evaluate, latentcode.training.rewards\n"
            "from sandbox.config import SandboxConfig, make_pool\n"
            "make_pool(SandboxConfig()).close()\n"
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_actors_the_cluster_cannot_place_fail_at_once(cluster):
    from sandbox.ray_backend import RayPool
    with pytest.raises(RuntimeError, match="did not start within 5 s; the cluster has 2 CPUs"):
        RayPool(actors=3, cpus_per_actor=1, start_timeout_s=5)
