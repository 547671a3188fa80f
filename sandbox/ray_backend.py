"""The sandbox on a Ray cluster: ``RayPool.run_many`` is ``Pool.run_many`` with the programs
spread over Ray actors, each owning a local ``sandbox.Pool`` on its node.

    pool = RayPool(actors=4, workers_per_actor=8)      # ray.init() first, or address="auto"
    results = pool.run_many(programs, timeout_s=2.0)   # one Result per input, in order

Why: a GPU generates programs faster than its node's CPUs run them (one H100 at 20k tokens/s of
150-token programs needs ~130 programs/s; 2 cores run ~300/s), and RL across nodes needs
execution as a service. Every sandbox layer still holds inside each actor: the actor is only
a courier between the caller and its node's sandbox servers.

What crosses: sources and limits go out; each reply comes back as plain dicts (``Result``'s
fields) and is rebuilt here with ``Result.from_dict``, which validates every field, as the
local pool validates its servers' replies. A chunk whose actor (or node) dies is run once more
on a fresh actor; if that dies too its programs are ``crashed``, never lost: the batch still
returns one Result per input, in order. Backpressure: at most ``max_in_flight`` chunks per
actor are queued on the cluster at a time, so a caller never hands Ray unbounded work.

Ray is an optional extra (``pip install -e ".[ray]"``); nothing imports this module unless it
is asked for (``SandboxConfig(backend="ray")``).
"""
from __future__ import annotations

import os
import threading
import time

from sandbox.limits import screen
from sandbox.result import Result

try:
    import ray
except ImportError as e:  # pragma: no cover - exercised where Ray is absent
    raise ImportError("the Ray sandbox backend needs Ray: pip install -e \".[ray]\" (or pip install ray)") from e


class _SandboxActor:
    """One per node (or several): a local sandbox Pool and nothing else."""

    def __init__(self, workers: int | None):
        import sandbox
        self.pool = sandbox.Pool(workers)

    def pid(self) -> int:
        return os.getpid()

    def run_many(self, codes: list[str], limits: dict) -> list[dict]:
        return [r.to_dict() for r in self.pool.run_many(codes, **limits)]

    def close(self) -> None:
        self.pool.close()


