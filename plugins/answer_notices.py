"""Answer post-processing: notices that must accompany answers from some domains.

The pack's own disclaimer is added by the engine; this plugin adds what a domain needs on top,
such as an emergency notice on every medical answer.
"""

from __future__ import annotations

from typing import Any

from core import hookimpl

EMERGENCY_NOTICE = (
    "If you think you may have a medical emergency, call your local emergency number immediately."
)


@hookimpl
def packdesk_postprocess_answer(answer: dict[str, Any], packs: list[Any]) -> None:
    """Append the emergency notice when any cited pack is in the medical domain."""
    if any(getattr(pack, "domain", "") == "medical" for pack in packs):
        if EMERGENCY_NOTICE not in answer["disclaimers"]:
            answer["disclaimers"].append(EMERGENCY_NOTICE)
