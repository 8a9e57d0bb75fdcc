"""``serves_generic_intents`` and ``index.intent_lift``: manifest fields added to format v1
after packs were signed.

A manifest that does not set it must keep its exact canonical bytes, so packs signed before the
field existed still verify. ``fixtures/signed-v0.1.0.kpack`` was built and signed (key in
``fixtures/signed-v0.1.0.pub``) by the code before the field was added.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ManifestInvalid
from core.packs.archive import read_archive
from core.packs.builder import build_pack
from core.packs.manifest import Manifest, canonical_json, generic_pack_ids, parse_manifest
from core.packs.signing import TrustStore
from core.packs.verify import verify_pack
from core.settings import ArchiveLimits
from tests.core.packs.helpers import MANIFEST, write_pack_source

FIXTURES = Path(__file__).parent / "fixtures"
OLD_PACK = FIXTURES / "signed-v0.1.0.kpack"
OLD_TRUST = FIXTURES / "signed-v0.1.0.pub"
LIMITS = ArchiveLimits()
Keys = tuple[Path, Path, str]


def test_a_pack_signed_before_the_field_existed_still_verifies() -> None:
    verified = verify_pack(OLD_PACK, TrustStore.load(OLD_TRUST), LIMITS)
    assert verified.manifest.serves_generic_intents is False
    signed_bytes = read_archive(OLD_PACK, LIMITS)["manifest.json"]
    assert b"serves_generic_intents" not in signed_bytes
    assert verified.manifest.index.intent_lift == 0.0 and b"intent_lift" not in signed_bytes
    # What the old code signed is exactly what the current model produces for it.
    assert verified.manifest.canonical_bytes() == signed_bytes


def test_canonical_bytes_without_the_field_are_the_old_dump() -> None:
    old_dump = json.loads(read_archive(OLD_PACK, LIMITS)["manifest.json"])
    manifest = parse_manifest(old_dump)
    assert manifest.canonical_bytes() == canonical_json(old_dump)
    # Writing the default out explicitly is the same manifest, with the same bytes.
    explicit = parse_manifest({
        **old_dump,
        "serves_generic_intents": False,
        "index": {**old_dump["index"], "intent_lift": 0.0},
    })
    assert explicit.canonical_bytes() == canonical_json(old_dump)


def test_setting_the_field_is_signed_and_round_trips(
    tmp_path: Path, keys: Keys, trust: TrustStore
) -> None:
    source = write_pack_source(tmp_path / "src", serves_generic_intents=True)
    out = tmp_path / "generic.kpack"
    built = build_pack(source, private_key_path=keys[0], out_path=out)
    assert built.serves_generic_intents is True
    verified = verify_pack(out, trust, LIMITS)
    assert verified.manifest.serves_generic_intents is True
    signed = json.loads(read_archive(out, LIMITS)["manifest.json"])
    assert signed["serves_generic_intents"] is True


def test_the_field_must_be_a_boolean() -> None:
    with pytest.raises(ManifestInvalid, match="serves_generic_intents: .*got 'yes'"):
        parse_manifest({**MANIFEST, "serves_generic_intents": "yes"})


def test_generic_pack_ids_lists_the_packs_that_say_so() -> None:
    domain = Manifest.model_validate(MANIFEST)
    generic = Manifest.model_validate(
        {**MANIFEST, "id": "support-basics", "serves_generic_intents": True}
    )
    assert generic_pack_ids([domain, generic]) == frozenset({"support-basics"})
    assert generic_pack_ids([]) == frozenset()


def test_an_intent_lift_is_signed_and_bounded() -> None:
    lifted = parse_manifest({**MANIFEST, "index": {"kind": "flat", "intent_lift": 0.3}})
    assert json.loads(lifted.canonical_bytes())["index"]["intent_lift"] == 0.3
    with pytest.raises(ManifestInvalid, match="index.intent_lift"):
        parse_manifest({**MANIFEST, "index": {"intent_lift": 1.5}})
