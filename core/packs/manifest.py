"""The pack manifest (format v1): a pydantic model and its canonical bytes.

The manifest is the signed heart of a pack: it names the pack, prices it, lists its intents and
records the SHA-256 of every other file, so one Ed25519 signature over the canonical manifest
bytes covers the whole pack. See docs/pack-format.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from core.errors import ManifestInvalid, PlatformIntentNotAllowed, UnknownPlaceholder

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "signature.json"
DOCUMENTS_FILE = "documents.jsonl"
INDEX_DIR = "index"

PACK_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$"
INTENT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_]{0,79}$"
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
SHA256_PATTERN = r"^[0-9a-f]{64}$"
PLATFORM_PREFIX = "platform"

# The placeholders a reply template may name, written ``{{Website Name}}``: the set the built-in
# templates (support-basics, from the Bitext data) use, which a business profile fills in. A
# template naming anything else is refused (docs/pack-format.md, "Reply templates").
TEMPLATE_PLACEHOLDERS = frozenset(
    {
        "Account",
        "Billing",
        "Contact Us",
        "Customer Support",
        "Customer Support Availability",
        "Customer Support Email Address",
        "Customer Support Phone Number",
        "Footer",
        "Help",
        "Invoices",
        "Live Chat",
        "Order Details",
        "Order History",
        "Payment Methods",
        "Purchase ID Anonymized",
        "Support",
        "Swap Item",
        "Website Name",
    }
)
_PLACEHOLDER_OPEN = "{{"

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Fields added to format v1 after packs were already signed without them. Each is left out
    # of the dump while it holds its default, so a manifest that does not set it keeps the
    # exact canonical bytes (and so the signature) it had before the field existed.
    _added_field_defaults: ClassVar[dict[str, Any]] = {}

    @model_serializer(mode="wrap")
    def _omit_added_fields_at_default(
        self, handler: SerializerFunctionWrapHandler
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key, default in self._added_field_defaults.items():
            if key in data and data[key] == default:
                del data[key]
        return data


class Pricing(_Strict):
    """How a pack is sold. ``amount`` is in minor units (cents)."""

    model: Literal["free", "one_time", "monthly"]
    amount: int = Field(default=0, ge=0, le=100_000_000)
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")

    @model_validator(mode="after")
    def _amount_matches_model(self) -> Pricing:
        if self.model == "free" and self.amount != 0:
            raise ValueError(f"a free pack must have amount 0, got {self.amount}")
        if self.model != "free" and self.amount <= 0:
            raise ValueError(f"a {self.model} pack needs a positive amount, got {self.amount}")
        return self

    @property
    def is_free(self) -> bool:
        return self.model == "free"


class EmbeddingModelRef(_Strict):
    """The embedding model the pack's index was built with."""

    id: str = Field(min_length=1, max_length=200)
    dimension: int = Field(gt=0, le=8192)


class Intent(_Strict):
    """One thing a customer may want, with example utterances and an optional reply template.

    Its classifier label is ``<pack_id>:<name>``, or ``platform:<name>`` when ``platform`` is
    set (intents every deployment has, such as greeting or human_agent).
    """

    name: str = Field(pattern=INTENT_NAME_PATTERN)
    description: str = Field(default="", max_length=2000)
    examples: list[str] = Field(default_factory=list)
    reply_template: str | None = Field(default=None, max_length=20_000)
    platform: bool = False

    @field_validator("examples")
    @classmethod
    def _examples_not_blank(cls, examples: list[str]) -> list[str]:
        for position, example in enumerate(examples):
            if not example.strip():
                raise ValueError(f"example {position} is empty")
        return examples

    def label(self, pack_id: str) -> str:
        return f"{PLATFORM_PREFIX if self.platform else pack_id}:{self.name}"


class IndexSettings(_Strict):
    """Pack build settings for the search index."""

    kind: Literal["flat", "hnsw"] = "flat"
    chunk_tokens: int = Field(default=200, ge=16, le=512)
    chunk_overlap: int = Field(default=40, ge=0, le=256)
    # Rank a document lower the less its metadata["intent"] (one of the pack's intent names)
    # looks like what the question asks; 0 turns it off (core/retrieval/intent_lift.py).
    intent_lift: float = Field(default=0.0, ge=0.0, le=1.0)

    _added_field_defaults: ClassVar[dict[str, Any]] = {"intent_lift": 0.0}

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IndexSettings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be below chunk_tokens "
                f"({self.chunk_tokens})"
            )
        return self


