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
