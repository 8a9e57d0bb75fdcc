"""The one exception tree of PackDesk.

Every error the engine raises on purpose derives from :class:`PackDeskError`, carries a stable
machine-readable ``code`` (used as the RFC 9457 ``type`` suffix by the HTTP layer) and a human
message that names the bad value. Adapters wrap third-party exceptions into this tree
(``raise PackFormatError(...) from exc``) so callers never see a library's own error types.

    PackDeskError
    ├── ConfigError                       bad settings, missing model, unusable data dir
    ├── PluginError                       a plugin failed to load or a hook misbehaved
    ├── ValidationError                   bad input at a boundary (query, training row, ...)
    │   └── KeyProofInvalid               a publisher key registered without a valid proof
    ├── PackError
    │   ├── PackNotFound
    │   ├── PackFormatError               malformed manifest, documents or archive
    │   │   ├── ManifestInvalid
    │   │   │   ├── ManifestTooLarge      manifest.json or signature.json over its size bound
    │   │   │   ├── UnknownPlaceholder    a reply template names a placeholder outside the set
    │   │   │   └── PlatformIntentNotAllowed  an uploaded pack claims platform:* intents
    │   │   ├── DocumentInvalid           a documents.jsonl row fails validation or repeats an id
    │   │   ├── TextNotUtf8               a text file (.json/.jsonl/.txt/.md) is not UTF-8
    │   │   ├── MalformedJson             a .json file or a .jsonl line does not parse
    │   │   ├── JsonTooLarge              a .json file or one .jsonl line over its size bound
    │   │   ├── ArchiveCorrupt            not a gzip-compressed tar, or truncated
    │   │   ├── SigningKeyError           unreadable or wrong-type key file
    │   │   ├── PackLoadFailed            verified, but its index cannot be loaded for search
    │   │   └── UnsafeArchive             hostile archive content (traversal, links, bombs, ...)
    │   │       ├── ArchivePathTraversal
    │   │       ├── ArchiveAbsolutePath
    │   │       ├── ArchivePathTooDeep    too many path components, or a name too long
    │   │       ├── ArchiveNameNotPortable  outside [A-Za-z0-9._-] (look-alikes, unicode forms)
    │   │       ├── ArchiveSymlink
    │   │       ├── ArchiveHardLink
    │   │       ├── ArchiveSpecialFile    device, fifo or any other non-regular entry
    │   │       ├── ArchiveDuplicateEntry
    │   │       │   └── ArchiveNameCollision  two names equal but for case
    │   │       ├── ArchiveTooLarge
    │   │       │   ├── ArchivePackedTooLarge
    │   │       │   ├── ArchiveEntryTooLarge  one entry over the per-entry bound
    │   │       │   └── ArchiveUnpackedTooLarge
    │   │       │       └── ArchiveBomb   decompresses to far more than its compressed size
    │   │       └── ArchiveTooManyFiles
    │   ├── PackVerificationError          signature or checksum checks failed
    │   │   ├── SignatureMissing
    │   │   ├── UnknownSigningKey
    │   │   ├── SignatureInvalid           manifest changed after signing
    │   │   ├── ChecksumMismatch           a file's bytes changed
    │   │   └── FileSetMismatch            a file was added or removed
    │   └── IndexMismatch                  index built with another model or dimension
    ├── IntentModelError                   model dir unusable or label map does not match packs
    ├── TrainingDataError                  bad training rows (names the row)
    ├── LedgerError
    │   ├── AuthenticationError            missing, unknown or revoked API key
    │   ├── PermissionDenied               wrong scope
    │   │   └── OriginNotAllowed           a widget key used from an origin it does not allow
    │   ├── EntitlementRequired            pack content needs a purchase/activation
    │   ├── Conflict                       duplicate version, already exists
    │   │   └── PayoutsNotEnabled          a paid pack's publisher cannot receive payouts yet
    │   └── NotFound
    ├── GeneratorError                     the optional answer generator failed or timed out
    ├── BatcherClosed                      a model batcher is shut down (server stopping)
    ├── ServiceUnavailable                 a shared dependency (database, Redis, the shared
    │                                      store) is briefly unreachable: retry
    ├── BillingError
    │   ├── WebhookSignatureError          missing, malformed, wrong-secret, tampered, stale
    │   └── BillingProviderUnavailable
    └── PrivacyError
        └── DecryptionError                stored text tampered or encrypted with an unknown key
"""

from __future__ import annotations


class PackDeskError(Exception):
    """Base of every deliberate PackDesk error."""

    code = "packdesk-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(PackDeskError):
    code = "config-error"


class PluginError(PackDeskError):
    code = "plugin-error"


class ValidationError(PackDeskError):
    code = "invalid-input"


class KeyProofInvalid(ValidationError):
    """A publisher key registration whose proof of possession is missing or does not verify."""

    code = "key-proof-invalid"


# --- packs -----------------------------------------------------------------------------------
class PackError(PackDeskError):
    code = "pack-error"


