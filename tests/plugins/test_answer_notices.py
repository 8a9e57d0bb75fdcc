from __future__ import annotations

from core.plugin_manager import get_plugin_manager
from plugins.answer_notices import EMERGENCY_NOTICE


class _Pack:
    def __init__(self, domain: str) -> None:
        self.domain = domain


def _postprocess(packs: list) -> dict:
    answer = {"text": "some answer", "disclaimers": []}
    get_plugin_manager().hook.packdesk_postprocess_answer(answer=answer, packs=packs)
    return answer


def test_medical_answers_get_the_emergency_notice_once() -> None:
    answer = _postprocess([_Pack("medical"), _Pack("medical")])
    assert answer["disclaimers"].count(EMERGENCY_NOTICE) == 1
    assert answer["text"] == "some answer"


def test_other_domains_are_left_alone() -> None:
    assert _postprocess([_Pack("finance")])["disclaimers"] == []
