"""Every hook in core/hookspecs.py has a docs entry in docs/plugins.md and a test.

In the style of datasette's tests/test_plugins.py: a hook counts as tested when a test module
(other than this one) names it, i.e. calls it through ``manager.hook`` or implements it.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from core import hookspecs

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "plugins.md"
TESTS = REPO / "tests"
HOOKS = sorted(
    name
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith(f"{hookspecs.PROJECT_NAME}_")
)


def _signature(name: str) -> str:
    parameters = inspect.signature(getattr(hookspecs, name)).parameters
    return f"{name}({', '.join(parameters)})"


def _test_sources() -> dict[Path, str]:
    this = Path(__file__).resolve()
    return {
        path: path.read_text(encoding="utf-8")
        for path in TESTS.rglob("*.py")
        if path.resolve() != this
    }


def test_hookspecs_are_found() -> None:
    assert "packdesk_pack_sources" in HOOKS and len(HOOKS) >= 7


def test_every_hook_has_a_docs_section_with_its_signature() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,4} `(packdesk_\w+)`", docs, flags=re.MULTILINE))
    missing_section = [name for name in HOOKS if name not in headings]
    missing_signature = [name for name in HOOKS if _signature(name) not in docs]
    stale = sorted(headings - set(HOOKS))
    assert not missing_section, f"hooks without a section in docs/plugins.md: {missing_section}"
    assert not missing_signature, "docs/plugins.md lacks the current signature of: " + ", ".join(
        _signature(name) for name in missing_signature
    )
    assert not stale, f"docs/plugins.md documents hooks that do not exist: {stale}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    users = [path for path, text in _test_sources().items() if re.search(rf"\b{hook}\b", text)]
    assert users, (
        f"no test calls or implements the hook {hook!r}: add one under tests/ "
        "(hooks without a test are listed by `pytest tests/core/test_hookspecs_meta.py`)"
    )
