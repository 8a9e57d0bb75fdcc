"""Ordering pack versions: the one place that says which of two versions is newer.

A pack version is semver (``MAJOR.MINOR.PATCH``, an optional ``-pre-release``, an optional
``+build``), ordered with :class:`packaging.version.Version`:

- ``1.10.0 > 1.9.0``, and a pre-release sorts before its release (``1.0.0-rc.1 < 1.0.0``);
  pre-releases are spelled as packaging reads them: ``alpha``/``a``, ``beta``/``b``,
  ``rc``/``c`` or ``dev``, optionally numbered (``1.0.0-rc.2``, ``1.0.0-beta1``).
- Build metadata does not take part in the order (semver precedence ignores it); two versions
  that differ only there are ordered by their text, so the choice is stable.

Malformed versions: :func:`version_key` raises :class:`~core.errors.ValidationError` for a
version that is not semver, that packaging cannot read (``1.0.0-x.7``), or that packaging would
read as a post-release (``1.0.0-1``, ``1.0.0-post.1``: semver sorts those before ``1.0.0``,
packaging after, so neither order would be right). The catalog refuses such a version when it is
submitted, so nothing un-orderable enters the ledger. Listings (:func:`sort_versions`,
:func:`newest_per_pack`) never raise: an entry whose version is malformed (a stray directory in
the pack store, a ledger row written before this check) is left out with a warning, so one bad
name cannot take the whole catalog or pack store down.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from packaging.version import InvalidVersion, Version

from core.errors import ValidationError
from core.packs.manifest import SEMVER_PATTERN

logger = logging.getLogger("packdesk.versions")

_SEMVER = re.compile(SEMVER_PATTERN)
T = TypeVar("T")


def version_key(version: str) -> Version:
    """The sort key of a pack version.

    Raises:
        ValidationError: ``version`` is malformed (see the module docstring); the message names it.
    """
    expected = "expected MAJOR.MINOR.PATCH with an optional pre-release such as -rc.1 or -beta.2"
    if not isinstance(version, str) or _SEMVER.fullmatch(version) is None:
        raise ValidationError(f"version {version!r} is not semver: {expected}")
    try:
        parsed = Version(version.partition("+")[0])
    except InvalidVersion as exc:
        raise ValidationError(f"version {version!r} cannot be ordered: {expected}") from exc
    if parsed.is_postrelease:
        raise ValidationError(
            f"version {version!r} reads as a post-release, which would sort after its release: "
            f"{expected}"
        )
    return parsed


def sort_versions(versions: Iterable[str], *, source: str) -> list[str]:
    """``versions`` oldest first; malformed ones are left out with a warning naming ``source``."""
    keyed = [(_key_or_warn(version, source), version) for version in versions]
    return [version for key, version in sorted(pair for pair in keyed if pair[0] is not None)]


def newest_per_pack(
    items: Iterable[T],
    *,
    pack_id: Callable[[T], str],
    version: Callable[[T], str],
    source: str,
) -> dict[str, T]:
    """The item with the newest version of each pack id.

    Args:
        items: anything with a pack id and a version (ledger rows, tuples).
        pack_id, version: read them from an item.
        source: what the items are ("an approved version"), for the warning about a malformed
            version (which is left out).
    """
    newest: dict[str, tuple[tuple[Version, str], T]] = {}
    for item in items:
        pack, text = pack_id(item), version(item)
        key = _key_or_warn(text, f"{source} of pack {pack!r}")
        if key is None:
            continue
        held = newest.get(pack)
        if held is None or (key, text) > held[0]:
            newest[pack] = ((key, text), item)
    return {pack: item for pack, (_, item) in newest.items()}


def _key_or_warn(version: str, source: str) -> Version | None:
    try:
        return version_key(version)
    except ValidationError as exc:
        logger.warning("ignoring %s: %s", source, exc.message)
        return None
