"""The import graph the architecture promises (docs/architecture.md): read with ``ast`` from
every file of the three packages, function-level imports included."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sandbox", "tasks", "latentcode")

# Lower layers never import higher ones; two groups on one layer never import each other.
LAYERS = [
    {"sandbox"},
    {"tasks"},
    {"latentcode.commands"},
    {"latentcode.moe", "latentcode.attention", "latentcode.threads", "latentcode.runs", "latentcode.metrics", "latentcode.config"},
    {"latentcode.models"},
    {"latentcode.expert", "latentcode.checkpoints"},
    {"latentcode.training", "latentcode.router", "latentcode.viewer"},
    {"latentcode.evaluate"},
    {"latentcode.cli"},
    {"latentcode.__main__", "latentcode"},
]
LAYER = {group: i for i, groups in enumerate(LAYERS) for group in groups}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = f
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    edges = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                          else node.module for a in node.names}
        edges[name] = {m for m in found if m.split(".")[0] in PACKAGES}
    return edges


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] != "latentcode" else ".".join(parts[:2])


def test_every_module_belongs_to_a_layer():
    assert {_group(m) for m in _modules()} <= set(LAYER)


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return [f"{m} -> {t}" for m, ts in edges.items() for t in ts
            if _group(m) != _group(t) and LAYER[_group(t)] >= LAYER[_group(m)]]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(m, path):
        state[m] = 1
        for t in sorted(edges.get(m, ())):
            if t == m or t not in edges:
                continue
            if state.get(t) == 1:
                return path + [m, t]
            if t not in state:
                found = visit(t, path + [m])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m, [])
            if found:
                return found
    return None


def test_imports_point_down_only():
    assert upward_imports(_imports(_modules())) == []


def test_the_moe_library_imports_nothing_of_the_project():
    edges = _imports(_modules())
    leaks = [f"{m} -> {t}" for m, ts in edges.items() if m.startswith("latentcode.moe")
             for t in ts if not t.startswith("latentcode.moe")]
    assert leaks == []


def test_there_is_no_import_cycle():
    assert find_cycle(_imports(_modules())) is None


def test_the_checks_find_what_they_look_for():
    fake = {"tasks.check": {"latentcode.training.grpo"}, "latentcode.training.grpo": set(),
            "latentcode.expert.a": {"latentcode.expert.b"}, "latentcode.expert.b": {"latentcode.expert.a"}}
    assert upward_imports(fake) == ["tasks.check -> latentcode.training.grpo"]
    assert find_cycle(fake) == ["latentcode.expert.a", "latentcode.expert.b", "latentcode.expert.a"]


# Inside a package, floors the same way: a module imports only modules on lower floors of its
# own package, so the trainers never import each other (nor the harness a trainer), the two
# expert paths never import each other, and nothing below the paths imports them.
FLOORS = {
    "latentcode.expert": [
        {"pyparse", "samples", "sampling", "prompts", "decode"},  # data, settings, the decoder
        {"extract", "hardcode"},  # the program in a reply; the hard-coding check
        {"mdl"},  # program lengths
        {"grading", "base"},  # an execution's grade; generation for both paths
        {"code_expert", "direct_expert"},  # the two paths
    ],
    "latentcode.training": [
        {"rewards", "distributed", "quiet", "summary", "es_algorithm", "prefix_logps", "lora_merge"},  # parts with no run
        {"heldout", "programs"},  # held-out evaluation and logs; sampling and keeping programs
        {"harness", "trl_callbacks"},  # what every trainer shares; its logs as callbacks in TRL's loop
        {"grpo", "es", "em"},  # the trainers: each its algorithm
    ],
    "latentcode.router": [
        {"costs", "curves", "features", "gates"},
        {"labels"},
        {"train"},
        {"routed"},  # a trained router, in `latentcode bench --mode routed`
    ],
    "latentcode.moe": [
        {"gating", "kernels", "blocks", "classical"},
        {"layer", "lora"},
        {"upcycle"},
    ],
}


def floor_violations(edges: dict[str, set[str]]) -> list[str]:
    """'m -> t' for each import inside a package of FLOORS that is not to a lower floor."""
    out = []
    for pkg, floors in FLOORS.items():
        floor = {f"{pkg}.{name}": i for i, names in enumerate(floors) for name in names}
        for m, ts in edges.items():
            for t in ts:
                if m in floor and t in floor and floor[t] >= floor[m]:
                    out.append(f"{m} -> {t}")
    return out


def test_every_module_of_a_floored_package_has_a_floor():
    modules = set(_modules())
    for pkg, floors in FLOORS.items():
        named = {f"{pkg}.{name}" for names in floors for name in names}
        assert {m for m in modules if m.startswith(pkg + ".")} == named, pkg


def test_inside_a_package_imports_point_down_only():
    assert floor_violations(_imports(_modules())) == []


def test_the_floor_check_finds_a_trainer_importing_another():
    fake = {"latentcode.training.grpo": {"latentcode.training.em", "latentcode.training.harness"},
            "latentcode.expert.decode": {"latentcode.expert.base"}}
    assert floor_violations(fake) == ["latentcode.expert.decode -> latentcode.expert.base",
                                      "latentcode.training.grpo -> latentcode.training.em"]