class RayPool:
    """``actors`` Ray actors of ``workers_per_actor`` sandbox servers each (default: one per
    CPU the actor reserves, ``cpus_per_actor``). Programs go out in chunks of ``chunk``;
    ``max_in_flight`` chunks per actor at most are submitted at once. Thread-safe (one batch
    at a time)."""

    def __init__(self, actors: int = 2, *, workers_per_actor: int | None = None, cpus_per_actor: float = 1,
                 chunk: int = 32, max_in_flight: int = 2, address: str | None = None,
                 start_timeout_s: float = 120.0):
        if actors < 1 or chunk < 1 or max_in_flight < 1 or cpus_per_actor <= 0:
            raise ValueError(f"RayPool: actors ({actors}), chunk ({chunk}) and max_in_flight ({max_in_flight}) "
                             f"must be >= 1 and cpus_per_actor ({cpus_per_actor}) > 0")
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.workers = workers_per_actor or max(1, int(cpus_per_actor))
        self.cpus_per_actor, self.chunk, self.max_in_flight = cpus_per_actor, chunk, max_in_flight
        # max_concurrency 2: pid() answers while a batch runs
        self._remote = ray.remote(num_cpus=cpus_per_actor, max_concurrency=2, max_restarts=0)(_SandboxActor)
        self.actors = [self._spawn() for _ in range(actors)]
        try:  # an actor the cluster cannot place would leave every batch waiting: fail now instead
            ray.get([a.pid.remote() for a in self.actors], timeout=start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            for a in self.actors:
                ray.kill(a)
            raise RuntimeError(f"RayPool: {actors} sandbox actors of {cpus_per_actor} CPUs each did not start within "
                               f"{start_timeout_s:g} s; the cluster has {ray.cluster_resources().get('CPU', 0):g} CPUs "
                               "(lower actors or cpus_per_actor, or add nodes)") from None
        self.lock = threading.Lock()
        self.replaced = 0  # actors started in place of dead ones (a figure for tests and logs)

    def _spawn(self):
        return self._remote.remote(self.workers)

    def actor_pids(self) -> list[int]:
        return ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> None:
        with self.lock:
            for a in self.actors:
                try:
                    ray.get(a.close.remote(), timeout=10)
                except Exception:  # a dead actor has nothing to close
                    pass
                ray.kill(a)
            self.actors = []

    def run_many(self, codes: list[str], *, timeout_s: float = 2.0, memory_mb: int = 256,
                 max_output_bytes: int = 65536, stdin: str = "", python_policy: bool = True) -> list[Result]:
        """``sandbox.run_many`` over the cluster: one Result per input, in order."""
        results, todo = screen(codes, timeout_s, memory_mb, max_output_bytes, stdin)
        limits = {"timeout_s": float(timeout_s), "memory_mb": int(memory_mb),
                  "max_output_bytes": int(max_output_bytes), "stdin": stdin, "python_policy": bool(python_policy)}
        chunks = [todo[k:k + self.chunk] for k in range(0, len(todo), self.chunk)]
        with self.lock:
            self._run_chunks(codes, chunks, limits, results, timeout_s)
        return results  # type: ignore[return-value]

    def _run_chunks(self, codes, chunks, limits, results, timeout_s) -> None:
        queue = [(c, 0) for c in chunks][::-1]  # (chunk, attempts), popped from the end
        in_flight: dict = {}  # ObjectRef -> (chunk, attempts, actor index, actor handle, submitted at)
        per_actor = [0] * len(self.actors)
        # an actor that has not answered in the time its queued chunks could take on one of
        # its servers, plus start-up, is stuck: treated as dead
        budget = (2 * timeout_s + 1.0) * self.chunk * self.max_in_flight + 60.0
        while queue or in_flight:
            for a, actor in enumerate(self.actors):
                while queue and per_actor[a] < self.max_in_flight:
                    chunk, attempts = queue.pop()
                    ref = actor.run_many.remote([codes[i] for i in chunk], limits)
                    in_flight[ref] = (chunk, attempts, a, actor, time.monotonic())
                    per_actor[a] += 1
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            now = time.monotonic()
            stuck = [r for r, v in in_flight.items() if r not in done and now - v[4] > budget]
            for ref in done + stuck:
                chunk, attempts, a, actor, _ = in_flight.pop(ref)
                per_actor[a] -= 1
                try:
                    if ref not in done:
                        raise TimeoutError("the actor stopped answering")
                    replies = ray.get(ref, timeout=0)
                    if not isinstance(replies, list) or len(replies) != len(chunk):
                        raise ValueError("a reply of the wrong length")
                    rebuilt = [Result.from_dict(r) for r in replies]  # validates every field
                except _ACTOR_DIED + (TimeoutError,) as e:
                    self._replace(a, actor)
                    if attempts == 0:
                        queue.append((chunk, 1))  # once more, on a fresh actor
                    else:
                        for i in chunk:
                            results[i] = _crashed(f"the sandbox actor died twice under this program ({type(e).__name__})")
                    continue
                except (ValueError, TypeError, AttributeError) as e:  # malformed: that actor is not trusted again
                    self._replace(a, actor)
                    for i in chunk:
                        results[i] = _crashed(f"malformed reply ({str(e)[:100]})")
                    continue
                for i, r in zip(chunk, rebuilt):
                    results[i] = r

    def _replace(self, a: int, actor) -> None:
        """Start a fresh actor in place of ``actor`` (slot ``a``), unless that was done already
        for another of its chunks; chunks still queued on it fail and come back here."""
        if self.actors[a] is not actor:
            return
        try:
            ray.kill(actor)
        except Exception:  # already gone
            pass
        self.actors[a] = self._spawn()
        self.replaced += 1


_ACTOR_DIED = tuple(getattr(ray.exceptions, name) for name in
                    ("RayActorError", "ActorDiedError", "ActorUnavailableError", "NodeDiedError",
                     "ObjectLostError", "OwnerDiedError", "WorkerCrashedError")
                    if hasattr(ray.exceptions, name))


def _crashed(why: str) -> Result:
    return Result("crashed", error=f"sandbox actor: {why}", error_type="WorkerDied")
