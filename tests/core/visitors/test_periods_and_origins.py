"""Period bounds of insights and the origin rules of widget keys (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import ValidationError
from core.visitors.insights import period_starts
from core.visitors.keys import normalize_origin, normalize_origins

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # a Wednesday


def test_days_weeks_and_months_newest_first() -> None:
    days = period_starts("day", 2, NOW)
    assert days == [
        (datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)),
        (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)),
    ]
    weeks = period_starts("week", 2, NOW)
    assert weeks[0] == (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))
    assert weeks[1] == (datetime(2026, 2, 23, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    months = period_starts("month", 3, NOW)
    assert [start.month for start, _ in months] == [3, 2, 1]
    assert months[1] == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert period_starts("month", 2, datetime(2026, 1, 31, tzinfo=UTC))[1][0] == datetime(
        2025, 12, 1, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("typed", "origin"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443/", "https://shop.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_origins_are_normalised_as_browsers_send_them(typed: str, origin: str) -> None:
    assert normalize_origin(typed) == origin


@pytest.mark.parametrize(
    "bad",
    [
        "shop.example",
        "javascript:alert(1)",
        "ftp://shop.example",
        "https://shop.example/path",
        "https://shop.example?x=1",
        "https://user@shop.example",
        "https://shop.example:99999",
        "https://" + "a" * 300,
        "",
    ],
)
def test_anything_but_an_origin_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        normalize_origin(bad)


def test_a_key_has_one_to_ten_distinct_origins() -> None:
    assert normalize_origins(["https://a.example", "https://A.example/"]) == ["https://a.example"]
    with pytest.raises(ValidationError):
        normalize_origins(["  "])
    with pytest.raises(ValidationError):
        normalize_origins([f"https://s{i}.example" for i in range(11)])
