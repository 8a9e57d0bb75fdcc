"""Write one section of BENCHMARKS.md, leaving the others as they are."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def replace_section(title: str, section: str, path: Path = BENCHMARKS) -> None:
    """Replace the ``## {title}`` section (up to the next ``## `` heading) with ``section``,
    or append it when the file has none. ``section`` starts with its own heading."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"## {re.escape(title)}\n.*?(?=\n## |\Z)", re.S)
    body = section.rstrip("\n") + "\n"  # the blank line before the next heading
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else (
        text.rstrip("\n") + "\n\n" + body)
    path.write_text(text, encoding="utf-8")
