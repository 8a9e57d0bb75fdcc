"""Encryption at rest for conversation text: Fernet tokens under a rotatable key list.

``TextCipher`` wraps ``cryptography``'s ``MultiFernet``: the first key encrypts, every key
decrypts, and ``rotate`` re-encrypts a token under the first key. Fernet is AES-128-CBC with an
HMAC-SHA256 tag, so a tampered token or one made with an unknown key fails loudly instead of
decrypting to garbage.

Key rotation (docs/privacy.md): put a new key in ``PACKDESK_CONVERSATION_KEY``, move the old
one to ``PACKDESK_CONVERSATION_OLD_KEYS``, run the re-encrypt job (``rotate`` on every stored
token), then drop the old key.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import ConfigError, DecryptionError
from core.settings import Settings

KEY_FILE_NAME = "conversations.key"


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 text, 32 bytes of entropy)."""
    return Fernet.generate_key().decode("ascii")


class TextCipher:
    """Encrypts and decrypts text; the first key is current, the others only decrypt.

    Args:
        keys: Fernet keys (url-safe base64, as text or bytes), current key first.

    Raises:
        ConfigError: no key, or a key that is not a valid Fernet key (reported by position,
            never by value: keys are secrets).
    """

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ConfigError("TextCipher needs at least one key")
        fernets: list[Fernet] = []
        for position, key in enumerate(keys):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"conversation key #{position} is not a Fernet key "
                    "(expected 32 url-safe base64-encoded bytes)"
                ) from exc
        self._multi = MultiFernet(fernets)

    def encrypt(self, text: str) -> str:
        """Encrypt ``text`` (UTF-8) under the current key; returns an ASCII token."""
        return self._multi.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | bytes) -> str:
        """Decrypt a token made by :meth:`encrypt` with any configured key.

        Raises:
            DecryptionError: the token was tampered with or made with a key not configured.
        """
        raw = token.encode("ascii") if isinstance(token, str) else token
        try:
            return self._multi.decrypt(raw).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionError(
                f"cannot decrypt token starting {raw[:12]!r}: tampered, or encrypted with a key "
                "that is in neither conversation_key nor conversation_old_keys"
            ) from exc

    def rotate(self, token: str | bytes) -> str:
        """Re-encrypt ``token`` under the current key (the re-encrypt job calls this per row).

        Raises:
            DecryptionError: as for :meth:`decrypt`.
        """
        raw = token.encode("ascii") if isinstance(token, str) else token
        try:
            return self._multi.rotate(raw).decode("ascii")
        except InvalidToken as exc:
            raise DecryptionError(
                f"cannot rotate token starting {raw[:12]!r}: tampered or unknown key"
            ) from exc


def conversation_key_path(settings: Settings) -> Path:
    """Where the generated key lives when ``conversation_key`` is not set."""
    return settings.keys_dir / KEY_FILE_NAME


def _load_or_create_key_file(path: Path) -> str:
    """Read the key file, creating it (mode 0600, atomically) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".conversations-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(generate_key() + "\n")
            # link() fails if another process won the race; then both use the winner's key.
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"key file {path} has mode {oct(mode)}; it must not be readable by group or others "
            "(chmod 600)"
        )
    return path.read_text(encoding="ascii").strip()


def load_conversation_cipher(settings: Settings) -> TextCipher:
    """Build the cipher for conversation text from settings.

    ``conversation_key`` is the current key; when unset, a key is generated once and kept at
    ``<data_dir>/keys/conversations.key`` (mode 0600). ``conversation_old_keys`` still decrypt.

    Raises:
        ConfigError: a key is malformed, or the key file is readable by others.
    """
    if settings.conversation_key is not None:
        current = settings.conversation_key.get_secret_value()
    else:
        current = _load_or_create_key_file(conversation_key_path(settings))
    old = [k.get_secret_value() for k in settings.conversation_old_keys]
    return TextCipher([current, *old])
