"""The layers import one way: qchaos core <- generation <- qchaos.registry <- modeling <- evaluation <- qchaos.api /
qchaos.cli. (The registry of datasets and models reads the systems' class names and presets, and the models read the
registry's sha256 pins.)

Every import statement counts, also the function-local ones (a local import must never be a way around the rule).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("qchaos.cli", "qchaos.api", "qchaos.__main__")  # the entry points: may import everything
LAYER = {"core": 0, "generation": 1, "registry": 1.5, "modeling": 2, "evaluation": 3, "top": 4}


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name of this project (None for third-party modules)."""
    head = module.split(".")[0]
    if head == "qchaos":
        if module == "qchaos.registry" or module.startswith("qchaos.registry."):
            return "registry"
        return "top" if any(module == t or module.startswith(t + ".") for t in TOP) else "core"
    return head if head in LAYER else None


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement of a file, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out += [(node.lineno, f"{base}.{a.name}" if layer_of(f"{base}.{a.name}") == "top" else base)
                    for a in node.names]
    return out


def project_modules():
    for package in ("qchaos", "generation", "modeling", "evaluation"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            yield path, ".".join(parts)


def test_layer_of_known_modules():
    assert layer_of("qchaos.hub") == "core" and layer_of("qchaos.cli") == "top" and layer_of("qchaos.api") == "top"
    assert layer_of("generation.twobody.spectrum") == "generation" and layer_of("numpy") is None


@pytest.mark.parametrize("path, module", list(project_modules()), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_imports_point_down(path, module):
    here = layer_of(module)
    upward = [(line, target) for line, target in imports_of(path, module)
              if layer_of(target) is not None and LAYER[layer_of(target)] > LAYER[here]]
    assert not upward, f"{module} ({here}) imports upwards: " + ", ".join(f"{t} (line {n})" for n, t in upward)


def _module_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (function-local imports included)."""
    mods = {module: path for path, module in project_modules()}

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in mods:
                return ".".join(parts[:i])
        return None

    return {m: {r for _, t in imports_of(p, m) if (r := resolve(t)) not in (None, m)} for m, p in mods.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (depth-first search), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_find_cycle_known_answers():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_import_cycle_even_through_local_imports():
    """No function-local import exists to dodge a cycle: with every local import hoisted, the project's module graph
    is still acyclic (the local imports that remain only defer heavy third-party modules or optional work)."""
    cycle = _find_cycle(_module_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)
