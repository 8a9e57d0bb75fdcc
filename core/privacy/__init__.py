"""Privacy: redaction of personal data and encryption at rest.

Cheap to import: ``phonenumbers`` metadata loads on first use.
"""

from core.privacy.crypto import TextCipher, generate_key, load_conversation_cipher
from core.privacy.redaction import Finding, RedactionResult, Redactor

__all__ = [
    "Finding",
    "RedactionResult",
    "Redactor",
    "TextCipher",
    "generate_key",
    "load_conversation_cipher",
]
