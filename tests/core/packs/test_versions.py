"""The one version order: semver read with packaging, malformed versions refused or skipped."""

from __future__ import annotations

import logging

import pytest

from core.errors import ValidationError
from core.packs.versions import newest_per_pack, sort_versions, version_key


def test_prerelease_sorts_before_its_release_and_numbers_compare_as_numbers() -> None:
    assert version_key("1.0.0-rc.1") < version_key("1.0.0")
    assert version_key("1.0.0-alpha") < version_key("1.0.0-beta.2") < version_key("1.0.0-rc.1")
    assert version_key("1.10.0") > version_key("1.9.0")
    assert version_key("1.0.0+build.7") == version_key("1.0.0")  # build metadata: no precedence


def test_sort_versions_is_oldest_first_and_stable_on_build_metadata() -> None:
    shuffled = ["1.10.0", "1.0.0+b", "1.9.0", "1.0.0", "1.10.0-rc.1", "1.0.0+a"]
    assert sort_versions(shuffled, source="test") == [
        "1.0.0",
        "1.0.0+a",
        "1.0.0+b",
        "1.9.0",
        "1.10.0-rc.1",
        "1.10.0",
    ]


@pytest.mark.parametrize(
    "version",
    [
        "1.0",  # not semver
        "v1.0.0",
        "01.0.0",
        "latest",
        "1.0.0-x.7",  # semver, but packaging cannot read the pre-release
        "1.0.0-1",  # packaging reads a post-release: would sort after 1.0.0
        "1.0.0-post.2",
    ],
)
def test_malformed_version_is_refused_naming_it(version: str) -> None:
    with pytest.raises(ValidationError) as caught:
        version_key(version)
    assert repr(version) in str(caught.value) and "MAJOR.MINOR.PATCH" in str(caught.value)


def test_listings_leave_malformed_versions_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [("tax", "1.0.0"), ("tax", "2.0.0-x.1"), ("law", "junk"), ("law", "0.1.0")]
    with caplog.at_level(logging.WARNING, logger="packdesk.versions"):
        assert sort_versions(["junk", "1.0.0"], source="directory in /p") == ["1.0.0"]
        newest = newest_per_pack(
            rows, pack_id=lambda row: row[0], version=lambda row: row[1], source="a row"
        )
    assert newest == {"tax": ("tax", "1.0.0"), "law": ("law", "0.1.0")}
    assert "directory in /p" in caplog.text
    assert "a row of pack 'tax'" in caplog.text and "'2.0.0-x.1'" in caplog.text
