from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from core.errors import ConfigError, Conflict, SigningKeyError
from core.packs.signing import (
    TrustStore,
    generate_keypair,
    key_id_of,
    load_private_key,
    public_key_from_pem_or_raw,
)


def test_generate_keypair(tmp_path: Path) -> None:
    private_path, public_path, key_id = generate_keypair(tmp_path / "k", "alice")
    assert (private_path.name, public_path.name) == ("alice.key", "alice.pub")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in private_path.read_bytes()
    public = load_private_key(private_path).public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id == key_id_of(public) == hashlib.sha256(raw).hexdigest()[:16]
    with pytest.raises(Conflict, match="alice.key"):
        generate_keypair(tmp_path / "k", "alice")


def test_public_key_encodings(tmp_path: Path) -> None:
    _, public_path, key_id = generate_keypair(tmp_path)
    pem = public_path.read_bytes()
    raw = public_key_from_pem_or_raw(pem).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    for form in (pem, pem.decode(), raw, raw.hex(), base64.b64encode(raw).decode()):
        assert key_id_of(public_key_from_pem_or_raw(form)) == key_id
    for bad in (b"", "not a key", raw[:31], b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END"):
        with pytest.raises(SigningKeyError):
            public_key_from_pem_or_raw(bad)


def test_private_key_errors(tmp_path: Path) -> None:
    _, public_path, _ = generate_keypair(tmp_path)
    with pytest.raises(SigningKeyError, match="packdesk.pub"):
        load_private_key(public_path)
    with pytest.raises(SigningKeyError, match="missing.key"):
        load_private_key(tmp_path / "missing.key")


def test_trust_store_from_dir_and_file(tmp_path: Path) -> None:
    _, a_pub, a_id = generate_keypair(tmp_path / "trust", "a")
    _, _, b_id = generate_keypair(tmp_path / "trust", "b")
    store = TrustStore.load(tmp_path / "trust")  # *.key files are not read as keys
    assert store.key_ids() == sorted([a_id, b_id]) and a_id in store and len(store) == 2
    assert TrustStore.load(a_pub).key_ids() == [a_id]
    assert TrustStore.from_keys([store.get(a_id)]).key_ids() == [a_id]  # type: ignore[list-item]
    (tmp_path / "trust" / "broken.pub").write_text("garbage")
    with pytest.raises(SigningKeyError, match="broken.pub"):
        TrustStore.load(tmp_path / "trust")
    with pytest.raises(ConfigError, match="nowhere"):
        TrustStore.load(tmp_path / "nowhere")
