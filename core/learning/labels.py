"""Which intent labels feedback and resolutions may name.

A label that exists (an installed pack's, a platform intent's, one the serving model learned)
or ``out_of_scope`` is accepted; so is a *new* label of a served pack or of the platform
(``<pack_id>:<intent>``), which the dataset builder uses only once enough examples name it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from core.errors import ValidationError
from core.intents.labels import OUT_OF_SCOPE
from core.packs.manifest import INTENT_NAME_PATTERN, PACK_ID_PATTERN, PLATFORM_PREFIX

MAX_LABEL_CHARS = 160
_PACK_ID = re.compile(PACK_ID_PATTERN)
_INTENT_NAME = re.compile(INTENT_NAME_PATTERN)


@dataclass(frozen=True)
class LabelSpace:
    """The labels that exist now and the packs a new label may belong to."""

    known: frozenset[str]
    pack_ids: frozenset[str]

    def is_known(self, label: str) -> bool:
        return label == OUT_OF_SCOPE or label in self.known

    def check(self, label: str) -> str:
        """Return ``label`` when it may be used, else raise.

        Raises:
            ValidationError: not ``<pack_id>:<intent>`` of a served pack or the platform.
        """
        if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS:
            raise ValidationError(f"intent must be a label of at most {MAX_LABEL_CHARS} "
                                  f"characters, got {str(label)[:40]!r}")
        if self.is_known(label):
            return label
        prefix, sep, name = label.partition(":")
        if not sep or not _INTENT_NAME.match(name) or not (
            prefix == PLATFORM_PREFIX or _PACK_ID.match(prefix)
        ):
            raise ValidationError(
                f"intent {label!r} is not a label: expected '<pack_id>:<intent>' (intent "
                f"matching {INTENT_NAME_PATTERN}), 'platform:<intent>' or '{OUT_OF_SCOPE}'"
            )
        if prefix != PLATFORM_PREFIX and prefix not in self.pack_ids:
            raise ValidationError(f"intent {label!r} names pack {prefix!r}, which is not served "
                                  "here")
        return label

    @staticmethod
    def of(known: Collection[str], pack_ids: Collection[str]) -> LabelSpace:
        return LabelSpace(frozenset(known), frozenset(pack_ids))


LabelSpaceSource = Callable[[], LabelSpace]
"""Returns the label space now (the served packs and the serving model can change)."""
