"""Rendering reply templates from a business profile: a sentence that needs a missing value is
dropped, numbered steps are renumbered, and ``{{``/``}}`` never survive."""

from __future__ import annotations

from core.assistant.templates import render_template

TEMPLATE = (
    "I'm here to help you cancel purchase {{Purchase ID Anonymized}}. Let me guide you.\r\n\r\n"
    "1. Log in to your {{Website Name}} account.\r\n"
    "2. Find the purchase with ID {{Purchase ID Anonymized}}.\r\n"
    "3. Open {{Order History}} and click Cancel.\r\n\r\n"
    "Our team is available {{Customer Support Availability}} at "
    "{{Customer Support Phone Number}}. Thank you!"
)


def test_empty_profile_drops_what_it_cannot_say_and_renumbers() -> None:
    assert render_template(TEMPLATE, {}) == (
        "Let me guide you.\n\n"
        "1. Log in to your website account.\n"
        "2. Open Order History and click Cancel.\n\n"
        "Thank you!"
    )


def test_full_profile_fills_the_facts() -> None:
    text = render_template(
        TEMPLATE,
        {
            "Website Name": "shop.example",
            "Customer Support Availability": "24/7",
            "Customer Support Phone Number": "+1 555 0100",
        },
    )
    assert "1. Log in to your shop.example account." in text
    assert "Our team is available 24/7 at +1 555 0100. Thank you!" in text
    assert "{{" not in text and "}}" not in text


def test_malformed_or_unknown_placeholders_never_show() -> None:
    text = render_template("Call {{Unknown Thing}} now. Or {{Website Name. Bye }}.", {})
    assert "{{" not in text and "}}" not in text
    assert "Unknown Thing" not in text