class PackNotFound(PackError):
    code = "pack-not-found"


class PackFormatError(PackError):
    code = "pack-format-invalid"


class ManifestInvalid(PackFormatError):
    code = "manifest-invalid"


class ManifestTooLarge(ManifestInvalid):
    code = "manifest-too-large"


class UnknownPlaceholder(ManifestInvalid):
    code = "template-placeholder-unknown"


class PlatformIntentNotAllowed(ManifestInvalid):
    code = "platform-intent-not-allowed"


class UnsafeArchive(PackFormatError):
    code = "archive-unsafe"


class ArchiveTooLarge(UnsafeArchive):
    code = "archive-too-large"


class ArchiveTooManyFiles(UnsafeArchive):
    code = "archive-too-many-files"


class ArchivePackedTooLarge(ArchiveTooLarge):
    code = "archive-packed-too-large"


class ArchiveEntryTooLarge(ArchiveTooLarge):
    code = "archive-entry-too-large"


class ArchiveUnpackedTooLarge(ArchiveTooLarge):
    code = "archive-unpacked-too-large"


class ArchiveBomb(ArchiveUnpackedTooLarge):
    code = "archive-compression-bomb"


class ArchivePathTraversal(UnsafeArchive):
    code = "archive-path-traversal"


class ArchiveAbsolutePath(UnsafeArchive):
    code = "archive-absolute-path"


class ArchivePathTooDeep(UnsafeArchive):
    code = "archive-path-too-deep"


class ArchiveNameNotPortable(UnsafeArchive):
    code = "archive-name-not-portable"


class ArchiveSymlink(UnsafeArchive):
    code = "archive-symlink"


class ArchiveHardLink(UnsafeArchive):
    code = "archive-hard-link"


class ArchiveSpecialFile(UnsafeArchive):
    code = "archive-special-file"


class ArchiveDuplicateEntry(UnsafeArchive):
    code = "archive-duplicate-entry"


class ArchiveNameCollision(ArchiveDuplicateEntry):
    code = "archive-name-collision"


class ArchiveCorrupt(PackFormatError):
    code = "archive-corrupt"


class DocumentInvalid(PackFormatError):
    code = "document-invalid"


class TextNotUtf8(PackFormatError):
    code = "text-not-utf8"


class MalformedJson(PackFormatError):
    code = "json-malformed"


class JsonTooLarge(PackFormatError):
    code = "json-too-large"


class SigningKeyError(PackFormatError):
    code = "signing-key-invalid"


class PackLoadFailed(PackFormatError):
    code = "pack-load-failed"


class PackVerificationError(PackError):
    code = "pack-verification-failed"


class SignatureMissing(PackVerificationError):
    code = "signature-missing"


class UnknownSigningKey(PackVerificationError):
    code = "signing-key-unknown"


class SignatureInvalid(PackVerificationError):
    code = "signature-invalid"


class ChecksumMismatch(PackVerificationError):
    code = "checksum-mismatch"


class FileSetMismatch(PackVerificationError):
    code = "file-set-mismatch"


class IndexMismatch(PackError):
    code = "index-model-mismatch"


# --- intents ---------------------------------------------------------------------------------
class IntentModelError(PackDeskError):
    code = "intent-model-invalid"


class TrainingDataError(PackDeskError):
    code = "training-data-invalid"


# --- ledger ----------------------------------------------------------------------------------
class LedgerError(PackDeskError):
    code = "ledger-error"


class AuthenticationError(LedgerError):
    code = "unauthenticated"


class PermissionDenied(LedgerError):
    code = "forbidden"


class OriginNotAllowed(PermissionDenied):
    code = "origin-not-allowed"


class EntitlementRequired(LedgerError):
    code = "entitlement-required"


class Conflict(LedgerError):
    code = "conflict"


class NotFound(LedgerError):
    code = "not-found"


class PayoutsNotEnabled(Conflict):
    """A paid third-party pack cannot be approved or sold: its publisher cannot receive payouts."""

    code = "payouts-not-enabled"


# --- assistant -----------------------------------------------------------------------------
class GeneratorError(PackDeskError):
    code = "generator-failed"


# --- performance -----------------------------------------------------------------------------
class BatcherClosed(PackDeskError):
    code = "service-shutting-down"


class ServiceUnavailable(PackDeskError):
    """PostgreSQL, Redis or the shared store did not answer: nothing was changed, retry."""

    code = "service-unavailable"


# --- billing ---------------------------------------------------------------------------------
class BillingError(PackDeskError):
    code = "billing-error"


class WebhookSignatureError(BillingError):
    code = "webhook-signature-invalid"


class BillingProviderUnavailable(BillingError):
    code = "billing-provider-unavailable"


# --- privacy ---------------------------------------------------------------------------------
class PrivacyError(PackDeskError):
    code = "privacy-error"


class DecryptionError(PrivacyError):
    code = "decryption-failed"
