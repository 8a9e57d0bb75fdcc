"""Redactor: one test per personal-data kind, near-misses left alone, overlap resolution."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.privacy import Finding, Redactor
from core.privacy.redaction import resolve_overlaps


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    ("kind", "text", "secret"),
    [
        ("EMAIL", "Send it to anna.mueller+orders@web.de please.", "anna.mueller+orders@web.de"),
        ("PHONE", "Call me on (212) 555-0198 after five.", "(212) 555-0198"),
        ("PHONE", "Mobile: +44 7911 123456", "+44 7911 123456"),
        ("PHONE", "Meine Nummer ist 030 12345678.", "030 12345678"),
        ("PHONE", "Appelez le 06 12 34 56 78 svp", "06 12 34 56 78"),
        ("PHONE", "my mobile 98765 43210", "98765 43210"),
        ("CARD", "Card 4111 1111 1111 1111 was charged twice.", "4111 1111 1111 1111"),
        ("CARD", "Amex 3782-822463-10005 declined", "3782-822463-10005"),
        ("IBAN", "Refund to DE89 3704 0044 0532 0130 00 ASAP", "DE89 3704 0044 0532 0130 00"),
        ("IBAN", "iban gb82west12345698765432", "gb82west12345698765432"),
        ("VAT", "Our VAT ID is DE136695976.", "DE136695976"),
        ("SSN", "My SSN is 536-90-4399.", "536-90-4399"),
        ("SSN", "social security number: 536904399", "536904399"),
        ("IP", "Blocked from 203.0.113.42 again", "203.0.113.42"),
        ("IP", "IPv6 2001:db8:85a3::8a2e:370:7334 too", "2001:db8:85a3::8a2e:370:7334"),
    ],
)
def test_each_kind_is_replaced_by_its_placeholder(
    redactor: Redactor, kind: str, text: str, secret: str
) -> None:
    result = redactor.redact(text)
    assert secret not in result.text
    assert f"[{kind}]" in result.text
    assert [(f.kind, text[f.start : f.end]) for f in result.findings] == [(kind, secret)]


@pytest.mark.parametrize(
    "text",
    [
        "Where is order 2125551234? It was due 2024-03-15.",
        "Order #5551234567 arrived damaged",
        "Tracking 1Z999AA10123456784 has not moved since 15.03.2024",
        "Tracking number 9400 1000 0000 0000 0000 00",
        "Card 4111 1111 1111 1112 says invalid",  # Luhn-invalid
        "Order 589-4813291-9998561 (Luhn-valid, but not a card grouping)",
        "I typed 666-12-3456 and 900-12-3456 and 123-00-4567",  # invalid SSN ranges
        "IBAN DE88 3704 0044 0532 0130 00 is rejected",  # wrong check digits
        "Charged $1,299.00 then 168.80 EUR on 3/14/2024 at 12:30",
        "I'm on app version 1.2.3.4 and updated to 10.0.19045.3803",
        "SKU 4006381333931 and part no. 555-0123-44",
        "MAC 00:1A:2B:3C:4D:5E, time 10:30:15",
        "Postcode 10115, 3 items, room 101",
    ],
)
def test_near_misses_are_not_redacted(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text)
    assert result.findings == []
    assert result.text == text


def test_several_kinds_in_one_message_keep_the_surrounding_text(redactor: Redactor) -> None:
    text = "I'm li@example.org, phone +33 6 12 34 56 78, card 4111111111111111. Thanks!"
    result = redactor.redact(text)
    assert result.text == "I'm [EMAIL], phone [PHONE], card [CARD]. Thanks!"


def test_overlaps_longest_span_wins() -> None:
    found = resolve_overlaps(
        [Finding("PHONE", 5, 15), Finding("IBAN", 0, 27), Finding("EMAIL", 30, 40)]
    )
    assert found == [Finding("IBAN", 0, 27), Finding("EMAIL", 30, 40)]


def test_overlaps_equal_length_more_specific_kind_wins() -> None:
    assert resolve_overlaps([Finding("PHONE", 0, 16), Finding("CARD", 0, 16)]) == [
        Finding("CARD", 0, 16)
    ]


def test_email_containing_a_phone_like_local_part_is_one_email(redactor: Redactor) -> None:
    text = "write to 2125550198@example.com"
    assert redactor.redact(text).text == "write to [EMAIL]"


def test_card_followed_by_a_year_is_still_found(redactor: Redactor) -> None:
    result = redactor.redact("4111 1111 1111 1111 2026")
    assert result.text == "[CARD] 2026"


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="NAME"):
        Redactor(kinds=frozenset({"EMAIL", "NAME"}))


def test_kinds_can_be_limited(redactor: Redactor) -> None:
    only_email = Redactor(kinds=frozenset({"EMAIL"}))
    text = "a@b.io 203.0.113.42"
    assert only_email.redact(text).text == "[EMAIL] 203.0.113.42"
