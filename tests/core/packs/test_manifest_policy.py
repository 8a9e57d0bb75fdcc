"""What a pack's templates may name, and what an uploaded pack may not declare."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import PlatformIntentNotAllowed, UnknownPlaceholder
from core.packs.manifest import (
    TEMPLATE_PLACEHOLDERS,
    Manifest,
    check_publishable,
    check_templates,
)
from tests.core.packs.helpers import MANIFEST

REPO = Path(__file__).resolve().parents[3]


def manifest(**fields: object) -> Manifest:
    return Manifest.model_validate({**MANIFEST, **fields})


def with_template(template: str) -> Manifest:
    return manifest(intents=[{"name": "refund", "examples": ["x"], "reply_template": template}])


def test_the_placeholder_set_is_the_one_the_builtin_templates_use() -> None:
    from knowledge_packs.convert.support_basics import convert

    content = convert(REPO / "knowledge_packs" / "support_basics")
    used = {
        name
        for intent in content.intents
        for name in re.findall(r"\{\{(.*?)\}\}", intent.reply_template or "")
    }
    assert used == TEMPLATE_PLACEHOLDERS
    for intent in content.intents:
        check_templates(Manifest.model_validate({**MANIFEST, "intents": [intent.model_dump()]}))


def test_known_placeholders_pass() -> None:
    check_templates(
        with_template("Visit {{Website Name}} or call {{Customer Support Phone Number}}.")
    )
    check_templates(with_template("No placeholder at all }} and a stray closing brace."))


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("Send it to {{Admin Password}}.", "{{Admin Password}}"),
        ("See {{Website Name for details.", "{{Website Name for details."),
        ("{{ Website Name }}", "{{ Website Name }}"),
        ("{{{Website Name}}}", "{{{Website Name}}"),
    ],
)
def test_unknown_placeholders_are_refused_naming_intent_and_set(template: str, shown: str) -> None:
    with pytest.raises(UnknownPlaceholder) as caught:
        check_templates(with_template(template))
    message = caught.value.message
    assert "intents.refund.reply_template" in message and repr(shown) in message
    assert "{{Website Name}}" in message  # says what is allowed


def test_an_uploaded_pack_may_not_claim_platform_intents() -> None:
    greeting = {"name": "greeting", "examples": ["hi"], "platform": True}
    with pytest.raises(PlatformIntentNotAllowed, match="'greeting'"):
        check_publishable(manifest(intents=[greeting]))
    with pytest.raises(PlatformIntentNotAllowed, match="reserved"):
        check_publishable(manifest(id="platform"))
    check_publishable(manifest())  # its own intents are fine