class Manifest(_Strict):
    """A pack's manifest. ``files`` maps every other file's POSIX path to its SHA-256."""

    format_version: Literal[1] = 1
    id: str = Field(pattern=PACK_ID_PATTERN)
    name: str = Field(min_length=1, max_length=120)
    version: str = Field(pattern=SEMVER_PATTERN)
    domain: str = Field(min_length=1, max_length=60)
    description: str = Field(default="", max_length=5000)
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    publisher: str = Field(min_length=1, max_length=120)
    license: str = Field(min_length=1, max_length=200)
    attribution: str = Field(min_length=1, max_length=5000)
    pricing: Pricing
    embedding_model: EmbeddingModelRef
    intents: list[Intent] = Field(default_factory=list)
    disclaimer: str | None = Field(default=None, max_length=5000)
    # The pack's intents are everyday customer service (orders, refunds, passwords, ...) that
    # say nothing about a question's domain, so routing does not send a question to it alone.
    serves_generic_intents: bool = Field(default=False, strict=True)
    min_packdesk_version: str = Field(default="0.1.0", pattern=SEMVER_PATTERN)
    index: IndexSettings = IndexSettings()
    files: dict[str, str] = Field(default_factory=dict)

    _added_field_defaults: ClassVar[dict[str, Any]] = {"serves_generic_intents": False}

    @field_validator("intents")
    @classmethod
    def _unique_intents(cls, intents: list[Intent]) -> list[Intent]:
        seen: set[str] = set()
        for intent in intents:
            if intent.name in seen:
                raise ValueError(f"intent {intent.name!r} is listed twice")
            seen.add(intent.name)
        return intents

    @field_validator("files")
    @classmethod
    def _valid_file_table(cls, files: dict[str, str]) -> dict[str, str]:
        import re

        for path, digest in files.items():
            if path in (MANIFEST_FILE, SIGNATURE_FILE):
                raise ValueError(f"file table must not list {path!r}")
            if path.startswith("/") or ".." in path.split("/") or "\\" in path or not path:
                raise ValueError(f"file path {path!r} is not a relative POSIX path")
            if not re.match(SHA256_PATTERN, digest):
                raise ValueError(f"checksum of {path!r} is not a SHA-256 hex digest: {digest!r}")
        return files

    def intent_labels(self) -> list[str]:
        return [intent.label(self.id) for intent in self.intents]

    def canonical_bytes(self) -> bytes:
        """The exact bytes that are signed: sorted keys, no insignificant whitespace, UTF-8."""
        return canonical_json(self.model_dump(mode="json"))


def generic_pack_ids(manifests: Iterable[Manifest]) -> frozenset[str]:
    """Ids of the packs whose manifest sets ``serves_generic_intents`` (e.g. support-basics)."""
    return frozenset(manifest.id for manifest in manifests if manifest.serves_generic_intents)


def check_templates(manifest: Manifest, *, source: str = MANIFEST_FILE) -> None:
    """Every ``{{...}}`` in every reply template names a placeholder of
    :data:`TEMPLATE_PLACEHOLDERS`.

    Raises:
        UnknownPlaceholder: naming the intent, the placeholder and the allowed set.
    """
    for intent in manifest.intents:
        template = intent.reply_template or ""
        start = template.find(_PLACEHOLDER_OPEN)
        while start >= 0:
            end = template.find("}}", start + 2)
            name = template[start + 2 : end] if end >= 0 else None
            if name is None or name not in TEMPLATE_PLACEHOLDERS:
                shown = template[start : start + 60] if name is None else f"{{{{{name}}}}}"
                raise UnknownPlaceholder(
                    f"{source}: intents.{intent.name}.reply_template: unknown placeholder "
                    f"{shown!r}; expected one of "
                    + ", ".join(f"{{{{{known}}}}}" for known in sorted(TEMPLATE_PLACEHOLDERS))
                )
            start = template.find(_PLACEHOLDER_OPEN, end + 2)


def check_publishable(
    manifest: Manifest, *, source: str = MANIFEST_FILE, platform_allowed: bool = False
) -> None:
    """What a pack uploaded by a publisher may not do, beyond being a valid manifest.

    ``platform:*`` labels (greeting, human_agent, complaint, ...) answer every customer who
    activates the pack, so only packs trusted for them may declare them: the installation's own,
    and those the operator allows (``platform_allowed``, from ``PACKDESK_PLATFORM_PACK_IDS``).
    Templates name only known placeholders.

    Raises:
        PlatformIntentNotAllowed: an intent sets ``platform``, or the pack id is ``platform``
            (its labels would read ``platform:<name>``).
        UnknownPlaceholder: see :func:`check_templates`.
    """
    if manifest.id == PLATFORM_PREFIX:
        raise PlatformIntentNotAllowed(
            f"{source}: id: {manifest.id!r} is reserved (its intent labels would be platform "
            "intents)"
        )
    claimed = [intent.name for intent in manifest.intents if intent.platform]
    if claimed and not platform_allowed:
        raise PlatformIntentNotAllowed(
            f"{source}: intents {', '.join(repr(name) for name in claimed)} claim platform "
            "intents (platform: true); an uploaded pack may only declare its own intents"
        )
    check_templates(manifest, source=source)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def parse_manifest(raw: bytes | str | dict[str, Any], *, source: str = MANIFEST_FILE) -> Manifest:
    """Validate manifest JSON (bytes, text or an already-parsed dict).

    Raises:
        ManifestInvalid: naming each bad field, its value and what was expected.
    """
    if isinstance(raw, dict):
        data = raw
    else:
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            data = json.loads(text)
        except UnicodeDecodeError as exc:
            raise ManifestInvalid(
                f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ManifestInvalid(
                f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from exc
    if not isinstance(data, dict):
        raise ManifestInvalid(f"{source}: must be a JSON object, got {type(data).__name__}")
    try:
        return Manifest.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ManifestInvalid(f"{source}: {describe_validation_error(exc)}") from exc


def load_manifest(path: Path) -> Manifest:
    return parse_manifest(path.read_bytes(), source=str(path))


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """One readable line per problem: ``field.path: message (got 'value')``."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        bad = error.get("input")
        shown = repr(bad) if not isinstance(bad, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        problems.append(f"{location}: {error['msg']} (got {shown})")
    return "; ".join(problems)
