"""The dependency rule: arrows point down, and no module imports itself round a cycle.

hilctl (the app) -> hilctl.protocols -> hilctl.drivers; hilctl.simulated_backend -> drivers (and
the ``PulsePlanner`` interface of protocols). Every import counts, also those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hilctl
import hilctl.drivers
import hilctl.protocols
import hilctl.simulated_backend

LAYERS = {
    "hilctl.drivers": Path(hilctl.drivers.__file__).parent,
    "hilctl.protocols": Path(hilctl.protocols.__file__).parent,
    "hilctl.simulated_backend": Path(hilctl.simulated_backend.__file__).parent,
    "hilctl": Path(hilctl.__file__).parent,
}
# What each lower layer may import, of hilctl's own packages and of the heavy third parties.
ALLOWED = {
    "hilctl.drivers": {"hilctl.drivers"},
    "hilctl.protocols": {"hilctl.protocols", "hilctl.drivers"},
    "hilctl.simulated_backend": {"hilctl.simulated_backend", "hilctl.protocols", "hilctl.drivers"},
}
FORBIDDEN_THIRD_PARTY = {"hilctl.protocols": {"torch", "pyvisa", "serial"}}


def layer_of(module: str) -> str:
    for name in ("hilctl.drivers", "hilctl.protocols", "hilctl.simulated_backend"):
        if module == name or module.startswith(name + "."):
            return name
    return "hilctl"


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in LAYERS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imports_of(module: str, path: Path) -> set[str]:
    """Absolute names of everything the module imports (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def own_edges() -> dict[str, set[str]]:
    """Module -> the hilctl modules it imports (a name that is a package's member counts as the
    package)."""
    known = modules()
    edges = {}
    for module, path in known.items():
        edges[module] = {name for name in imports_of(module, path) if name in known} - {module}
    return edges


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in edges.items():
        allowed = ALLOWED.get(layer_of(module))
        if allowed is None:
            continue
        bad += [f"{module} -> {t}" for t in sorted(targets) if layer_of(t) not in allowed]
    return bad


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ignoring the edges from
    a package's ``__init__`` to its own members (re-exports, not dependencies)."""
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in edges.items()}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_layer_is_found():
    names = modules()
    for package in LAYERS:
        assert package in names
    assert len(names) > 60


def test_no_arrow_points_up():
    assert upward_imports(own_edges()) == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_THIRD_PARTY))
def test_protocols_stay_free_of_torch_and_instruments(layer):
    heavy = FORBIDDEN_THIRD_PARTY[layer]
    bad = [f"{module} imports {name}" for module, path in modules().items()
           if layer_of(module) == layer for name in imports_of(module, path)
           if name.split(".")[0] in heavy]
    assert bad == []


def test_no_import_cycle_between_modules():
    assert cycles(own_edges()) == []


def test_the_checks_catch_what_they_are_for():
    planted = {"hilctl.drivers.limits": {"hilctl.protocols.engine"},
               "hilctl.protocols.engine": {"hilctl.drivers.limits"}}
    assert upward_imports(planted) == ["hilctl.drivers.limits -> hilctl.protocols.engine"]
    assert cycles(planted) == [["hilctl.drivers.limits", "hilctl.protocols.engine"]]
