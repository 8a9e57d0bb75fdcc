"""What the offline bench scripts set up first: no model-hub access, the repository importable.

Import it before anything from ``core`` or ``plugins`` (``python bench/x.py`` puts ``bench/``
itself on the import path, so ``import offline`` finds this file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

for _name, _value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
):
    os.environ.setdefault(_name, _value)

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run_header() -> dict[str, object]:
    """The date, machine and command a bench result JSON starts with."""
    from datetime import UTC, datetime

    from bench.machine import describe

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": describe(),
        "command": "python " + " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
    }
