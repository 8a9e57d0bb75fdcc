"""TextCipher roundtrip, rotation, wrong key; key file creation from settings."""

from __future__ import annotations

import stat

import pytest
from pydantic import SecretStr

from core.errors import ConfigError, DecryptionError
from core.privacy import TextCipher, generate_key, load_conversation_cipher
from core.privacy.crypto import conversation_key_path
from core.settings import Settings


def test_roundtrip_and_ciphertext_hides_the_text() -> None:
    cipher = TextCipher([generate_key()])
    token = cipher.encrypt("Refund to [IBAN] please — merci")
    assert "Refund" not in token
    assert cipher.decrypt(token) == "Refund to [IBAN] please — merci"


def test_rotation_old_tokens_readable_then_reencrypted_under_new_key() -> None:
    old, new = generate_key(), generate_key()
    token = TextCipher([old]).encrypt("hello")
    rotating = TextCipher([new, old])
    assert rotating.decrypt(token) == "hello"
    rotated = rotating.rotate(token)
    # Once every token is rotated, the old key can be dropped.
    assert TextCipher([new]).decrypt(rotated) == "hello"
    with pytest.raises(DecryptionError):
        TextCipher([new]).decrypt(token)


def test_wrong_key_is_a_decryption_error() -> None:
    token = TextCipher([generate_key()]).encrypt("secret")
    with pytest.raises(DecryptionError, match="unknown key|neither"):
        TextCipher([generate_key()]).decrypt(token)


def test_tampered_token_is_a_decryption_error() -> None:
    cipher = TextCipher([generate_key()])
    token = cipher.encrypt("secret")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered)


def test_malformed_key_is_a_config_error_without_echoing_the_key() -> None:
    with pytest.raises(ConfigError, match="#1") as info:
        TextCipher([generate_key(), "not-a-key-s3cr3t"])
    assert "s3cr3t" not in str(info.value)


def test_key_file_is_generated_once_with_mode_0600(settings: Settings) -> None:
    cipher = load_conversation_cipher(settings)
    path = conversation_key_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first_key = path.read_text()
    token = cipher.encrypt("kept across restarts")
    again = load_conversation_cipher(settings)
    assert path.read_text() == first_key
    assert again.decrypt(token) == "kept across restarts"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_key_file_readable_by_others_is_refused(settings: Settings) -> None:
    load_conversation_cipher(settings)
    path = conversation_key_path(settings)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_conversation_cipher(settings)


def test_configured_keys_are_used_and_no_file_is_written(settings: Settings) -> None:
    old, new = generate_key(), generate_key()
    token = TextCipher([old]).encrypt("x")
    configured = settings.model_copy(
        update={"conversation_key": SecretStr(new), "conversation_old_keys": [SecretStr(old)]}
    )
    cipher = load_conversation_cipher(configured)
    assert cipher.decrypt(token) == "x"
    assert TextCipher([new]).decrypt(cipher.encrypt("y")) == "y"
    assert not conversation_key_path(settings).exists()
