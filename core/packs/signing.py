"""Ed25519 keys, signatures and the trust store of publisher keys.

A key's id is the first 16 hex characters of the SHA-256 of its raw 32-byte public key. Private
keys are stored as PKCS8 PEM (file mode 0600), public keys as SubjectPublicKeyInfo PEM ``.pub``
files. A trust store is one ``.pub`` file or a directory of them.

A publisher proves it holds the private key of a public key it registers by signing
:func:`key_registration_challenge` of its own account id: the server recomputes the challenge, so
it keeps no state, and a proof made for one account does not register the key for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from core.errors import ConfigError, Conflict, SignatureInvalid, SigningKeyError

ALGORITHM = "ed25519"
KEY_ID_HEX_CHARS = 16
PUBLIC_KEY_SUFFIX = ".pub"
PRIVATE_KEY_SUFFIX = ".key"


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """First 16 hex chars of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX_CHARS]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_keypair(out_dir: Path, name: str = "packdesk") -> tuple[Path, Path, str]:
    """Write a new Ed25519 key pair as ``<name>.key`` (0600) and ``<name>.pub`` in ``out_dir``.

    Returns:
        (private key path, public key path, key id).
    Raises:
        Conflict: either file already exists (keys are never overwritten).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path = out_dir / f"{name}{PRIVATE_KEY_SUFFIX}"
    public_path = out_dir / f"{name}{PUBLIC_KEY_SUFFIX}"
    for path in (private_path, public_path):
        if path.exists():
            raise Conflict(f"key file {path} already exists; refusing to overwrite it")
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create with 0600 from the start (O_EXCL) so the secret is never briefly world-readable.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_key = private_key.public_key()
    public_path.write_bytes(public_key_pem(public_key))
    return private_path, public_path, key_id_of(public_key)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PKCS8 PEM Ed25519 private key.

    Raises:
        SigningKeyError: the file is missing, unreadable or not an Ed25519 private key.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read private key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, expected an Ed25519 key")
    return key


def public_key_from_pem_or_raw(data: bytes | str) -> Ed25519PublicKey:
    """Parse a public key given as PEM, raw 32 bytes, or base64/hex of the raw 32 bytes.

    Meant for keys arriving from outside (files, HTTP uploads).

    Raises:
        SigningKeyError: none of the accepted encodings yields an Ed25519 public key.
    """
    raw_bytes = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if isinstance(data, bytes | bytearray) and len(raw_bytes) == 32:
        return Ed25519PublicKey.from_public_bytes(raw_bytes)  # a PEM is never 32 bytes
    stripped = raw_bytes.strip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(stripped)
        except ValueError as exc:
            raise SigningKeyError(f"not a PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"PEM holds a {type(key).__name__}, expected an Ed25519 key")
        return key
    candidate: bytes | None = None
    if len(stripped) == 64:
        try:
            candidate = bytes.fromhex(stripped.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            candidate = None
    if candidate is None:
        try:
            decoded = base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) == 32:
            candidate = decoded
    if candidate is None:
        raise SigningKeyError(
            f"not an Ed25519 public key: expected PEM, 32 raw bytes, base64 or hex of them "
            f"(got {len(raw_bytes)} bytes)"
        )
    return Ed25519PublicKey.from_public_bytes(candidate)


KEY_REGISTRATION_CONTEXT = b"packdesk publisher key registration\n"


def key_registration_challenge(account_id: str) -> bytes:
    """The bytes a publisher signs to register a key: a fixed context line, then its account id.

    The context line keeps the signature from meaning anything else (a manifest is JSON, never
    starts with it); the account id binds it to the one account that may present it.
    """
    return KEY_REGISTRATION_CONTEXT + account_id.encode("utf-8")


def prove_key_possession(private_key: Ed25519PrivateKey, account_id: str) -> str:
    """The base64 signature of :func:`key_registration_challenge` that registration requires."""
    signature = private_key.sign(key_registration_challenge(account_id))
    return base64.b64encode(signature).decode("ascii")


def sign(private_key: Ed25519PrivateKey, data: bytes) -> dict[str, str]:
    """The ``signature.json`` document for ``data`` (the canonical manifest bytes)."""
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id_of(private_key.public_key()),
        "signature": base64.b64encode(private_key.sign(data)).decode("ascii"),
    }


def parse_signature(document: Any, *, source: str) -> tuple[str, bytes]:
    """Validate a ``signature.json`` document; return ``(key_id, signature bytes)``.

    Raises:
        SignatureInvalid: wrong algorithm, missing fields or a signature that is not base64.
    """
    if not isinstance(document, dict):
        raise SignatureInvalid(f"{source}: must be a JSON object, got {type(document).__name__}")
    algorithm = document.get("algorithm")
    if algorithm != ALGORITHM:
        raise SignatureInvalid(f"{source}: algorithm must be {ALGORITHM!r}, got {algorithm!r}")
    key_id = document.get("key_id")
    if not isinstance(key_id, str) or not key_id:
        raise SignatureInvalid(f"{source}: key_id must be a non-empty string, got {key_id!r}")
    encoded = document.get("signature")
    try:
        signature = base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"{source}: signature is not base64: {encoded!r:.60}") from exc
    if len(signature) != 64:
        raise SignatureInvalid(f"{source}: an Ed25519 signature is 64 bytes, got {len(signature)}")
    return key_id, signature


def is_valid_signature(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


class TrustStore:
    """The publisher public keys a verifier accepts, by key id."""

    def __init__(self) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}

    @classmethod
    def from_keys(cls, keys: Iterable[Ed25519PublicKey]) -> TrustStore:
        store = cls()
        for key in keys:
            store.add(key)
        return store

    @classmethod
    def load(cls, path_or_dir: Path) -> TrustStore:
        """Read one public key file, or every ``*.pub`` file of a directory.

        Raises:
            ConfigError: the path does not exist.
            SigningKeyError: a key file does not hold an Ed25519 public key (names the file).
        """
        path = Path(path_or_dir)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix == PUBLIC_KEY_SUFFIX)
        elif path.is_file():
            files = [path]
        else:
            raise ConfigError(f"trust store {path} does not exist")
        store = cls()
        for file in files:
            try:
                store.add(public_key_from_pem_or_raw(file.read_bytes()))
            except SigningKeyError as exc:
                raise SigningKeyError(f"{file}: {exc.message}") from exc
        return store

    def add(self, public_key: Ed25519PublicKey) -> str:
        """Trust ``public_key``; returns its key id."""
        key_id = key_id_of(public_key)
        self._keys[key_id] = public_key
        return key_id

    def get(self, key_id: str) -> Ed25519PublicKey | None:
        return self._keys.get(key_id)

    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self.key_ids())

    def __len__(self) -> int:
        return len(self._keys)
