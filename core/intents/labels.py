"""Intent labels: ``platform:<intent>``, ``<pack_id>:<intent>`` and ``out_of_scope``."""

from __future__ import annotations

from collections.abc import Iterable

from core.packs.manifest import PLATFORM_PREFIX, Manifest

# Not a trained class: what a prediction becomes when the top confidence is below the
# calibrated threshold. Training rows with this label are used only for calibration.
OUT_OF_SCOPE = "out_of_scope"

# The platform intents the engine itself acts on (core.intents.platform defines them all).
HUMAN_AGENT_INTENT = f"{PLATFORM_PREFIX}:human_agent"
COMPLAINT_INTENT = f"{PLATFORM_PREFIX}:complaint"


def pack_id_of(label: str) -> str | None:
    """The pack a label belongs to, or None for platform intents and out_of_scope."""
    prefix, sep, _ = label.partition(":")
    if not sep or prefix == PLATFORM_PREFIX:
        return None
    return prefix


def intent_labels(manifests: Iterable[Manifest], *, include_platform: bool = True) -> set[str]:
    """Every class label a model trained on these manifests has (out_of_scope excluded).

    Args:
        manifests: the installed packs' manifests.
        include_platform: add the built-in platform intents (``core.intents.platform``),
            as ``examples_from_manifests`` does by default.
    """
    labels = {label for manifest in manifests for label in manifest.intent_labels()}
    if include_platform:
        labels |= builtin_platform_labels()
    return labels


def builtin_platform_labels() -> set[str]:
    """Labels of the platform intents PackDesk ships itself (``core.intents.platform``)."""
    from core.intents.platform import PLATFORM_INTENTS

    return {intent.label(PLATFORM_PREFIX) for intent in PLATFORM_INTENTS}
