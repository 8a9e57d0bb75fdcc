"""The pack format is the bottom layer of the engine: core/packs imports none of the layers
that read packs (retrieval, intents, ledger, assistant, conversations), not even for typing."""

from __future__ import annotations

import ast
from pathlib import Path

import core.packs

FORBIDDEN = (
    "core.retrieval",
    "core.intents",
    "core.ledger",
    "core.assistant",
    "core.conversations",
)


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_core_packs_imports_no_layer_above_it() -> None:
    package = Path(core.packs.__file__).parent
    offending = {
        f"{path.name}: {module}"
        for path in sorted(package.rglob("*.py"))
        for module in _imported_modules(path)
        if any(module == layer or module.startswith(f"{layer}.") for layer in FORBIDDEN)
    }
    assert not offending
