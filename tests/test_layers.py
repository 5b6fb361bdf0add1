"""Imports flow one way (ARCHITECTURE.md): a module imports only from its own package or from
packages of its own layer or the layers before it, and the package graph has no cycle.

    core -> users -> leaf services -> content domains -> flows -> routers, tasks, realtime, cli

A package new to `src/peal` must be placed in LAYERS (the test says so), e.g. `mentors`,
`messaging` and `moderation` among the content domains, `realtime` and `admin` at the top.
HTTP and job modules (`router.py`, `dependencies.py`, `tasks.py`) of any package sit at the top,
with `deps` (the app's services as typed FastAPI dependencies) that they read them through.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "peal"

LAYERS: list[tuple[str, frozenset[str]]] = [
    ("foundation", frozenset({"__init__", "config", "db", "core", "jobs", "outbox"})),
    ("identity", frozenset({"users"})),
    (
        "leaf services",
        frozenset({"settings", "notifications", "email", "storage", "uploads", "payments", "auth"}),
    ),
    (
        "content domains",
        frozenset(
            {
                "videos",
                "stories",
                "funding",
                "goals",
                "events",
                "search",
                "mentors",
                "messaging",
                "moderation",
            }
        ),
    ),
    ("flows", frozenset({"flows"})),
    (
        "entry points",
        frozenset(
            {
                "main",
                "deps",
                "cli",
                "seed",
                "models",
                "scheduling",
                "ops",
                "safety",
                "admin",
                "realtime",
            }
        ),
    ),
]
TOP_MODULES = frozenset({"router.py", "dependencies.py", "tasks.py"})
TOP = len(LAYERS) - 1


def _layer_of_package() -> dict[str, int]:
    return {package: index for index, (_, packages) in enumerate(LAYERS) for package in packages}


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported peal package, line) of every import in the module, inside functions too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "peal" and len(parts) >= 2:
                found.append((parts[1], node.lineno))
    return found


def _modules() -> list[Path]:
    return sorted(path for path in SRC.rglob("*.py") if "__pycache__" not in path.parts)


def test_every_package_has_a_layer() -> None:
    layers = _layer_of_package()
    unplaced = {_package(path) for path in _modules()} - set(layers)
    assert not unplaced, f"place these packages in tests/test_layers.py LAYERS: {unplaced}"


def test_imports_flow_one_way() -> None:
    layers = _layer_of_package()
    wrong = []
    for path in _modules():
        package = _package(path)
        own = TOP if path.name in TOP_MODULES else layers.get(package, TOP)
        for target, line in _imports(path):
            if target == package or target not in layers:
                continue
            if layers[target] > own:
                wrong.append(
                    f"{path.relative_to(SRC.parent)}:{line} {LAYERS[own][0]} `{package}` "
                    f"imports {LAYERS[layers[target]][0]} `{target}`"
                )
    assert not wrong, "imports against the layer direction:\n" + "\n".join(wrong)


def test_no_import_cycle_between_packages() -> None:
    """Within a layer packages may use each other, but never both ways round (HTTP and job
    modules excluded: they sit on top of everything)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _modules():
        if path.name in TOP_MODULES:
            continue
        package = _package(path)
        for target, _line in _imports(path):
            if target != package:
                graph[package].add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(graph[node])
        return False

    cycles = sorted(
        f"{a} <-> {b}" for a in list(graph) for b in graph[a] if a < b and reaches(b, a)
    )
    assert not cycles, f"import cycles between packages: {cycles}"


def test_the_check_catches_a_wrong_import(tmp_path: Path) -> None:
    """The walker sees imports inside functions too (the usual way to hide a cycle)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from peal.flows.delete_account import delete_account\n")
    assert _imports(module) == [("flows", 2)]
