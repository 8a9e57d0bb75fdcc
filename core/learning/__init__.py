"""Learning from conversations: feedback, handoff resolutions, the learned dataset, gated
retraining and the intent model version registry (docs/intents.md, "Learning").

Import the submodules; this ``__init__`` stays cheap (no SQLAlchemy, no torch) except for the
two functions another node needs to fetch the serving model, imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.intents.versions import ModelVersion
    from core.ledger.db import Database


async def current_version(db: Database) -> ModelVersion | None:
    """The serving intent model version, or None before any was promoted."""
    from core.learning.registry import current_version as current

    return await current(db)


async def materialise_version(db: Database, version_id: str, target_dir: Path) -> Path:
    """Write a version's files into ``target_dir`` (verified, atomic; skipped when present)."""
    from core.learning.registry import materialise_version as materialise

    return await materialise(db, version_id, target_dir)


__all__ = ["current_version", "materialise_version"]
