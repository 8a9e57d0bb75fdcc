"""Realistic spellings of personal data that redaction used to miss (issue 14, defect 11).

One test per shape: the value is gone from the redacted text and the right placeholder
stands in its place. Near-misses of the new shapes stay untouched.
"""

from __future__ import annotations

import pytest

from core.privacy import Redactor


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def _fullwidth(text: str) -> str:
    """``text`` with its ASCII characters as their full-width forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _assert_redacted(redactor: Redactor, text: str, secret: str, kind: str) -> None:
    result = redactor.redact(text)
    assert secret not in result.text, result.text
    assert f"[{kind}]" in result.text, result.text
    assert kind in {f.kind for f in result.findings}


def test_card_after_a_word_and_dash(redactor: Redactor) -> None:
    text = "paid with card-4111111111111111 yesterday"
    _assert_redacted(redactor, text, "4111111111111111", "CARD")


def test_card_glued_to_a_word(redactor: Redactor) -> None:
    _assert_redacted(redactor, "paid with card4111111111111111", "4111111111111111", "CARD")


def test_card_in_dotted_groups(redactor: Redactor) -> None:
    text = "the card 4111.1111.1111.1111 was charged twice"
    result = redactor.redact(text)
    assert result.text == "the card [CARD] was charged twice"


def test_ssn_after_a_word_and_dash(redactor: Redactor) -> None:
    text = "my ssn-123-45-6789 is on file"
    result = redactor.redact(text)
    assert "123-45-6789" not in result.text
    assert "45-6789" not in result.text
    assert result.text == "my ssn-[SSN] is on file"


def test_iban_written_with_dashes(redactor: Redactor) -> None:
    text = "Refund to DE89-3704-0044-0532-0130-00 please"
    result = redactor.redact(text)
    assert result.text == "Refund to [IBAN] please"


def test_fullwidth_card_digits(redactor: Redactor) -> None:
    secret = _fullwidth("4111 1111 1111 1111")
    text = f"card {secret} please refund"
    result = redactor.redact(text)
    assert result.text == "card [CARD] please refund"
    (finding,) = result.findings
    assert text[finding.start : finding.end] == secret  # spans refer to the original text


def test_fullwidth_phone_digits(redactor: Redactor) -> None:
    secret = _fullwidth("+44 7911 123456")
    _assert_redacted(redactor, f"call me on {secret} tonight", secret, "PHONE")


def test_fullwidth_email_and_ssn_keep_the_surrounding_text(redactor: Redactor) -> None:
    colon, ssn = _fullwidth(":"), _fullwidth("536-90-4399")
    text = f"mail{colon} li{_fullwidth('@')}example.org, SSN {ssn} ok"
    result = redactor.redact(text)
    assert result.text == f"mail{colon} [EMAIL], SSN [SSN] ok"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("I was born 12/03/1985 in Leeds", "12/03/1985"),
        ("born on 3 March 1985, if that helps", "3 March 1985"),
        ("DOB: 1985-03-12", "1985-03-12"),
        ("d.o.b. 12.03.1985", "12.03.1985"),
        ("my date of birth is March 3rd, 1985", "March 3rd, 1985"),
    ],
)
def test_date_of_birth(redactor: Redactor, text: str, secret: str) -> None:
    result = redactor.redact(text)
    assert secret not in result.text
    assert result.text == text.replace(secret, "[DOB]")


@pytest.mark.parametrize(
    "text",
    [
        "the order was due 2024-03-15",  # a date, but not a birth date
        "born 31/31/1985 is not a date",  # no such month or day
        "DOB field shows 2024-13-01",  # the date does not follow the keyword
        "card-4111111111111112 (Luhn-invalid)",
        "part-123-45-6789 is a part number",  # dashed digits after a word that is not SSN
    ],
)
def test_new_shapes_near_misses(redactor: Redactor, text: str) -> None:
    assert redactor.redact(text).findings == []
