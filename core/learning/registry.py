"""The intent model version registry: versions and their files in the database, the current
version pointer, promote and rollback.

Every node reads the same database, so a node with an empty data directory gets the serving
model by :func:`current_version` and :func:`materialise_version`, and a running server notices a
promotion by polling :meth:`ModelRegistry.current_version_id` (one indexed row).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.errors import Conflict, IntentModelError, NotFound
from core.intents.versions import (
    ModelFile,
    ModelSummary,
    ModelVersion,
    file_chunks,
    is_materialised,
    new_version_id,
    summarise_model_dir,
    write_version_dir,
)
from core.learning.models import IntentModelChunk, IntentModelPromotion, IntentModelVersion
from core.ledger.common import as_utc, audit, utcnow_
from core.ledger.db import Database

logger = logging.getLogger("packdesk.learning")

ABANDONED_AFTER = timedelta(hours=1)
STATUSES = ("registered", "candidate", "rejected")  # "incomplete" while being written


class ModelRegistry:
    """Intent model versions in the ledger database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(
        self,
        model_dir: Path,
        *,
        status: str = "registered",
        parent_version_id: str | None = None,
        gate: dict[str, Any] | None = None,
        extra_config: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Store a trained model directory as a new version (not promoted).

        Raises:
            IntentModelError: not a complete model directory.
        """
        summary = await asyncio.to_thread(summarise_model_dir, model_dir)
        version_id = new_version_id(summary.data_sha256 or "00000000")
        await self._delete_abandoned()
        config = {**summary.training_config, **(extra_config or {})}
        # The row goes in first, marked incomplete (reads ignore it), so the chunks have a
        # parent; then one transaction per file keeps each transaction to one file's bytes; the
        # status is set last. A failure deletes everything written for this version.
        async with self.db.write(changes_access=False) as session:
            session.add(IntentModelVersion(
                version_id=version_id, status="incomplete", parent_version_id=parent_version_id,
                training_config=config, data_sha256=summary.data_sha256,
                metrics=summary.metrics, gate=gate, labels=summary.labels,
                files=[item.to_dict() for item in summary.files],
            ))
        try:
            for item in summary.files:
                chunks = await asyncio.to_thread(_read_chunks, model_dir, item)
                async with self.db.write(changes_access=False) as session:
                    for index, data in enumerate(chunks):
                        session.add(IntentModelChunk(version_id=version_id, path=item.path,
                                                     chunk_index=index, data=data))
            async with self.db.write(changes_access=False) as session:
                row = await session.get(IntentModelVersion, version_id)
                assert row is not None
                row.status = status
                audit(session, "intents.version_registered", version_id=version_id,
                      status=status, data_sha256=summary.data_sha256)
        except BaseException:
            await self._delete(version_id)
            raise
        return await self.get(version_id)

    async def _delete_abandoned(self) -> None:
        """Remove versions a crashed registration left incomplete (older than an hour: a
        registration in progress elsewhere takes seconds to minutes)."""
        cutoff = utcnow_() - ABANDONED_AFTER
        async with self.db.read() as session:
            stale = (await session.execute(
                select(IntentModelVersion.version_id).where(
                    IntentModelVersion.status == "incomplete",
                    IntentModelVersion.created_at < cutoff,
                )
            )).scalars().all()
        for version_id in stale:
            logger.warning("removing intent model version %s left incomplete", version_id)
            await self._delete(version_id)

    async def _delete(self, version_id: str) -> None:
        from sqlalchemy import delete

        async with self.db.write(changes_access=False) as session:
            await session.execute(
                delete(IntentModelChunk).where(IntentModelChunk.version_id == version_id)
            )
            await session.execute(
                delete(IntentModelVersion).where(IntentModelVersion.version_id == version_id)
            )

    async def get(self, version_id: str) -> ModelVersion:
        """Raises: NotFound: no such (complete) version."""
        async with self.db.read() as session:
            row = await session.get(IntentModelVersion, version_id)
            current = await _current_id(session)
        if row is None or row.status == "incomplete":
            raise NotFound(f"intent model version {version_id!r} not found")
        return _version(row, current)

    async def list(self, limit: int = 50) -> list[ModelVersion]:
        """Complete versions, newest first."""
        async with self.db.read() as session:
            rows = (await session.execute(
                select(IntentModelVersion)
                .where(IntentModelVersion.status != "incomplete")
                .order_by(IntentModelVersion.created_at.desc(),
                          IntentModelVersion.version_id.desc())
                .limit(limit)
            )).scalars().all()
            current = await _current_id(session)
        return [_version(row, current) for row in rows]

    async def find_by_data(self, data_sha256: str, source_version: str) -> ModelVersion | None:
        """A version registered from the same training run (its training_config version)."""
        for version in await self.list(limit=200):
            if (version.data_sha256 == data_sha256
                    and version.training_config.get("version") == source_version):
                return version
        return None

    async def current_version_id(self) -> str | None:
        """The serving version's id (one indexed row: cheap enough to poll)."""
        async with self.db.read() as session:
            return await _current_id(session)

    async def current(self) -> ModelVersion | None:
        version_id = await self.current_version_id()
        return None if version_id is None else await self.get(version_id)

    async def promote(self, version_id: str, *, actor: str) -> ModelVersion:
        """Make ``version_id`` the serving version (every server picks it up at its next check).

        Raises:
            NotFound: no such version.
            Conflict: it is already the current version.
        """
        async with self.db.write(changes_access=False) as session:
            row = await session.get(IntentModelVersion, version_id)
            if row is None or row.status == "incomplete":
                raise NotFound(f"intent model version {version_id!r} not found")
            current = await _current_id(session)
            if current == version_id:
                raise Conflict(f"intent model version {version_id!r} is already current")
            session.add(IntentModelPromotion(version_id=version_id, previous_version_id=current,
                                             action="promote", actor=actor))
            audit(session, "intents.version_promoted", version_id=version_id,
                  previous_version_id=current, actor=actor)
        logger.info("intent model %s promoted (was %s) by %s", version_id, current, actor)
        return await self.get(version_id)

    async def rollback(self, *, actor: str) -> ModelVersion:
        """Serve the version that was current before the current one was promoted.

        Raises:
            Conflict: there is no earlier version to go back to.
        """
        async with self.db.write(changes_access=False) as session:
            latest = await _latest_promotion(session)
            if latest is None or latest.previous_version_id is None:
                raise Conflict("no earlier intent model version to roll back to")
            target = latest.previous_version_id
            # The target's own predecessor: the one before it when it was last made current.
            earlier = (await session.execute(
                select(IntentModelPromotion)
                .where(IntentModelPromotion.version_id == target,
                       IntentModelPromotion.promotion_id < latest.promotion_id)
                .order_by(IntentModelPromotion.promotion_id.desc())
                .limit(1)
            )).scalar_one_or_none()
            session.add(IntentModelPromotion(
                version_id=target,
                previous_version_id=earlier.previous_version_id if earlier else None,
                action="rollback",
                actor=actor,
            ))
            audit(session, "intents.version_rolled_back", version_id=target,
                  from_version_id=latest.version_id, actor=actor)
        logger.info("intent model rolled back from %s to %s by %s", latest.version_id, target,
                    actor)
        return await self.get(target)

    async def materialise(self, version_id: str, target: Path) -> Path:
        """Write the version's files into ``target`` (skipped when already there), verified.

        Raises:
            NotFound: no such version.
            IntentModelError: its stored files are incomplete or corrupt.
        """
        version = await self.get(version_id)
        if await asyncio.to_thread(is_materialised, target, version_id):
            return target
        contents: dict[str, list[bytes]] = {}
        for item in version.files:
            async with self.db.read() as session:
                rows = (await session.execute(
                    select(IntentModelChunk.data)
                    .where(IntentModelChunk.version_id == version_id,
                           IntentModelChunk.path == item.path)
                    .order_by(IntentModelChunk.chunk_index)
                )).scalars().all()
            contents[item.path] = list(rows)

        def chunks(item: ModelFile) -> Iterator[bytes]:
            yield from contents.pop(item.path, [])

        await asyncio.to_thread(write_version_dir, target, version_id, version.files, chunks)
        return target


async def current_version(db: Database) -> ModelVersion | None:
    """The serving intent model version, or None before any was registered and promoted."""
    return await ModelRegistry(db).current()


async def materialise_version(db: Database, version_id: str, target_dir: Path) -> Path:
    """Write a version's files into ``target_dir`` (a model directory a classifier loads)."""
    return await ModelRegistry(db).materialise(version_id, target_dir)


def version_dir(models_dir: Path, version_id: str) -> Path:
    """Where a node keeps its local copy of a version: ``<models>/intents/versions/<id>``."""
    if not version_id or "/" in version_id or version_id.startswith("."):
        raise IntentModelError(f"bad intent model version id {version_id!r}")
    return Path(models_dir) / "intents" / "versions" / version_id


async def register_trained_model(
    registry: ModelRegistry, model_dir: Path, *, installed_labels: set[str], actor: str
) -> tuple[ModelVersion, bool]:
    """Register a model directory trained outside the learning loop (``packdesk prepare``).

    Registered once per training run (its training_config ``version``); promoted when nothing
    is current yet, or when the current version no longer knows the installed packs' labels
    (the model was retrained because the packs changed).

    Returns:
        (the version, whether it was promoted now).
    """
    from core.intents.labels import builtin_platform_labels

    summary: ModelSummary = await asyncio.to_thread(summarise_model_dir, model_dir)
    source = str(summary.training_config.get("version", ""))
    version = await registry.find_by_data(summary.data_sha256, source)
    if version is None:
        version = await registry.register(model_dir)
    current = await registry.current()
    builtin = builtin_platform_labels()
    stale = current is not None and not (installed_labels - builtin) <= set(current.labels)
    if current is None or (stale and current.version_id != version.version_id):
        return await registry.promote(version.version_id, actor=actor), True
    return version, False


def _read_chunks(model_dir: Path, item: ModelFile) -> list[bytes]:
    return list(file_chunks(model_dir, item))


async def _latest_promotion(session: Any) -> IntentModelPromotion | None:
    return (await session.execute(
        select(IntentModelPromotion).order_by(IntentModelPromotion.promotion_id.desc()).limit(1)
    )).scalar_one_or_none()


async def _current_id(session: Any) -> str | None:
    latest = await _latest_promotion(session)
    return None if latest is None else latest.version_id


def _version(row: IntentModelVersion, current: str | None) -> ModelVersion:
    return ModelVersion(
        version_id=row.version_id,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        status=row.status,
        training_config=dict(row.training_config or {}),
        data_sha256=row.data_sha256,
        metrics=dict(row.metrics or {}),
        labels=list(row.labels or []),
        files=[ModelFile.from_dict(item) for item in row.files or []],
        parent_version_id=row.parent_version_id,
        gate=row.gate,
        current=row.version_id == current,
    )
